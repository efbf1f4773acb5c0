"""The preview for data posted in a request: the rows go through the importer into a private
in-memory SQLite database, facts come from the store's own SQL, and nothing is kept.

One implementation of fact derivation: a posted customer gets exactly the facts a stored one
with the same rows would get.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.pool import StaticPool
from sqlmodel import SQLModel

from engine.errors import PayjourneyError
from engine.preview.answer import Preview, PreviewSettings
from engine.preview.stored import preview_stored
from engine.rules.compile import CompiledRules
from engine.store import tables as t
from engine.store.db import make_engine
from engine.store.importer import import_rows

#: Row kinds a posted preview may carry besides the customer, in the importer's names.
CHILD_KINDS = ("contacts", "invoices", "payments", "promises", "disputes", "messages", "events")


class PostedDataError(PayjourneyError):
    """The posted rows cannot be read as one customer's data; the message says what to change."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PostedPreview:
    """One customer's rows as posted: `customer` plus lists by kind (`invoices`, `payments`...).

    An invoice may carry `paid_date` (paid in full that day): it becomes a payment row. Child
    rows need no `customer_id` (it is the posted customer's), and payments and events without
    an `id` get one from their position. `steps_sent` says how many steps of the journey were
    already sent (default 0).
    """

    customer: Mapping[str, Any]
    rows: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)
    steps_sent: int = 0


def _rows(posted: PostedPreview) -> dict[str, list[dict[str, Any]]]:
    customer_id = posted.customer.get("id")
    if not isinstance(customer_id, str) or not customer_id.strip():
        raise PostedDataError('customer.id is missing; give the customer an id such as "C-1"')
    out: dict[str, list[dict[str, Any]]] = {"customers": [dict(posted.customer)]}
    for kind, items in posted.rows.items():
        if kind not in CHILD_KINDS:
            raise PostedDataError(f"unknown list {kind!r}; use {', '.join(CHILD_KINDS)}")
        for number, item in enumerate(items, start=1):
            row = dict(item)
            if row.setdefault("customer_id", customer_id) != customer_id:
                raise PostedDataError(
                    f"{kind}:{number}: customer_id {row['customer_id']!r} is not the posted "
                    f"customer {customer_id!r}; a preview is for one customer (leave it out)"
                )
            if kind in ("payments", "events", "promises", "disputes", "messages"):
                row.setdefault("id", f"{kind}-{number}")
            if kind == "invoices" and (paid := row.pop("paid_date", None)):
                out.setdefault("payments", []).append(
                    {
                        "id": f"paid-{row.get('id', number)}",
                        "customer_id": customer_id,
                        "invoice_id": row.get("id"),
                        "amount": row.get("amount"),
                        "currency": row.get("currency", "EUR"),
                        "paid_at": f"{str(paid)[:10]}T12:00:00",
                    }
                )
            out.setdefault(kind, []).append(row)
    return out


def preview_posted(
    posted: PostedPreview, rules: CompiledRules, now: dt.datetime, settings: PreviewSettings
) -> Preview:
    """The preview for posted rows at `now`; ImportRejected names each bad row (`invoices:2`)."""
    rows = _rows(posted)
    engine = make_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    try:
        tables = [getattr(model, "__table__") for model in t.TABLES]  # noqa: B009
        SQLModel.metadata.create_all(engine, tables=tables)
        import_rows(engine, rows, now=now)
        customer_id = str(posted.customer["id"]).strip()
        if posted.steps_sent:
            with engine.begin() as conn:
                conn.execute(
                    t.Journey.__table__.insert(),  # type: ignore[attr-defined]
                    {
                        "customer_id": customer_id,
                        "persona": "posted",
                        "ruleset_version": rules.version,
                        "steps_sent": posted.steps_sent,
                        "started_at": dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
                        "updated_at": now,
                    },
                )
        return preview_stored(engine, rules, customer_id, now, settings)
    finally:
        engine.dispose()
