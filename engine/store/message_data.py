"""What a message needs beyond the fact sheet: a stored debtor's open invoices and postal address."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, select

from engine.store import tables as t


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageData:
    """Open invoices (as the preview API takes them) and the recipient's address lines."""

    invoices: tuple[dict[str, Any], ...]
    address: tuple[str, ...]


def message_data(engine: Engine, customer_id: str, now: dt.datetime) -> MessageData:
    """The open invoices at `now` (amount still open after payments) and the primary contact's
    postal address, for rendering a stored debtor's message."""
    return message_data_for(engine, [customer_id], now)[customer_id]


def message_data_for(
    engine: Engine, customer_ids: Sequence[str], now: dt.datetime
) -> dict[str, MessageData]:
    """`message_data` of several debtors in three queries (the daemon renders in batches)."""
    invoice = t.Invoice.__table__  # type: ignore[attr-defined]
    payment = t.Payment.__table__  # type: ignore[attr-defined]
    contact = t.Contact.__table__  # type: ignore[attr-defined]
    ids = list(customer_ids)
    paid = (
        select(payment.c.invoice_id, func.sum(payment.c.amount).label("paid"))
        .where(payment.c.customer_id.in_(ids), payment.c.paid_at <= now)
        .group_by(payment.c.invoice_id)
        .subquery()
    )
    rows = (
        select(
            invoice.c.customer_id,
            invoice.c.id,
            invoice.c.number,
            invoice.c.amount,
            invoice.c.currency,
            invoice.c.issue_date,
            invoice.c.due_date,
            func.coalesce(paid.c.paid, 0).label("paid"),
        )
        .select_from(invoice.outerjoin(paid, paid.c.invoice_id == invoice.c.id))
        .where(invoice.c.customer_id.in_(ids), invoice.c.issue_date <= now.date())
        .order_by(invoice.c.customer_id, invoice.c.due_date, invoice.c.id)
    )
    address_query = (
        select(
            contact.c.customer_id,
            contact.c.name,
            contact.c.street,
            contact.c.postal_code,
            contact.c.city,
        )
        .where(contact.c.customer_id.in_(ids))
        .order_by(contact.c.customer_id, contact.c.is_primary.desc(), contact.c.id)
    )
    invoices: dict[str, list[dict[str, Any]]] = {cid: [] for cid in ids}
    addresses: dict[str, tuple[str, ...]] = {}
    with engine.connect() as conn:
        for row in conn.execute(rows):
            open_amount = Decimal(row.amount) - Decimal(row.paid or 0)
            if open_amount <= 0:
                continue
            invoices.setdefault(row.customer_id, []).append(
                {
                    "id": row.number or row.id,
                    "amount": open_amount,
                    "currency": row.currency,
                    "issue_date": row.issue_date,
                    "due_date": row.due_date,
                }
            )
        for found in conn.execute(address_query):
            if found.customer_id in addresses:
                continue
            address: list[str] = []
            if found.name:  # the person at the debtor who reads it
                address.append(found.name)
            if found.street:
                address.append(found.street)
            place = " ".join(p for p in (found.postal_code, found.city) if p)
            if place:
                address.append(place)
            addresses[found.customer_id] = tuple(address)
    return {
        cid: MessageData(invoices=tuple(invoices.get(cid, ())), address=addresses.get(cid, ()))
        for cid in ids
    }
