"""What a payment (or its reversal) does to a debtor's journey, in one place.

`settle_payment` is the single function the payment paths call after booking money (bank
statement import, Barzahlen webhook): it records the `paid` event through
`engine.store.events.record_event` (facts re-derived) and, when nothing is left open, cancels the
debtor's pending steps and marks the journey done. `reopen_after_reversal` is its mirror for a
returned collection. At merge, the daemon's journey life cycle ("payment cancels pending steps,
journey done; reversal reopens and resumes") should take over the bodies of both.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Engine, update

from engine.decision.model import FactSheet
from engine.store import tables as t
from engine.store.events import record_event
from engine.store.rows import EventRow

S = t.ScheduledStep.__table__  # type: ignore[attr-defined]
J = t.Journey.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True, kw_only=True)
class Settlement:
    """The debtor after a payment: fresh facts, steps cancelled, whether the journey ended."""

    facts: FactSheet
    steps_cancelled: int
    journey_done: bool


def settle_payment(engine: Engine, event: EventRow, *, now: dt.datetime) -> Settlement:
    """Record a `paid` event (the payment rows are already written) and, if the debtor now owes
    nothing, cancel their still-scheduled steps and mark their journey `done`.

    Idempotent: the event is stored once by id, cancelled steps stay cancelled. Steps a
    scheduler has claimed or sent are never touched. A partial payment leaves the journey
    running; the next `plan` re-decides with the lower amount.
    """
    facts = record_event(engine, event, now=now)
    open_amount = facts["balance.open_amount"]
    if open_amount is not None and Decimal(str(open_amount)) > 0:
        return Settlement(facts=facts, steps_cancelled=0, journey_done=False)
    with engine.begin() as conn:
        cancelled = conn.execute(
            update(S)
            .where(S.c.customer_id == event.customer_id, S.c.status == "scheduled")
            .values(status="cancelled", updated_at=now, last_error="paid: nothing left open")
        ).rowcount
        done = conn.execute(
            update(J)
            .where(J.c.customer_id == event.customer_id, J.c.state != "done")
            .values(state="done", updated_at=now)
        ).rowcount
    return Settlement(facts=facts, steps_cancelled=cancelled or 0, journey_done=bool(done))


def reopen_after_reversal(engine: Engine, event: EventRow, *, now: dt.datetime) -> FactSheet:
    """Record a `reversed` event (the undone payment rows are already removed) and reopen a
    journey that payment had ended, so the next `plan` resumes it with the invoice open again."""
    facts = record_event(engine, event, now=now)
    with engine.begin() as conn:
        conn.execute(
            update(J)
            .where(J.c.customer_id == event.customer_id, J.c.state == "done")
            .values(state="active", updated_at=now)
        )
    return facts
