"""GET /v1/customers/{id}/next-message: the stored customer's next message, with its trace."""

from __future__ import annotations

import functools
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response

from engine.api.auth import ApiToken
from engine.api.deps import get_state, moment, require
from engine.api.errors import ApiError
from engine.api.limits import in_turn
from engine.api.models import ErrorBody, PreviewAnswer
from engine.api.state import ApiState
from engine.preview.stored import preview_stored

router = APIRouter(tags=["preview"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 403, 404, 413, 422, 503)
}
NowQuery = Annotated[
    str | None,
    Query(description="decide as of this ISO 8601 time (default: now)", max_length=40),
]


def letter_url(customer_id: str, now: str | None) -> str:
    """Where the letter PDF of a stored customer's preview is served."""
    url = f"/v1/customers/{quote(customer_id, safe='')}/next-message/letter.pdf"
    return url + (f"?now={quote(now, safe='')}" if now else "")


@router.get(
    "/v1/customers/{customer_id}/next-message",
    response_model=PreviewAnswer,
    response_model_exclude_unset=True,
    responses=ERRORS,
)
async def next_message(
    customer_id: str,
    state: Annotated[ApiState, Depends(get_state)],
    _token: Annotated[ApiToken, Depends(require("preview"))],
    now: NowQuery = None,
) -> JSONResponse:
    """The decision for the stored customer, rendered, with trace, payment options (links, the
    EPC QR as a data URI), send_at in the customer's time zone and the ruleset version."""
    at = moment(now, state.rulebook.current.spec.settings.timezone)
    found = await in_turn(
        functools.partial(
            preview_stored,
            state.engine,
            state.rulebook.current,
            customer_id,
            at,
            state.preview,
            letter_pdf=False,
        ),
        state.preview_turns,
    )
    answer = found.answer
    message = answer.get("message")
    if isinstance(message, dict) and message.get("channel") == "letter":
        # built on its own request: a PDF takes longer to make than the rest of the answer
        message["pdf"] = letter_url(customer_id, now or at.isoformat())
    return JSONResponse(answer)


@router.get(
    "/v1/customers/{customer_id}/next-message/letter.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}, **ERRORS},
)
def next_letter(
    customer_id: str,
    state: Annotated[ApiState, Depends(get_state)],
    _token: Annotated[ApiToken, Depends(require("preview"))],
    now: NowQuery = None,
) -> Response:
    """The letter PDF of the stored customer's next message (404 when it is not a letter)."""
    return Response(
        stored_letter(state, customer_id, now),
        media_type="application/pdf",
        headers={"Content-Disposition": 'inline; filename="letter.pdf"'},
    )


def stored_letter(state: ApiState, customer_id: str, now: str | None) -> bytes:
    """The PDF of the stored customer's next message as of `now`; 404 when it is no letter.
    The API's letter URL and the staff page's both serve it."""
    found = preview_stored(
        state.engine,
        state.rulebook.current,
        customer_id,
        moment(now, state.rulebook.current.spec.settings.timezone),
        state.preview,
    )
    if found.pdf is None:
        raise ApiError(404, "no_letter", f"the next message of {customer_id!r} is not a letter")
    return found.pdf
