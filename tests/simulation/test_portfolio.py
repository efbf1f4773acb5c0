"""A portfolio for a simulation: invoices falling due during the run, the history unchanged."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import Engine, select

from engine.store import tables as t
from engine.store.db import make_engine
from engine.store.generate import generate
from engine.store.migrate import upgrade

TODAY = dt.date(2026, 11, 23)
INV = t.Invoice.__table__  # type: ignore[attr-defined]
PAY = t.Payment.__table__  # type: ignore[attr-defined]


def store(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    return engine


def rows(engine: Engine, table: object) -> set[tuple[object, ...]]:
    with engine.connect() as conn:
        return {tuple(r) for r in conn.execute(select(table).order_by(table.c.id))}  # type: ignore[attr-defined]


def test_every_debtor_gets_unpaid_invoices_falling_due_in_the_run_and_the_history_stays(
    tmp_path: Path,
) -> None:
    """With due_within_days=30 each debtor has one to four unpaid invoices due in the next 30
    days (some issued after today); the rest of the portfolio is the one generated without."""
    plain, run = store(tmp_path / "plain.db"), store(tmp_path / "run.db")
    generate(plain, debtors=60, seed=3, today=TODAY)
    portfolio = generate(run, debtors=60, seed=3, today=TODAY, due_within_days=30)
    before, after = rows(plain, INV), rows(run, INV)
    assert before < after
    upcoming = [r for r in after - before]
    by_customer: dict[str, int] = {}
    for r in upcoming:
        invoice = dict(zip(INV.c.keys(), r, strict=True))
        assert TODAY < invoice["due_date"] <= TODAY + dt.timedelta(days=30)
        by_customer[invoice["customer_id"]] = by_customer.get(invoice["customer_id"], 0) + 1
    assert set(by_customer) == set(portfolio.behaviour_types)
    assert all(1 <= n <= 4 for n in by_customer.values())
    assert any(dict(zip(INV.c.keys(), r, strict=True))["issue_date"] > TODAY for r in upcoming)
    assert rows(plain, PAY) == rows(run, PAY), "no payment for the upcoming invoices"
    assert set(portfolio.traits) == set(portfolio.behaviour_types)
    assert all(portfolio.traits[c].behaviour == b for c, b in portfolio.behaviour_types.items())
