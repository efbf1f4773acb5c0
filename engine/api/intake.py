"""Where events from the API and from provider webhooks enter: one function for both.

At merge with the daemon, `take_event` is the one place to route through the journey
life cycle (a payment cancels pending steps); today it records through the store's single entry
point, `engine.store.events.record_event`, which is idempotent by event id.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

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


def take_event(engine: Engine, event: EventRow, now: dt.datetime) -> Taken:
    """Record `event` once. The same id again is not recorded again: the first version stands
    (and `conflict` says whether the resent one differed)."""
    known = stored_event(engine, event.id)
    if known is not None:
        record = event.model_dump()
        record["kind"] = record.pop("type")
        return Taken(event=known, recorded=False, conflict=not _same(known, record))
    record_event(engine, event, now=now)
    found = stored_event(engine, event.id)
    assert found is not None
    return Taken(event=found, recorded=True)
