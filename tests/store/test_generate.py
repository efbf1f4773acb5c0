"""`payjourney generate`: a reproducible portfolio whose hidden behaviour shows in the facts."""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path

from sqlalchemy import Engine

from engine.decision.model import FactSheet
from engine.store.facts_sql import derive_fact_sheets
from engine.store.generate import generate
from tests.store.builders import NOW


def test_the_same_seed_gives_the_same_portfolio(store: Engine, tmp_path: Path) -> None:
    """Two stores generated with seed 9 derive identical fact sheets."""
    from engine.store.db import make_engine
    from engine.store.migrate import upgrade

    other = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    upgrade(other)
    first = generate(store, debtors=80, seed=9, today=NOW.date())
    second = generate(other, debtors=80, seed=9, today=NOW.date())
    assert first.rows == second.rows
    assert list(derive_fact_sheets(store, NOW)) == list(derive_fact_sheets(other, NOW))
    other.dispose()


def test_behaviour_types_can_be_found_back_in_the_facts(store: Engine) -> None:
    """Structurally late payers average 3+ days late, punctual ones pay on time, chronic late
    payers break promises, disputers have open disputes, responsive ones pay after reminders."""
    result = generate(store, debtors=600, seed=4, today=NOW.date())
    by_type: dict[str, list[FactSheet]] = defaultdict(list)
    for sheet in derive_fact_sheets(store, NOW):
        by_type[result.behaviour_types[sheet["customer.id"]]].append(sheet)

    def mean(kind: str, fact: str) -> float:
        values = [float(s[fact]) for s in by_type[kind] if s[fact] is not None]
        return statistics.mean(values) if values else 0.0

    assert mean("structurally_late", "behaviour.avg_days_late") >= 3
    assert mean("punctual", "behaviour.avg_days_late") < 1
    assert mean("punctual", "behaviour.on_time_ratio") > 0.9
    assert mean("chronic_late", "behaviour.avg_days_late") > 20
    assert mean("chronic_late", "behaviour.broken_promises") >= 1
    assert mean("disputer", "behaviour.open_disputes") > 0.9
    responsive = [
        max((s[f"behaviour.paid_after.{c}"] or 0) for c in ("email", "sms", "whatsapp", "letter"))
        for s in by_type["reminder_responsive"]
        if s["journey.messages_sent"]
    ]
    assert statistics.mean(responsive) > 0.9


def test_the_portfolio_mixes_countries_kinds_and_payer_roles(store: Engine) -> None:
    """NL and DE, businesses and consumers, and several payer roles all occur."""
    generate(store, debtors=200, seed=1, today=NOW.date())
    sheets = list(derive_fact_sheets(store, NOW))
    assert {s["customer.country"] for s in sheets} == {"NL", "DE"}
    assert {s["customer.kind"] for s in sheets} == {"business", "consumer"}
    assert {"accounts_payable", "controller", "consumer"} <= {
        s["customer.payer_role"] for s in sheets
    }
    assert any(s["customer.consent.whatsapp"] for s in sheets)
    assert any(s["balance.open_amount"] > 0 for s in sheets)
