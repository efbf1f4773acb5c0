"""Where events from the API and from provider webhooks enter: one function for both.

`take_event` records through the store's single entry point (`engine.store.events.record_event`,
idempotent by event id) and then applies the journey life cycle to that one debtor with the
daemon's own code (`engine.daemon.jobs.refresh_customers`): a full payment cancels the pending
steps and ends the journey at once, a promise pauses it and schedules its confirmation, a
dispute pauses it. A running daemon sees the same event and settles again; that is idempotent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from engine.daemon.jobs import refresh_customers
from engine.daemon.settings import PROMISE_GRACE
from engine.rules.compile import CompiledRules
from engine.store.events import record_event, stored_event
from engine.store.rows import EventRow


@dataclass(frozen=True, slots=True, kw_only=True)
class Taken:
    """What happened to an event: the stored version, and whether this call stored it."""

    event: dict[str, Any]
    recorded: bool
    conflict: bool = False  # the id was known with different content


def _same(stored: dict[str, Any], record: dict[str, Any]) -> bool:
    keys = ("customer_id", "kind", "channel", "message_id", "invoice_id", "data")
    if any(stored.get(k) != record.get(k) for k in keys):
        return False
    occurred = stored.get("occurred_at")
    theirs = record.get("occurred_at")
    if isinstance(theirs, dt.datetime) and theirs.tzinfo is None:
        return True  # a local time without zone: the stored one was read in the debtor's zone
    if isinstance(occurred, dt.datetime) and occurred.tzinfo is None:
        occurred = occurred.replace(tzinfo=dt.UTC)  # SQLite hands back naive UTC
    return bool(occurred == theirs)


def take_event(
    engine: Engine,
    event: EventRow,
    now: dt.datetime,
    rules: CompiledRules | None = None,
    *,
    grace: dt.timedelta = PROMISE_GRACE,
) -> Taken:
    """Record `event` once and, given the rules in force, settle the debtor's journey on it.
    The same id again is not recorded again: the first version stands (and `conflict` says
    whether the resent one differed)."""
    known = stored_event(engine, event.id)
    if known is not None:
        record = event.model_dump()
        record["kind"] = record.pop("type")
        return Taken(event=known, recorded=False, conflict=not _same(known, record))
    record_event(engine, event, now=now)
    if rules is not None:
        promises = {event.customer_id: event.id} if event.type == "promised" else None
        refresh_customers(engine, rules, [event.customer_id], now, grace=grace, promises=promises)
    found = stored_event(engine, event.id)
    assert found is not None
    return Taken(event=found, recorded=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyTaken:
    """A reply matched to the message it answers: its event, and the task a person reads."""

    customer_id: str
    message_id: str
    task_id: int | None  # None when this reply made its task before (the same id again)


def take_reply(
    engine: Engine,
    rules: CompiledRules,
    *,
    reply_id: str,
    channel: str,
    sender: str | None,
    in_reply_to: str | None,
    text: str,
    received_at: dt.datetime,
    now: dt.datetime,
) -> ReplyTaken | None:
    """A debtor answered one of our messages (`POST /v1/replies`, or a provider's inbound
    webhook): matched to it (the email's In-Reply-To, else the latest message to the sender on
    that channel), recorded once as a `replied` event, the automatic steps paused and a task
    holding the text. None when no message of ours matches."""
    from engine.daemon import dialogue

    found = dialogue.match_reply(engine, channel=channel, sender=sender, in_reply_to=in_reply_to)
    if found is None:
        return None
    customer_id, message_id = found
    event = EventRow.model_validate(
        {
            "id": f"reply-{reply_id}",
            "customer_id": customer_id,
            "type": "replied",
            "channel": channel,
            "message_id": message_id,
            "occurred_at": received_at,
            "data": {"text": text},
        }
    )
    take_event(engine, event, now, rules)
    task_id = dialogue.pause_for_reply(
        engine,
        rules,
        event_id=event.id,
        customer_id=customer_id,
        text=text,
        channel=channel,
        message_id=message_id,
        now=now,
    )
    return ReplyTaken(customer_id=customer_id, message_id=message_id, task_id=task_id)
