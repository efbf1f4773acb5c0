"""POST /v1/events: payments, promises, disputes, delivery and reaction events, once per id."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from engine.api.auth import ApiToken
from engine.api.deps import get_state, require
from engine.api.errors import ApiError
from engine.api.intake import Taken, take_event
from engine.api.models import ErrorBody, EventAnswer, EventRequest
from engine.api.state import ApiState
from engine.decision.decide import decide
from engine.store.facts_sql import fact_sheet_for
from engine.store.rows import EventRow

router = APIRouter(tags=["events"])


def event_row(fields: dict[str, Any]) -> EventRow:
    """The store's event row, or 422 naming each bad field."""
    try:
        return EventRow.model_validate(fields)
    except ValidationError as exc:
        raise ApiError(
            422,
            "invalid_event",
            "the event is invalid; fix the fields named in details",
            [
                {
                    "field": ".".join(str(p) for p in err["loc"]),
                    "problem": err["msg"].removeprefix("Value error, "),
                }
                for err in exc.errors()
            ],
        ) from None


def answer(state: ApiState, taken: Taken, now: dt.datetime) -> EventAnswer:
    event = taken.event
    occurred = event["occurred_at"]
    if isinstance(occurred, dt.datetime) and occurred.tzinfo is None:
        occurred = occurred.replace(tzinfo=dt.UTC)
    facts = fact_sheet_for(state.engine, event["customer_id"], now)
    decision = decide(state.rulebook.current, facts, now)
    return EventAnswer(
        id=event["id"],
        customer_id=event["customer_id"],
        kind=event["kind"],
        occurred_at=occurred.isoformat() if isinstance(occurred, dt.datetime) else str(occurred),
        recorded=taken.recorded,
        next_action=decision.action.value,
    )


@router.post(
    "/v1/events",
    response_model=EventAnswer,
    status_code=201,
    responses={
        200: {"model": EventAnswer},
        409: {"model": ErrorBody},
        **{code: {"model": ErrorBody} for code in (401, 403, 404, 413, 422, 503)},
    },
)
def post_event(
    body: EventRequest,
    state: Annotated[ApiState, Depends(get_state)],
    _token: Annotated[ApiToken, Depends(require("events"))],
) -> JSONResponse:
    """Record one event; 201 the first time, 200 with the first version when the id is known
    (nothing is doubled), 409 when a known id comes with different content."""
    now = dt.datetime.now(dt.UTC)
    row = event_row(body.model_dump())
    taken = take_event(state.engine, row, now, state.rulebook.current)
    if taken.conflict:
        raise ApiError(
            409,
            "event_id_conflict",
            f"event {row.id!r} is already recorded with other content; "
            "an event id names one event: send a new id for a new event",
        )
    result = answer(state, taken, now)
    return JSONResponse(result.model_dump(), status_code=201 if taken.recorded else 200)
