"""GET /v1/experiments[/{id}]: each experiment's variants, shares paid with intervals, verdicts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from engine.api.auth import ApiToken
from engine.api.deps import get_state, moment, require
from engine.api.errors import ApiError
from engine.api.models import ErrorBody
from engine.api.state import ApiState
from engine.experiments.readout import UnknownExperiment, experiment_ids, read_experiment

router = APIRouter(tags=["experiments"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 403, 404, 422)
}
NowQuery = Annotated[
    str | None, Query(description="read as of this ISO 8601 time (default: now)", max_length=40)
]


@router.get("/v1/experiments", responses=ERRORS)
def experiments(
    state: Annotated[ApiState, Depends(get_state)],
    _token: Annotated[ApiToken, Depends(require("preview"))],
    now: NowQuery = None,
) -> JSONResponse:
    """Every experiment in the rules, and those only the messages still name, read at `now`."""
    spec = state.rulebook.current.spec
    at = moment(now, spec.settings.timezone)
    ids = experiment_ids(state.engine, spec.experiments)
    results = [read_experiment(state.engine, i, at, spec.experiments) for i in ids]
    return JSONResponse({"experiments": [r.to_json() for r in results]})


@router.get("/v1/experiments/{experiment_id}", responses=ERRORS)
def experiment(
    experiment_id: str,
    state: Annotated[ApiState, Depends(get_state)],
    _token: Annotated[ApiToken, Depends(require("preview"))],
    now: NowQuery = None,
) -> JSONResponse:
    """One experiment: per variant the debtors, share paid within the window of the first
    message (95% Wilson interval), Kaplan-Meier time to pay; each variant against the control
    (Newcombe interval); the sample still needed before the fixed horizon allows a verdict."""
    spec = state.rulebook.current.spec
    at = moment(now, spec.settings.timezone)
    try:
        result = read_experiment(state.engine, experiment_id, at, spec.experiments)
    except UnknownExperiment as exc:
        raise ApiError(404, "unknown_experiment", str(exc)) from exc
    return JSONResponse(result.to_json())
