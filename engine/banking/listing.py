"""Reading back imported statement entries: the unmatched list a person works through."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from engine.store import tables as t

E = t.BankEntry.__table__  # type: ignore[attr-defined]


def statement_entries(
    engine: Engine,
    *,
    unmatched_only: bool = False,
    limit: int | None = None,
    after: int | None = None,
) -> list[dict[str, Any]]:
    """Imported entries in the order they were imported (by id); unmatched ones only when
    asked; `limit` of them after the entry id `after` (to page through a long list)."""
    query = select(
        E.c.id, E.c.booked_on, E.c.amount, E.c.currency, E.c.direction, E.c.payer_name,
        E.c.payer_iban, E.c.remittance, E.c.status, E.c.rule, E.c.reason, E.c.customer_id,
        E.c.statement_id, E.c.entry_reference, E.c.source, E.c.position, E.c.end_to_end_id,
        E.c.return_reason, E.c.reverses_id,
    ).order_by(E.c.id)  # fmt: skip
    if unmatched_only:
        query = query.where(E.c.status == "unmatched")
    if after is not None:
        query = query.where(E.c.id > after)
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]
