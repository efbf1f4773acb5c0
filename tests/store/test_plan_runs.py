"""How a plan run goes: chunks and their summary, timing, progress, scope, the schedule row of a
decision, the money and channel counts, and `persist_decisions` for the daemon."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, select, update

from engine.decision.decide import decide
from engine.decision.model import Action, Decision, FactSheet, Money
from engine.rules.compile import CompiledRules
from engine.store import planner
from engine.store import tables as t
from engine.store.generate import generate
from engine.store.planner import PlanSummary, persist_decisions, plan, ruleset_version_of
from tests.store.builders import NOW, customer, load, watching

S = t.ScheduledStep.__table__
J = t.Journey.__table__
FP = t.PlanFingerprint.__table__
C = t.Customer.__table__


def overdue(cid: str, days: int = 22, amount: str = "450.00") -> dict[str, Any]:
    due = (NOW - dt.timedelta(days=days)).date().isoformat()
    return {"id": f"I-{cid}", "customer_id": cid, "amount": amount, "issue_date": "2026-09-01",
            "due_date": due}  # fmt: skip


def debtors(store: Engine, tmp_path: Path, *ids: str) -> None:
    load(store, tmp_path, customers=[customer(i) for i in ids], invoices=[overdue(i) for i in ids])


def counts(summary: PlanSummary) -> tuple[Any, ...]:
    return (
        summary.debtors,
        summary.actions,
        summary.personas,
        summary.channels,
        summary.steps,
        summary.open_by_persona,
        summary.open_by_ageing,
        summary.debtors_by_ageing,
        sorted(summary.failures),
        summary.scheduled_new,
        summary.scheduled_kept,
        summary.cancelled,
    )


def unplan(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in (FP, S, J):
            conn.execute(delete(table))


def test_a_plan_in_chunks_counts_what_a_plan_in_one_chunk_counts(
    store: Engine, default_rules: CompiledRules
) -> None:
    """Every count of the summary (debtors, actions, personas, channels, steps, money, ageing,
    failures, new and kept steps) is the sum over the chunks."""
    generate(store, debtors=45, seed=8, today=NOW.date())

    def flaky(facts: FactSheet, now: dt.datetime) -> Decision:
        if str(facts["customer.id"])[-1] in "37":  # a failure in several chunks
            raise ValueError(f"broken {facts['customer.id']}")
        return decide(default_rules, facts, now)

    whole = plan(store, flaky, NOW, batch=1000, incremental=False)
    whole_again = plan(store, flaky, NOW, batch=1000, incremental=False)
    unplan(store)
    chunked = plan(store, flaky, NOW, batch=7, incremental=False)
    chunked_again = plan(store, flaky, NOW, batch=7, incremental=False)
    assert len(whole.failures) > 1 and whole.scheduled_new > 0 and whole_again.scheduled_kept > 0
    assert len(whole.open_by_persona) > 1 and len(whole.debtors_by_ageing) > 1
    assert counts(chunked) == counts(whole)
    assert counts(chunked_again) == counts(whole_again)


class _Ticks:
    """A performance counter that moves one second each time it is read."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 1
        return self.now


