"""Bulk upserts behave the same through parameter lists and (PostgreSQL) through COPY."""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

from engine.decision.decide import decide
from engine.rules.compile import CompiledRules
from engine.store import bulk
from engine.store import tables as t
from engine.store.generate import generate
from engine.store.planner import plan
from tests.store.builders import NOW

C = t.Customer.__table__
I = t.Invoice.__table__  # noqa: E741


@pytest.mark.parametrize("copy_min", [1, 10_000], ids=["copy", "executemany"])
def test_an_upsert_inserts_new_rows_and_updates_existing_ones(
    store: Engine, monkeypatch: pytest.MonkeyPatch, copy_min: int
) -> None:
    """Money, dates and JSON survive the trip; a second upsert changes only what it says."""
    monkeypatch.setattr(bulk, "COPY_MIN", copy_min)
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    customers = [
        {"id": f"C-{n}", "kind": "business", "country": "NL", "tags": ["a", "b"]} for n in range(3)
    ]
    invoices = [
        {
            "id": f"I-{n}",
            "customer_id": f"C-{n}",
            "amount": Decimal("12.34") * (n + 1),
            "currency": "EUR",
            "issue_date": dt.date(2026, 10, 1),
            "due_date": dt.date(2026, 10, 31),
            "warns_of_default": False,
            "updated_at": now,
        }
        for n in range(3)
    ]
    with store.begin() as conn:
        bulk.upsert(conn, C, [{**c, "created_at": now, "updated_at": now} for c in customers])
        bulk.upsert(conn, I, invoices)
        bulk.upsert(conn, I, [{**invoices[1], "amount": Decimal("99.99")}])
        bulk.insert_new(conn, I, [{**invoices[2], "amount": Decimal("1.00")}], key=("id",))
    with store.connect() as conn:
        amounts = dict(conn.execute(select(I.c.id, I.c.amount)).all())
        tags = conn.execute(select(C.c.tags).where(C.c.id == "C-0")).scalar_one()
    assert amounts == {"I-0": Decimal("12.34"), "I-1": Decimal("99.99"), "I-2": Decimal("37.02")}
    assert tags == ["a", "b"]


def test_planning_through_copy_is_still_idempotent(
    store: Engine, monkeypatch: pytest.MonkeyPatch, default_rules: CompiledRules
) -> None:
    """With every batch written through COPY, a second plan schedules nothing new."""
    monkeypatch.setattr(bulk, "COPY_MIN", 1)
    generate(store, debtors=120, seed=8, today=NOW.date())
    decider = functools.partial(decide, default_rules)
    first = plan(store, decider, NOW, batch=50)
    second = plan(store, decider, NOW, batch=50, incremental=False)
    assert first.scheduled_new > 0
    assert (second.scheduled_new, second.scheduled_kept) == (0, first.scheduled_new)
