"""Delivery receipts from the channel providers (Twilio, MessageBird, WhatsApp, Pingen) as events.

The channels package verifies and parses each provider's callback (its signature scheme, in
`channels.registry.build_callback_handlers`); this adapter finds the message a receipt names
(by the provider's message id the send recorded, or by our idempotency key when the callback
carries it back) and turns the receipt into an event on that message: `delivered`, `opened`
(read), or `bounced` with `severity` hard/soft (a failed SMS or WhatsApp message is a bounce of
that channel). Event ids are derived from provider, message and status, so a callback that
arrives twice records its events once; a receipt for a message we never sent is logged and
dropped, never guessed onto a debtor.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import re
from collections.abc import Callable, Mapping, Sequence

from sqlalchemy import Engine, or_, select

from channels.dsn import dsn_secret, parse_dsn_callback
from channels.receipts import (
    CallbackRejected,
    DeliveryReceipt,
    InboundReply,
    InboundRequest,
    ReplayGuard,
)
from channels.registry import CallbackHandler, build_callback_handlers
from engine.api.webhooks.registry import Booked, ForgedWebhook, WebhookRegistry, WebhookRequest
from engine.rules.compile import CompiledRules
from engine.store import tables as t
from engine.store.rows import EventRow

log = logging.getLogger("payjourney.api.webhooks")
M = t.Message.__table__  # type: ignore[attr-defined]
_KINDS = {"delivered": "delivered", "read": "opened", "bounced": "bounced", "failed": "bounced"}
_PLAIN_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
#: The secret that signs forwarded email DSNs (Standard Webhooks, `whsec_...`).
DSN_SECRET_VAR = "PAYJOURNEY_DSN_WEBHOOK_SECRET"


def receipt_event_id(provider: str, provider_message_id: str, status: str) -> str:
    """`provider-id-status`, or, where the provider's id does not fit an event id (an email
    Message-ID `<...@domain>`), the same made from its digest: the same receipt, the same id."""
    plain = f"{provider}-{provider_message_id}-{status}"
    if _PLAIN_ID.fullmatch(plain):
        return plain
    digest = hashlib.sha256(provider_message_id.encode()).hexdigest()[:32]
    return f"{provider}-{digest}-{status}"


class _EventIdsAnswerReplays(ReplayGuard):
    """No memory of callbacks: the events a callback becomes have ids derived from it, so a
    second copy (a provider's retry after our answer was lost, or a replay) records nothing new
    and is answered 200, where the in-memory guard would refuse the genuine retry."""

    def check(self, provider: str, key: str) -> None:
        return None


class DeliveryWebhook:
    """One provider's delivery callbacks, verified by the channels package, as message events."""

    def __init__(self, provider: str, handler: CallbackHandler, engine: Engine) -> None:
        self.provider, self.handler, self.engine = provider, handler, engine

    def _parse(self, request: WebhookRequest) -> tuple[DeliveryReceipt | InboundReply, ...]:
        inbound = InboundRequest(
            method="POST", url=request.url, body=request.body, headers=request.headers
        )
        try:
            return self.handler(inbound)
        except CallbackRejected as exc:
            raise ForgedWebhook(exc.reason) from None

    def events(self, request: WebhookRequest) -> list[EventRow]:
        """The delivery receipts in the callback as events (a debtor's reply is not one: see
        `take`)."""
        return self._events([r for r in self._parse(request) if isinstance(r, DeliveryReceipt)])

    def take(self, request: WebhookRequest, *, rules: CompiledRules, now: dt.datetime) -> Booked:
        """Record the receipts as events, and each reply the debtor sent (an SMS or WhatsApp
        answer) as `POST /v1/replies` does: a `replied` event, a task, the steps paused. A
        reply from a number we never wrote to is logged and left (nothing to pause)."""
        from engine.api.intake import take_event, take_reply

        parsed = self._parse(request)
        events = self._events([r for r in parsed if isinstance(r, DeliveryReceipt)])
        recorded = sum(take_event(self.engine, event, now).recorded for event in events)
        replies = [r for r in parsed if isinstance(r, InboundReply)]
        for reply in replies:
            taken = take_reply(
                self.engine,
                rules,
                reply_id=f"{reply.provider}-{reply.provider_message_id}",
                channel=reply.channel,
                sender=reply.sender,
                in_reply_to=None,
                text=reply.text,
                received_at=reply.received_at,
                now=now,
            )
            if taken is None:
                log.warning(
                    "%s reply from a number we never wrote to (%s) left unmatched",
                    self.provider,
                    reply.provider_message_id,
                )
            elif taken.task_id is not None:
                recorded += 1
        return Booked(events=len(events) + len(replies), recorded=recorded)

    def _events(self, receipts: Sequence[DeliveryReceipt]) -> list[EventRow]:
        if not receipts:
            return []
        ids = {r.provider_message_id for r in receipts}
        keys = {r.idempotency_key for r in receipts if r.idempotency_key}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(M.c.id, M.c.customer_id, M.c.channel, M.c.provider_message_id).where(
                    or_(M.c.provider_message_id.in_(ids), M.c.id.in_(keys))
                )
            ).all()
        by_provider_id = {r.provider_message_id: r for r in rows if r.provider_message_id}
        by_key = {r.id: r for r in rows}
        events: list[EventRow] = []
        for receipt in receipts:
            message = by_provider_id.get(receipt.provider_message_id) or (
                by_key.get(receipt.idempotency_key) if receipt.idempotency_key else None
            )
            if message is None:
                log.warning(
                    "%s receipt for an unknown message %s dropped",
                    self.provider,
                    receipt.provider_message_id,
                )
                continue
            data: dict[str, object] = {"provider": self.provider, "status": receipt.status}
            if receipt.code:
                data["code"] = receipt.code
            if receipt.severity:
                data["severity"] = receipt.severity
            events.append(
                EventRow.model_validate(
                    {
                        "id": receipt_event_id(
                            self.provider, receipt.provider_message_id, receipt.status
                        ),
                        "customer_id": message.customer_id,
                        "kind": _KINDS[receipt.status],
                        "channel": message.channel,
                        "message_id": message.id,
                        "occurred_at": receipt.occurred_at,
                        "data": data,
                    }
                )
            )
        return events


def register_delivery_webhooks(
    registry: WebhookRegistry,
    engine: Engine,
    env: Mapping[str, str],
    *,
    handlers: Callable[..., dict[str, CallbackHandler]] = build_callback_handlers,
) -> None:
    """Register every provider whose signing secret `env` sets (docs/channels.md), and `dsn`
    (email bounces forwarded by the mail system) when PAYJOURNEY_DSN_WEBHOOK_SECRET is set. Replays are
    answered by the idempotent event ids (a provider resending after a lost answer must not be
    refused), so the channels' in-memory replay guard keeps nothing here."""
    guard = _EventIdsAnswerReplays()
    found = dict(handlers(env, replay_guard=guard))
    if secret := env.get(DSN_SECRET_VAR, "").strip():
        try:
            dsn_secret(secret)
        except ValueError as exc:  # a broken configuration fails at start, not per bounce
            raise CallbackRejected("dsn", str(exc)) from None
        found["dsn"] = functools.partial(parse_dsn_callback, secret=secret, replay_guard=guard)
    for provider, handler in found.items():
        registry.register(provider, DeliveryWebhook(provider, handler, engine))