def test_each_phase_is_timed_once_per_chunk_and_the_times_add_up(
    store: Engine, tmp_path: Path, default_rules: CompiledRules, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Waiting for facts (the prefetch and the shaping), deciding and writing each count for
    every chunk; the run's time covers all of them."""
    debtors(store, tmp_path, *(f"C-{n}" for n in range(5)))
    ticks = _Ticks()
    monkeypatch.setattr(planner, "time", ticks)
    summary = plan(store, functools.partial(decide, default_rules), NOW, batch=2)
    chunks = 3
    assert (summary.facts_seconds, summary.decide_seconds, summary.persist_seconds) == (
        2 * chunks,
        chunks,
        chunks,
    )
    assert summary.seconds == ticks.now - 1  # from the first reading to the last
    dry = plan(store, functools.partial(decide, default_rules), NOW, batch=2, dry_run=True)
    assert (dry.facts_seconds, dry.decide_seconds, dry.persist_seconds) == (6, 3, 0)


def test_progress_is_told_each_chunk_s_debtors_and_adds_up_to_the_portfolio(
    store: Engine, tmp_path: Path, default_rules: CompiledRules
) -> None:
    """Five alive debtors (one forgotten) in chunks of two: 2, 2, 1. Chosen customers (given
    twice, out of order) in chunks of two: 2, 1."""
    debtors(store, tmp_path, *(f"C-{n}" for n in range(6)))
    with store.begin() as conn:
        conn.execute(update(C).where(C.c.id == "C-5").values(forgotten_at=NOW))
    decider = functools.partial(decide, default_rules)
    told: list[int] = []
    summary = plan(store, decider, NOW, batch=2, progress=told.append, dry_run=True)
    assert told == [2, 2, 1] and summary.debtors == 5
    told.clear()
    chosen = plan(
        store,
        decider,
        NOW,
        batch=2,
        progress=told.append,
        customer_ids=["C-3", "C-1", "C-4", "C-1"],
    )
    assert told == [2, 1]
    assert (chosen.debtors, chosen.scheduled_new) == (3, 3)
    with store.connect() as conn:
        planned = conn.execute(select(S.c.customer_id).order_by(S.c.customer_id)).scalars().all()
    assert planned == ["C-1", "C-3", "C-4"]
    assert (
        plan(store, decider, NOW, progress=told.append, dry_run=True, prefetch=False).debtors == 5
    )


def test_a_forgotten_customer_is_never_decided(
    store: Engine, tmp_path: Path, default_rules: CompiledRules
) -> None:
    debtors(store, tmp_path, "C-1", "C-2")
    with store.begin() as conn:
        conn.execute(update(C).where(C.c.id == "C-2").values(forgotten_at=NOW))
    seen, watch = watching(default_rules)

    summary = plan(store, watch, NOW)
    assert seen == ["C-1"] and summary.debtors == 1
    seen.clear()
    assert plan(store, watch, NOW, customer_ids=["C-1", "C-2"], incremental=False).debtors == 1
    assert seen == ["C-1"]


def test_a_plan_needs_an_aware_time(store: Engine, default_rules: CompiledRules) -> None:
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        plan(store, functools.partial(decide, default_rules), NOW.replace(tzinfo=None))


def test_a_stopped_plan_stops_reading_facts_ahead(
    store: Engine, tmp_path: Path, default_rules: CompiledRules
) -> None:
    """A plan that ends early (here: its progress callback fails) leaves no fact-reading thread
    behind, even while the error is still being handled."""
    debtors(store, tmp_path, *(f"C-{n}" for n in range(8)))

    def stop(size: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        plan(store, functools.partial(decide, default_rules), NOW, batch=1, progress=stop)
    assert not [th for th in threading.enumerate() if th.name == "payjourney-facts"]


# ------------------------------------------------------------------ ruleset version, fingerprints


def test_the_ruleset_version_is_read_from_the_bound_rules(default_rules: CompiledRules) -> None:
    assert ruleset_version_of(functools.partial(decide, default_rules)) == default_rules.version
    assert ruleset_version_of(decide) is None  # type: ignore[arg-type]
    assert ruleset_version_of(functools.partial(decide, None, 3)) is None  # type: ignore[arg-type]


def _fingerprints(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(FP.c.customer_id).order_by(FP.c.customer_id)).scalars())


def test_without_a_known_ruleset_version_every_plan_decides_everyone(
    store: Engine, tmp_path: Path, default_rules: CompiledRules
) -> None:
    """A decider whose rules cannot be told (a plain function) stores no fingerprints; given
    `ruleset_version`, it does and the next plan skips the unchanged debtors. A dry run stores
    none either."""
    debtors(store, tmp_path, "C-1", "C-2")

    def plain(facts: FactSheet, now: dt.datetime) -> Decision:
        return decide(default_rules, facts, now)

    plan(store, plain, NOW, dry_run=True, ruleset_version="sha256:x")
    assert _fingerprints(store) == []
    plan(store, plain, NOW)
    assert _fingerprints(store) == []
    assert plan(store, plain, NOW).unchanged == 0
    plan(store, plain, NOW, ruleset_version="sha256:x")
    plan(store, plain, NOW, ruleset_version="sha256:x")  # journeys settled: facts now stable
    assert _fingerprints(store) == ["C-1", "C-2"]
    again = plan(store, plain, NOW, ruleset_version="sha256:x")
    assert (again.unchanged, again.debtors, sum(again.actions.values())) == (2, 2, 0)
    assert plan(store, plain, NOW, ruleset_version="sha256:x", incremental=False).unchanged == 0


def test_persisting_a_few_fresh_decisions_forgets_their_fingerprints(
    store: Engine, tmp_path: Path, default_rules: CompiledRules
) -> None:
    """The daemon writes one debtor's new decision as a plan would; the next plan decides that
    debtor again and skips the others."""
    debtors(store, tmp_path, "C-1", "C-2", "C-3")
    decider = functools.partial(decide, default_rules)
    plan(store, decider, NOW)
    plan(store, decider, NOW)
    assert plan(store, decider, NOW).unchanged == 3
    from engine.store.facts_sql import fact_sheet_for

    fresh = decide(default_rules, fact_sheet_for(store, "C-2", NOW), NOW)
    moved = dataclasses.replace(fresh, send_at=NOW + dt.timedelta(days=2))
    with store.begin() as conn:
        summary = persist_decisions(conn, [moved], NOW)
    assert (summary.scheduled_kept, summary.scheduled_new) == (1, 0)
    with store.connect() as conn:
        send_at = conn.execute(select(S.c.send_at).where(S.c.customer_id == "C-2")).scalar_one()
    assert send_at == NOW + dt.timedelta(days=2)
    assert _fingerprints(store) == ["C-1", "C-3"]
    assert plan(store, decider, NOW).unchanged == 2


# ------------------------------------------------------------------ decisions, counted and stored


def _decision(cid: str, now: dt.datetime, **fields: Any) -> Decision:
    base: dict[str, Any] = {
        "customer_id": cid,
        "action": Action.SEND,
        "reason": "test",
        "persona": "p",
        "journey_step": 1,
        "journey_steps": 3,
        "template": "reminder-1",
        "channel": "email",
        "send_at": now,
        "ruleset_version": "sha256:test",
        "amount_due": Money(amount=Decimal("100.00"), currency="EUR"),
    }
    base.update(fields)
    return Decision(**base)


def scripted(**by_customer: dict[str, Any]) -> Any:
    def decide_(facts: FactSheet, now: dt.datetime) -> Decision:
        cid = str(facts["customer.id"])
        return _decision(cid, now, **by_customer.get(cid.replace("-", "_"), {}))

    return decide_


def test_open_money_counts_per_persona_and_ageing_in_euros_only(
    store: Engine, tmp_path: Path
) -> None:
    """Open EUR amounts sum per persona and ageing bucket; a debtor in another currency counts in
    its bucket but its money is not added; nothing owed (zero or unknown) counts nowhere."""
    debtors(store, tmp_path, "C-1", "C-2", "C-3", "C-4", "C-5", "C-6")
    decider = scripted(
        C_2={"amount_due": Money(amount=Decimal("50.50"), currency="EUR"), "persona": "q"},
        C_3={"amount_due": Money(amount=Decimal("900"), currency="CHF")},
        C_4={"amount_due": Money(amount=Decimal("0"), currency="EUR")},
        C_5={"amount_due": None},
        C_6={"persona": None, "action": Action.NONE},
    )
    summary = plan(store, decider, NOW, dry_run=True)
    assert summary.open_by_persona == {"p": Decimal("100.00"), "q": Decimal("50.50")}
    assert summary.open_by_ageing == {"1-30": Decimal("250.50")}
    assert summary.debtors_by_ageing == {"1-30": 4}
    assert summary.personas == {"p": 4, "q": 1}


def test_open_money_of_a_persona_sums_over_every_chunk_of_the_plan(
    store: Engine, tmp_path: Path
) -> None:
    """Three debtors of persona p, 100.00 open each, planned in one chunk and one per chunk:
    p's open money and the bucket's are 300.00 (not the last debtor's or chunk's 100.00), and
    the step they are at counts three."""
    debtors(store, tmp_path, "C-1", "C-2", "C-3")
    for batch in (1000, 1):
        summary = plan(store, scripted(), NOW, dry_run=True, batch=batch)
        assert summary.open_by_persona == {"p": Decimal("300.00")}, batch
        assert summary.open_by_ageing == {"1-30": Decimal("300.00")}, batch
        assert summary.steps == {("p", 1, "reminder-1"): 3}, batch


def test_channels_count_messages_sent_or_waiting_and_steps_count_per_template(
    store: Engine, tmp_path: Path
) -> None:
    """A handover or a decision without a channel is no message; a step without a template is
    counted under "-"; a decision without a persona or step counts for no step."""
    debtors(store, tmp_path, "C-1", "C-2", "C-3", "C-4", "C-5", "C-6")
    decider = scripted(
        C_2={"action": Action.WAIT, "channel": "sms", "journey_step": 2},
        C_3={"action": Action.HANDOFF, "channel": "letter", "template": None, "journey_step": 3},
        C_4={"channel": None, "template": None},
        C_5={"journey_step": None},
        C_6={"persona": None},
    )
    summary = plan(store, decider, NOW, dry_run=True)
    assert summary.channels == {"email": 3, "sms": 1}
    assert summary.actions == {"send": 4, "wait": 1, "handoff": 1}
    assert summary.steps == {("p", 1, "reminder-1"): 1, ("p", 2, "reminder-1"): 1,
                             ("p", 3, "-"): 1, ("p", 1, "-"): 1}  # fmt: skip


def test_the_schedule_row_keeps_fallbacks_options_tone_and_step_count(
    store: Engine, tmp_path: Path
) -> None:
    """Fallback channels and their wait in seconds, payment options, tone, locale, currency; a
    step without a known count stores 0, a debtor owing nothing stores no amount."""
    debtors(store, tmp_path, "C-1", "C-2")
    decider = scripted(
        C_1={
            "fallback_channels": ("sms", "letter"),
            "fallback_after": dt.timedelta(hours=36),
            "payment_options": ("ideal", "bank_transfer"),
            "tone": "sie",
            "locale": "de_DE",
            "amount_due": Money(amount=Decimal("12.34"), currency="CHF"),
        },
        C_2={"journey_steps": None, "amount_due": None},
    )
    plan(store, decider, NOW)
    with store.connect() as conn:
        rows = {r.customer_id: r for r in conn.execute(select(S))}
    one, two = rows["C-1"], rows["C-2"]
    assert (one.fallback_channels, one.fallback_after_s) == (["sms", "letter"], 129_600)
    assert (one.payment_options, one.tone, one.locale) == (
        ["ideal", "bank_transfer"],
        "sie",
        "de_DE",
    )
    assert (one.amount_due, one.currency, one.steps, one.action) == (
        Decimal("12.34"),
        "CHF",
        3,
        "send",
    )
    assert (one.status, one.attempts, one.created_at, one.template) == (
        "scheduled",
        0,
        NOW,
        "reminder-1",
    )
    assert (two.steps, two.amount_due, two.currency, two.fallback_after_s) == (0, None, None, None)
    assert (two.fallback_channels, two.payment_options) == ([], [])


def test_worker_processes_plan_only_on_postgresql_from_a_process_without_threads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """One per core (at most 8) on PostgreSQL where processes can fork; one in a process that
    runs other threads (a fork copies their locks), one on SQLite (one writer)."""
    from types import SimpleNamespace

    from engine.store.db import make_engine
    from engine.store.planner import default_workers

    postgresql: Any = SimpleNamespace(dialect=SimpleNamespace(name="postgresql"))
    sqlite = make_engine(f"sqlite:///{tmp_path / 'pj.db'}")
    monkeypatch.setattr(planner.threading, "active_count", lambda: 1)
    for cores, workers in ((16, 8), (3, 3), (None, 1)):
        monkeypatch.setattr(planner.os, "cpu_count", lambda cores=cores: cores)
        assert (default_workers(postgresql), default_workers(sqlite)) == (workers, 1)
    monkeypatch.setattr(planner.os, "cpu_count", lambda: 4)
    monkeypatch.setattr(planner.threading, "active_count", lambda: 2)
    assert default_workers(postgresql) == 1
    monkeypatch.setattr(planner.threading, "active_count", lambda: 1)
    monkeypatch.setattr(planner.multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    assert default_workers(postgresql) == 1
    sqlite.dispose()


@pytest.mark.mutation_postgres  # ANALYZE (and the WAL flush before it) runs only on PostgreSQL
def test_a_large_plan_leaves_the_statistics_of_what_it_wrote_current(
    store: Engine, default_rules: CompiledRules, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a plan that decided many debtors, PostgreSQL's statistics of the schedule,
    journeys and fingerprints count what it wrote (the daemon's next statements are planned
    from them); a plan that decided few leaves them be."""
    if store.dialect.name != "postgresql":
        pytest.skip("statistics are PostgreSQL's")
    monkeypatch.setattr(planner, "ANALYZE_MIN", 10)
    generate(store, debtors=30, seed=2, today=NOW.date())

    def analysed() -> dict[str, Any]:
        with store.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT relname, last_analyze FROM pg_stat_user_tables"
                " WHERE relname IN ('scheduled_step', 'journey', 'plan_fingerprint')"
            )
            return dict(rows.all())

    before = analysed()  # the database serves the whole test run: maybe analysed earlier
    decider = functools.partial(decide, default_rules)
    plan(store, decider, NOW, batch=10, workers=1)
    after_large = analysed()
    for table, when in after_large.items():
        assert when is not None and (before.get(table) is None or when > before[table])
    monkeypatch.setattr(planner, "ANALYZE_MIN", 1000)
    plan(store, decider, NOW + dt.timedelta(hours=1), batch=10, workers=1)
    assert analysed() == after_large


def test_a_re_plan_of_named_customers_counts_only_the_living(
    store: Engine, tmp_path: Path, default_rules: CompiledRules
) -> None:
    """C-2 was forgotten (GDPR): a re-plan asked for C-1 and C-2 decides C-1 and counts one
    debtor, none of them unchanged."""
    debtors(store, tmp_path, "C-1", "C-2")
    with store.begin() as conn:
        conn.execute(update(C).where(C.c.id == "C-2").values(forgotten_at=NOW))
    seen, watch = watching(default_rules)

    summary = plan(
        store, watch, NOW, customer_ids=["C-1", "C-2"], ruleset_version="sha256:the-same-rules"
    )
    assert seen == ["C-1"] and (summary.debtors, summary.unchanged) == (1, 0)


def test_a_debtor_whose_decision_failed_is_decided_again_by_the_next_plan(
    store: Engine, tmp_path: Path, default_rules: CompiledRules
) -> None:
    """Deciding C-2 fails once: the plan reports it, and the next plan of the same rules in the
    same hour decides C-2 again (its facts are not remembered as planned) and schedules it."""
    debtors(store, tmp_path, "C-1", "C-2", "C-3")
    failing = {"C-2"}
    seen: list[str] = []

    def flaky(facts: FactSheet, now: dt.datetime) -> Decision:
        cid = str(facts["customer.id"])
        seen.append(cid)
        if cid in failing:
            failing.discard(cid)
            raise ValueError(f"broken {cid}")
        return decide(default_rules, facts, now)

    rules = "sha256:the-same-rules"
    first = plan(store, flaky, NOW, ruleset_version=rules, workers=1)
    assert [cid for cid, _ in first.failures] == ["C-2"]
    seen.clear()
    again = plan(store, flaky, NOW, ruleset_version=rules, workers=1)
    assert "C-2" in seen and not again.failures
    with store.connect() as conn:
        planned = set(conn.execute(select(S.c.customer_id)).scalars())
    assert "C-2" in planned
