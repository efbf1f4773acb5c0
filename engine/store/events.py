"""Recording one event as it arrives (API, webhook, scheduler) and refreshing that debtor's facts.

Idempotent by event id: the same event twice is stored once. A `paid` event with an amount
becomes a payment (against its invoice, else on account); a `promised` event with an amount and
a date becomes a promise to pay; a `disputed` event opens a dispute. The debtor's fact sheet
is then recomputed by the same SQL as the portfolio's, scoped to this one customer.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from engine.decision.model import FactSheet
from engine.store import tables as t
from engine.store.bulk import insert_new
from engine.store.errors import CustomerNotFound, StoreError
from engine.store.facts_sql import fact_sheet_for
from engine.store.rows import EventRow, PaymentRow

C = t.Customer.__table__  # type: ignore[attr-defined]


def _promise(event: EventRow, occurred: dt.datetime) -> dict[str, Any] | None:
    data = event.data
    if "amount" not in data or "until" not in data:
        return None
    try:
        amount = Decimal(str(data["amount"]))
        until = dt.date.fromisoformat(str(data["until"]))
    except (InvalidOperation, ValueError) as exc:
        raise StoreError(
            f'event {event.id}: a promise needs data.amount (e.g. "120.00") and data.until'
            f" (YYYY-MM-DD): {exc}"
        ) from exc
    return {
        "id": f"event-{event.id}",
        "customer_id": event.customer_id,
        "invoice_id": event.invoice_id,
        "amount": amount,
        "currency": str(data.get("currency", "EUR")),
        "promised_at": occurred,
        "promised_until": until,
        "channel": event.channel,
    }


def _payment(event: EventRow, occurred: dt.datetime, zone: str) -> dict[str, Any] | None:
    data = event.data
    if "amount" not in data or data.get("booked") is True:
        return None  # no amount, or the payment rows are written already (a bank statement)
    try:
        row = PaymentRow.model_validate(
            {
                "id": f"event-{event.id}",
                "customer_id": event.customer_id,
                "invoice_id": event.invoice_id,
                "amount": str(data["amount"]),
                "currency": str(data.get("currency", "EUR")),
                "paid_at": occurred,
                "method": data.get("method"),
            }
        )
    except ValueError as exc:
        raise StoreError(
            f'event {event.id}: a payment needs data.amount (e.g. "120.00", positive): {exc}'
        ) from exc
    return row.record_in(zone)


def record_event(engine: Engine, event: EventRow, *, now: dt.datetime | None = None) -> FactSheet:
    """Store the event (once), derive what it implies, and return the debtor's fresh facts."""
    now = now or dt.datetime.now(dt.UTC)
    occurred = store_event(engine, event, now=now)
    return fact_sheet_for(engine, event.customer_id, max(now, occurred))


def store_event(engine: Engine, event: EventRow, *, now: dt.datetime) -> dt.datetime:
    """`record_event` without reading the debtor's facts back (the simulation books thousands
    of events whose facts the daemon reads itself); returns when the event occurred."""
    try:
        return _store_event(engine, event, now)
    except IntegrityError as exc:  # an invoice id the store does not know
        raise StoreError(
            f"event {event.id}: unknown invoice '{event.invoice_id}' for customer"
            f" '{event.customer_id}'; check the invoice id, or leave it out"
        ) from exc


def _store_event(engine: Engine, event: EventRow, now: dt.datetime) -> dt.datetime:
    with engine.begin() as conn:
        zone = conn.execute(select(C.c.timezone).where(C.c.id == event.customer_id)).scalar()
        if zone is None:
            raise CustomerNotFound(event.customer_id)
        record = event.record_in(zone)
        record["recorded_at"] = now
        occurred: dt.datetime = record["occurred_at"]
        insert_new(conn, t.Event.__table__, [record], key=("id",))  # type: ignore[attr-defined]
        if event.type == "paid" and (payment := _payment(event, occurred, zone)):
            insert_new(conn, t.Payment.__table__, [payment], key=("id",))  # type: ignore[attr-defined]
        if event.type == "promised" and (promise := _promise(event, occurred)):
            insert_new(conn, t.PromiseToPay.__table__, [promise], key=("id",))  # type: ignore[attr-defined]
        if event.type == "disputed":
            dispute = {
                "id": f"event-{event.id}",
                "customer_id": event.customer_id,
                "invoice_id": event.invoice_id,
                "opened_at": occurred,
                "reason": event.data.get("reason"),
            }
            insert_new(conn, t.Dispute.__table__, [dispute], key=("id",))  # type: ignore[attr-defined]
    return occurred


def stored_event(engine: Engine, event_id: str) -> dict[str, Any] | None:
    """The event stored under `event_id` (its first version), or None."""
    table = t.Event.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        row = conn.execute(select(table).where(table.c.id == event_id)).mappings().first()
    return dict(row) if row is not None else None
