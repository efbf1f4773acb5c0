"""The schedule as people read it: which debtor gets what, when, on which channel, at which address."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Engine, and_, select

from engine.store import tables as t
from engine.store.ageing import ageing_bucket
from engine.store.facts_sql import fact_sheet_batches

S = t.ScheduledStep.__table__  # type: ignore[attr-defined]
C = t.Customer.__table__  # type: ignore[attr-defined]
K = t.Contact.__table__  # type: ignore[attr-defined]
#: Steps still to go out: planned, or claimed by a scheduler that has not sent them yet.
PENDING = ("scheduled", "claimed")


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduledItem:
    """One step on the schedule, with what is needed to send, print or call."""

    send_at: dt.datetime
    customer_id: str
    name: str | None
    persona: str
    step: int
    steps: int
    action: str
    channel: str | None
    template: str | None
    locale: str | None
    tone: str | None
    amount: Decimal | None
    currency: str | None
    email: str | None
    phone: str | None
    address: str | None

    def contact(self) -> str:
        """Where this step goes: the postal address of a letter, the number to call, the email."""
        if self.channel == "letter":
            return self.address or ""
        if self.channel in ("phone", "sms", "whatsapp") or self.action == "handoff":
            return self.phone or self.email or ""
        return self.email or ""


def _address(street: str | None, postal_code: str | None, city: str | None) -> str | None:
    parts = [p for p in (street, " ".join(x for x in (postal_code, city) if x)) if p]
    return ", ".join(parts) or None


def scheduled(
    engine: Engine,
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    channel: str | None = None,
) -> list[ScheduledItem]:
    """Pending steps with send_at in [start, end), in send order; `channel="phone"` is the call
    list, which includes hand-offs (a person contacts the debtor)."""
    query = (
        select(
            S.c.send_at,
            S.c.customer_id,
            C.c.name,
            S.c.journey,
            S.c.step,
            S.c.steps,
            S.c.action,
            S.c.channel,
            S.c.template,
            S.c.locale,
            S.c.tone,
            S.c.amount_due,
            S.c.currency,
            K.c.email,
            K.c.phone,
            K.c.street,
            K.c.postal_code,
            K.c.city,
        )
        .join(C, C.c.id == S.c.customer_id)
        .outerjoin(K, and_(K.c.customer_id == S.c.customer_id, K.c.is_primary.is_(True)))
        .where(S.c.status.in_(PENDING), C.c.forgotten_at.is_(None))
        .order_by(S.c.send_at, S.c.customer_id)
    )
    if start is not None:
        query = query.where(S.c.send_at >= start)
    if end is not None:
        query = query.where(S.c.send_at < end)
    if channel == "phone":
        query = query.where((S.c.channel == "phone") | (S.c.action == "handoff"))
    elif channel is not None:
        query = query.where(S.c.channel == channel)
    seen: set[tuple[str, int]] = set()
    items = []
    with engine.connect() as conn:
        for r in conn.execute(query):
            if (r.customer_id, r.step) in seen:  # a customer with two primary contacts
                continue
            seen.add((r.customer_id, r.step))
            items.append(
                ScheduledItem(
                    send_at=r.send_at,
                    customer_id=r.customer_id,
                    name=r.name,
                    persona=r.journey,
                    step=r.step,
                    steps=r.steps,
                    action=r.action,
                    channel=r.channel,
                    template=r.template,
                    locale=r.locale,
                    tone=r.tone,
                    amount=r.amount_due,
                    currency=r.currency,
                    email=r.email,
                    phone=r.phone,
                    address=_address(r.street, r.postal_code, r.city),
                )
            )
    return items


def ageing(engine: Engine, customer_ids: Sequence[str], now: dt.datetime) -> dict[str, str]:
    """Each customer's ageing bucket at `now` (days past its oldest open due date)."""
    buckets: dict[str, str] = {}
    if not customer_ids:
        return buckets
    for sheets in fact_sheet_batches(engine, now, customer_ids, prefetch=False):
        for sheet in sheets:
            buckets[str(sheet["customer.id"])] = ageing_bucket(sheet["balance.max_days_overdue"])
    return buckets
