"""What a message needs beyond the fact sheet: a stored debtor's open invoices and postal address."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, Engine, Select, String, bindparam, func, select

from engine.store import tables as t
from engine.store.types import UTCDateTime


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageData:
    """Open invoices (as the preview API takes them) and the recipient's address lines."""

    invoices: tuple[dict[str, Any], ...]
    address: tuple[str, ...]


@functools.cache
def _queries() -> tuple[Select[Any], Select[Any]]:
    """The two statements, built once (building costs more than running them); bound per call
    with customer_id, now and today."""
    invoice = t.Invoice.__table__  # type: ignore[attr-defined]
    payment = t.Payment.__table__  # type: ignore[attr-defined]
    contact = t.Contact.__table__  # type: ignore[attr-defined]
    customer_id = bindparam("customer_id", type_=String)
    now = bindparam("now", type_=UTCDateTime)
    paid = (
        select(payment.c.invoice_id, func.sum(payment.c.amount).label("paid"))
        .where(payment.c.customer_id == customer_id, payment.c.paid_at <= now)
        .group_by(payment.c.invoice_id)
        .subquery()
    )
    rows = (
        select(
            invoice.c.id,
            invoice.c.number,
            invoice.c.amount,
            invoice.c.currency,
            invoice.c.issue_date,
            invoice.c.due_date,
            func.coalesce(paid.c.paid, 0).label("paid"),
        )
        .select_from(invoice.outerjoin(paid, paid.c.invoice_id == invoice.c.id))
        .where(
            invoice.c.customer_id == customer_id,
            invoice.c.issue_date <= bindparam("today", type_=Date),
        )
        .order_by(invoice.c.due_date, invoice.c.id)
    )
    address_query = (
        select(contact.c.name, contact.c.street, contact.c.postal_code, contact.c.city)
        .where(contact.c.customer_id == customer_id)
        .order_by(contact.c.is_primary.desc(), contact.c.id)
        .limit(1)
    )
    return rows, address_query


def message_data(engine: Engine, customer_id: str, now: dt.datetime) -> MessageData:
    """The open invoices at `now` (amount still open after payments) and the primary contact's
    postal address, for rendering a stored debtor's message."""
    rows, address_query = _queries()
    params = {"customer_id": customer_id, "now": now, "today": now.date()}
    with engine.connect() as conn:
        invoices = []
        for row in conn.execute(rows, params):
            open_amount = Decimal(row.amount) - Decimal(row.paid or 0)
            if open_amount <= 0:
                continue
            invoices.append(
                {
                    "id": row.number or row.id,
                    "amount": open_amount,
                    "currency": row.currency,
                    "issue_date": row.issue_date,
                    "due_date": row.due_date,
                }
            )
        found = conn.execute(address_query, params).first()
    address: list[str] = []
    if found is not None:
        if found.name:  # the person at the debtor who reads it
            address.append(found.name)
        if found.street:
            address.append(found.street)
        place = " ".join(p for p in (found.postal_code, found.city) if p)
        if place:
            address.append(place)
    return MessageData(invoices=tuple(invoices), address=tuple(address))
