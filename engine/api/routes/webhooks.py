"""POST /v1/webhooks/{provider}: provider callbacks, verified, turned into events once each."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from engine.api.deps import get_state
from engine.api.errors import ApiError
from engine.api.intake import take_event
from engine.api.models import ErrorBody
from engine.api.state import ApiState
from engine.api.webhooks import ForgedWebhook, UnusableWebhook, WebhookBooking, WebhookRequest

router = APIRouter(tags=["webhooks"])


class WebhookAnswer(BaseModel):
    provider: str
    events: int
    recorded: int


@router.post(
    "/v1/webhooks/{provider}",
    response_model=WebhookAnswer,
    responses={code: {"model": ErrorBody} for code in (401, 404, 413, 422, 502, 503)},
)
async def webhook(
    provider: str,
    request: Request,
    state: Annotated[ApiState, Depends(get_state)],
) -> dict[str, Any]:
    """A provider's delivery receipt or payment notification. No bearer token: each provider
    proves itself by its own scheme (a signature, or for Mollie a status fetched from its API);
    a callback that fails it answers 401 and records nothing. The same callback twice records
    its events once."""
    verifier = state.webhooks.get(provider)
    if verifier is None:
        raise ApiError(
            404,
            "unknown_provider",
            f"no webhook for provider {provider!r}; configured: "
            + (", ".join(state.webhooks.names()) or "none (set PAYJOURNEY_MOLLIE_API_KEY)"),
        )
    hook = WebhookRequest(
        body=await request.body(),
        headers={k.lower(): v for k, v in request.headers.items()},
        url=str(request.url),
    )
    now = dt.datetime.now(dt.UTC)
    rules = state.rulebook.current
    try:
        if isinstance(verifier, WebhookBooking):
            taken = await run_in_threadpool(lambda: verifier.take(hook, rules=rules, now=now))
            return {"provider": provider, "events": taken.events, "recorded": taken.recorded}
        events = await run_in_threadpool(verifier.events, hook)
    except ForgedWebhook as exc:
        raise ApiError(401, "forged_webhook", f"{provider}: {exc}; nothing was recorded") from None
    except UnusableWebhook as exc:
        raise ApiError(
            422, "unusable_webhook", f"{provider}: {exc}; nothing was recorded"
        ) from None
    recorded = 0
    for event in events:
        # money settles the debtor at once, as `POST /v1/events` does; delivery receipts are
        # followed by the daemon's event watch (a bounce sends the step on the next channel)
        settle_with = rules if event.type == "paid" else None
        taken_event = await run_in_threadpool(take_event, state.engine, event, now, settle_with)
        recorded += taken_event.recorded
    return {"provider": provider, "events": len(events), "recorded": recorded}
