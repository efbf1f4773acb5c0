"""GET /v1/tasks, POST /v1/tasks/{id}/close and POST /v1/replies: the credit team's work list,
and inbound replies to our messages (docs/self-service.md)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from engine.api.auth import ApiToken
from engine.api.deps import get_state, require
from engine.api.errors import ApiError
from engine.api.intake import take_reply
from engine.api.models import ErrorBody
from engine.api.pages.debtor import clock_now
from engine.api.state import ApiState
from engine.daemon import dialogue
from engine.store import dialogue as store

router = APIRouter(tags=["tasks"])
State = Annotated[ApiState, Depends(get_state)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 403, 404, 409, 422)
}


def task_json(row: dict[str, Any], history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A task as the API and `payjourney tasks --json` show it."""
    out = {
        k: (v.isoformat() if isinstance(v, dt.datetime) else v)
        for k, v in row.items()
        if k not in ("event_id",)
    }
    if history is not None:
        out["history"] = [{**h, "at": h["at"].isoformat()} for h in history]
    return out


@router.get("/v1/tasks", responses=_ERRORS)
def list_tasks(
    state: State,
    _token: Annotated[ApiToken, Depends(require("preview"))],
    status: Annotated[Literal["open", "closed", "all"], Query()] = "open",
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """Disputes, questions, replies and arrangements awaiting a person, oldest first, each with
    the debtor's latest messages and events beside it."""
    rows = store.tasks(
        state.engine, status=None if status == "all" else status, customer_id=customer_id
    )
    return {
        "tasks": [task_json(r, store.history(state.engine, str(r["customer_id"]))) for r in rows]
    }


class CloseRequest(BaseModel):
    """How a person closes a task; an arrangement needs `approve`."""

    approve: bool | None = None
    note: str | None = Field(default=None, max_length=2000)


@router.post("/v1/tasks/{task_id}/close", responses=_ERRORS)
def close_task(
    request: Request,
    task_id: int,
    body: CloseRequest,
    state: State,
    token: Annotated[ApiToken, Depends(require("events"))],
) -> dict[str, Any]:
    """Close a task: a reply's pause ends, a dispute is resolved, an arrangement is put in force
    or refused; the journey is re-decided at once."""
    now = clock_now(request)
    try:
        closed = dialogue.close(
            state.engine,
            state.rulebook.current,
            task_id,
            now=now,
            by=f"api:{token.name}",
            note=body.note,
            approve=body.approve,
        )
    except LookupError as exc:
        raise ApiError(404, "unknown_task", str(exc)) from None
    except ValueError as exc:
        raise ApiError(409, "task_not_open", str(exc)) from None
    return task_json(closed)


class ReplyRequest(BaseModel):
    """An inbound reply as a mail or messaging provider hands it over."""

    id: str = Field(min_length=1, max_length=64, description="the provider's id; idempotent")
    channel: Literal["email", "sms", "whatsapp"]
    sender: str | None = Field(default=None, max_length=200, description="address or number")
    in_reply_to: str | None = Field(default=None, max_length=300, description="email header")
    text: str = Field(max_length=10000)
    received_at: dt.datetime | None = None


@router.post("/v1/replies", status_code=201, responses=_ERRORS)
def post_reply(
    request: Request,
    body: ReplyRequest,
    state: State,
    _token: Annotated[ApiToken, Depends(require("events"))],
) -> dict[str, Any]:
    """A debtor answered one of our messages: matched to it (the email's In-Reply-To, else the
    latest message to the sender on that channel), recorded as a `replied` event; the debtor's
    automatic steps pause and a task holds the text. 404 when no message matches."""
    now = clock_now(request)
    taken = take_reply(
        state.engine,
        state.rulebook.current,
        reply_id=body.id,
        channel=body.channel,
        sender=body.sender,
        in_reply_to=body.in_reply_to,
        text=body.text,
        received_at=body.received_at or now,
        now=now,
    )
    if taken is None:
        raise ApiError(
            404,
            "no_matching_message",
            "no message of ours matches this reply (In-Reply-To or sender on that channel); "
            "record it as a task by hand or check the sender address",
        )
    return {
        "customer_id": taken.customer_id,
        "message_id": taken.message_id,
        "task_id": taken.task_id,
    }
