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


@pytest.mark.parametrize("copy_min", [1, 10_000], ids=["copy", "executemany"])
def test_inserted_rows_get_the_column_defaults_an_insert_gives(
    store: Engine, monkeypatch: pytest.MonkeyPatch, copy_min: int
) -> None:
    """Rows inserted by COPY (PostgreSQL) get the same Python-side defaults as by INSERT:
    the time zone, the tags and the timestamps of a customer; rows that differ in their
    columns are refused, not filled with NULLs."""
    monkeypatch.setattr(bulk, "COPY_MIN", copy_min)
    rows = [{"id": f"C-{n}", "kind": "business", "country": "NL"} for n in range(3)]
    with store.begin() as conn:
        bulk.insert_rows(conn, C, rows)
    with store.connect() as conn:
        stored = conn.execute(select(C.c.timezone, C.c.tags, C.c.created_at)).all()
    assert [(zone, tags) for zone, tags, _ in stored] == [("Europe/Amsterdam", [])] * 3
    assert all(created is not None for _, _, created in stored)
    if store.dialect.name == "postgresql" and copy_min == 1:
        with pytest.raises(ValueError, match="differ in their columns"), store.begin() as conn:
            bulk.insert_rows(conn, C, [{"id": "C-9", "kind": "business"}, rows[0]])


def test_a_copy_into_a_watched_table_marks_its_debtors_stale(
    store: Engine, monkeypatch: pytest.MonkeyPatch, default_rules: CompiledRules
) -> None:
    """Rows loaded by COPY (one statement for the batch) still mark the debtors they belong to
    stale, as each INSERT did: the next plan decides exactly those again."""
    monkeypatch.setattr(bulk, "COPY_MIN", 1)
    generate(store, debtors=20, seed=3, today=NOW.date())
    decider = functools.partial(decide, default_rules)
    plan(store, decider, NOW, batch=10, workers=1)
    plan(store, decider, NOW, batch=10, workers=1)  # the journeys' start settles messages_sent
    with store.connect() as conn:
        owing = conn.execute(select(t.Journey.__table__.c.customer_id).limit(2)).scalars().all()
    invoices = [
        {
            "id": f"I-copied-{n}",
            "customer_id": customer_id,
            "amount": Decimal("100.00"),
            "currency": "EUR",
            "issue_date": dt.date(2026, 11, 1),
            "due_date": dt.date(2026, 11, 15),
        }
        for n, customer_id in enumerate(owing)
    ]
    with store.begin() as conn:
        bulk.insert_rows(conn, I, invoices)
    again = plan(store, decider, NOW, batch=10, workers=1)
    assert (again.debtors, again.unchanged) == (20, 18)
