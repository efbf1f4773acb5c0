"""GET /v1/health (no token) and GET /metrics (the `metrics` scope)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from engine.api.auth import ApiToken
from engine.api.deps import get_state, require
from engine.api.models import ErrorBody, Health
from engine.api.state import ApiState

router = APIRouter()


@router.get(
    "/v1/health",
    response_model=Health,
    responses={503: {"model": Health}},
    tags=["operations"],
)
def health(state: Annotated[ApiState, Depends(get_state)]) -> JSONResponse:
    """Whether the API can reach its database, and the ruleset version in force."""
    try:
        with state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        database, status = "ok", 200
    except SQLAlchemyError:
        database, status = "unreachable", 503
    body = Health(
        status="ok" if status == 200 else "degraded",
        database=database,
        ruleset_version=state.rulebook.current.version,
    )
    return JSONResponse(body.model_dump(), status_code=status)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}},
        401: {"model": ErrorBody},
        403: {"model": ErrorBody},
    },
    tags=["operations"],
)
def metrics(
    state: Annotated[ApiState, Depends(get_state)],
    _token: Annotated[ApiToken, Depends(require("metrics"))],
) -> Response:
    """Requests and latency by route template, in the Prometheus text format."""
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
