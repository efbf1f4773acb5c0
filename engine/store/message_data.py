"""What a message needs beyond the fact sheet: a stored debtor's open invoices and postal address."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import BindParameter, Connection, Date, Engine, Select, bindparam, select

from engine.store import tables as t
from engine.store.driver_read import DriverSelect
from engine.store.facts_sql import invoice_ctes
from engine.store.types import UTCDateTime


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageData:
    """Open invoices (as the preview API takes them: `amount` is what is still open of it,
    `invoiced` the invoice's amount) and the recipient's address lines."""

    invoices: tuple[dict[str, Any], ...]
    address: tuple[str, ...]


def message_data(engine: Engine, customer_id: str, now: dt.datetime) -> MessageData:
    """The invoices open at `now` (what is left after payments, credit notes and money on
    account, the same numbers as the fact sheet) and the primary contact's postal address, for
    rendering a stored debtor's message."""
    return message_data_for(engine, [customer_id], now)[customer_id]


@functools.cache
def _readers() -> tuple[DriverSelect, DriverSelect]:
    """`_statements` run on the driver's cursor (engine/store/driver_read.py): SQLAlchemy's
    execution took longer than the queries for the one debtor of a preview."""
    rows, address_query = _statements()
    return DriverSelect(rows, ("ids", "now", "today")), DriverSelect(address_query, ("ids",))


@functools.cache
def _statements() -> tuple[Select[Any], Select[Any]]:
    """The open invoices and the addresses of the customers bound as `ids` (with `now` and
    `today`), built once: building the invoice CTEs took longer than running them."""
    contact = t.Contact.__table__  # type: ignore[attr-defined]
    ids: BindParameter[Any] = bindparam("ids", [], expanding=True)
    now_p = bindparam("now", type_=UTCDateTime)
    today = bindparam("today", type_=Date)
    _, alloc = invoice_ctes(now_p, today, lambda column: column.in_(ids))
    rows = (
        select(alloc)
        .where(alloc.c.remaining > 0)
        .order_by(alloc.c.customer_id, alloc.c.due_date, alloc.c.id)
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
    return rows, address_query


def message_data_for(
    engine: Engine, customer_ids: Sequence[str], now: dt.datetime
) -> dict[str, MessageData]:
    """`message_data` of several debtors in two queries (the daemon renders in batches)."""
    with engine.connect() as conn:
        return message_data_on(conn, customer_ids, now)


def message_data_on(
    conn: Connection, customer_ids: Sequence[str], now: dt.datetime
) -> dict[str, MessageData]:
    """`message_data_for`, read on `conn` (a preview reads its facts on the same one)."""
    ids = list(customer_ids)
    rows, address_query = _readers()
    params = {"ids": ids, "now": now, "today": now.astimezone(dt.UTC).date()}
    invoices: dict[str, list[dict[str, Any]]] = {}
    addresses: dict[str, tuple[str, ...]] = {}
    for row in rows.rows(conn, params):
        invoices.setdefault(row["customer_id"], []).append(
            {
                "id": row["number"] or row["id"],
                "amount": Decimal(row["remaining"]),
                "invoiced": Decimal(row["amount"]),
                "currency": row["currency"],
                "issue_date": row["issue_date"],
                "due_date": row["due_date"],
            }
        )
    for found in address_query.rows(conn, {"ids": ids}):
        customer_id = found["customer_id"]
        if customer_id in addresses:  # the primary contact came first
            continue
        address: list[str] = []
        if found["name"]:  # the person at the debtor who reads it
            address.append(found["name"])
        if found["street"]:
            address.append(found["street"])
        place = " ".join(p for p in (found["postal_code"], found["city"]) if p)
        if place:
            address.append(place)
        addresses[customer_id] = tuple(address)
    return {
        cid: MessageData(invoices=tuple(invoices.get(cid, ())), address=addresses.get(cid, ()))
        for cid in ids
    }
