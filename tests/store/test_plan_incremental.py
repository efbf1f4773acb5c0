"""The fast plan (worker processes, incremental re-plan) schedules exactly what the plain plan
schedules, and re-decides a debtor whose facts, rules or hour changed."""

from __future__ import annotations

import datetime as dt
import functools
import importlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, event, select

from engine.daemon.jobs import refresh_customers
from engine.decision.decide import decide
from engine.decision.model import Decision, FactSheet
from engine.rules.compile import CompiledRules
from engine.store import tables as t
from engine.store.facts_sql import derive_fact_sheets
from engine.store.generate import generate
from engine.store.planner import plan
from tests.store.builders import NOW, customer, load, watching

S = t.ScheduledStep.__table__
J = t.Journey.__table__
FP = t.PlanFingerprint.__table__
#: The module (its name is taken by the function in `engine.decision`).
decide_module = importlib.import_module("engine.decision.decide")
DEBTORS = 120
SMALL = 40


def schedule(engine: Engine) -> list[tuple[Any, ...]]:
    """Every step and journey as planned, in a stable order (ids aside)."""
    with engine.connect() as conn:
        steps = conn.execute(
            select(
                *[c for c in S.columns if c.name not in ("id", "created_at", "updated_at")]
            ).order_by(S.c.customer_id, S.c.journey, S.c.step)
        ).all()
        journeys = conn.execute(
            select(*[c for c in J.columns if c.name != "id"]).order_by(J.c.customer_id)
        ).all()
    return [tuple(r) for r in steps] + [tuple(r) for r in journeys]


def unplan(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in (FP, S, J):
            conn.execute(delete(table))


#: The rules version told to a plan that decides with a plain function (it cannot read one).
RULES = "sha256:the-same-rules"


def owed(cid: str) -> dict[str, str]:
    """The one open invoice of `owe`: 450.00, due 1 November 2026, id `I-<customer>`."""
    return {
        "id": f"I-{cid}",
        "customer_id": cid,
        "amount": "450.00",
        "issue_date": "2026-10-01",
        "due_date": "2026-11-01",
    }


def owe(store: Engine, directory: Path, ids: Sequence[str]) -> None:
    """Import the customers `ids`, in that order, each with its one open invoice (`owed`)."""
    load(store, directory, customers=[customer(cid) for cid in ids], invoices=list(map(owed, ids)))


def paid(cid: str, amount: str = "1.00", *, key: str = "P") -> dict[str, str]:
    """A payment on the customer's `owed` invoice, on the morning of NOW (id `<key>-<customer>`)."""
    return {
        "id": f"{key}-{cid}",
        "customer_id": cid,
        "invoice_id": f"I-{cid}",
        "amount": amount,
        "paid_at": "2026-11-23T08:30:00Z",
    }


@pytest.mark.mutation_postgres  # worker processes plan only on PostgreSQL
def test_workers_and_incremental_plan_schedule_what_the_plain_plan_schedules(
    store: Engine, default_rules: CompiledRules
) -> None:
    """Chunks in worker processes (PostgreSQL), then an incremental re-plan: the same steps,
    send times, traces and journeys as one plain plan in this process."""
    generate(store, debtors=DEBTORS, seed=11, today=NOW.date())
    decider = functools.partial(decide, default_rules)
    plain = plan(store, decider, NOW, batch=DEBTORS, workers=1, incremental=False)
    first = schedule(store)
    # a journey's start narrows its messages_sent: the second plan sees those facts changed
    plan(store, decider, NOW, batch=DEBTORS, workers=1, incremental=False)
    second = schedule(store)
    assert plain.scheduled_new > 0
    unplan(store)
    told: list[int] = []
    fast = plan(store, decider, NOW, batch=30, workers=2, progress=told.append)
    assert told == [30] * (DEBTORS // 30)  # each chunk's debtors, from the workers too
    # each worker's reading time is a part of the run's: the sum fits in workers x wall time
    assert 0 < fast.facts_seconds <= fast.seconds * fast.workers
    assert schedule(store) == first
    assert (fast.actions, fast.scheduled_new, fast.unchanged) == (
        plain.actions,
        plain.scheduled_new,
        0,
    )
    again = plan(store, decider, NOW, batch=30, workers=2)
    assert schedule(store) == second
    assert 0 < again.unchanged < DEBTORS
    third = plan(store, decider, NOW + dt.timedelta(minutes=40), batch=30, workers=2)
    assert (third.debtors, third.unchanged, third.scheduled_new) == (DEBTORS, DEBTORS, 0)
    assert schedule(store) == second


def test_a_changed_fact_rules_or_hour_is_decided_again(
    store: Engine, tmp_path: Path, default_rules: CompiledRules
) -> None:
    """After a plan, a payment re-decides its debtor only; other rules or the next hour
    re-decide everyone; a debtor re-decided after an event is decided again by the next plan."""
    generate(store, debtors=SMALL, seed=3, today=NOW.date())
    decider = functools.partial(decide, default_rules)
    plan(store, decider, NOW, batch=15)
    plan(store, decider, NOW, batch=15)  # the journeys' start settles messages_sent
    # a debtor who owes something (the facts of one with nothing open are its balance alone)
    owing = next(
        str(s["customer.id"]) for s in derive_fact_sheets(store, NOW) if s["balance.open_amount"]
    )
    with store.connect() as conn:
        invoice = conn.execute(
            select(t.Invoice.__table__)
            .where(t.Invoice.__table__.c.customer_id == owing)
            .order_by(t.Invoice.__table__.c.id)
            .limit(1)
        ).one()
    payment = {
        "id": "P-incremental",
        "customer_id": invoice.customer_id,
        "invoice_id": invoice.id,
        "amount": "1.00",
        "paid_at": "2026-11-23T08:30:00Z",
    }
    load(store, tmp_path, payments=[payment])
    paid = plan(store, decider, NOW, batch=15)
    assert (paid.debtors, paid.unchanged) == (SMALL, SMALL - 1)
    assert sum(paid.actions.values()) == 1
    other_rules = plan(store, decider, NOW, batch=15, ruleset_version="sha256:other")
    assert other_rules.unchanged == 0
    next_hour = plan(store, decider, NOW + dt.timedelta(hours=1), batch=15)
    assert next_hour.unchanged == 0
    refresh_customers(
        store,
        default_rules,
        [invoice.customer_id],
        NOW + dt.timedelta(hours=1),
        grace=dt.timedelta(days=1),
    )
    after_event = plan(store, decider, NOW + dt.timedelta(hours=1), batch=15)
    assert after_event.unchanged == SMALL - 1
    full = plan(store, decider, NOW + dt.timedelta(hours=1), batch=15, incremental=False)
    assert full.unchanged == 0 and sum(full.actions.values()) == SMALL


def test_the_planners_read_decides_every_debtor_as_its_full_fact_sheet_does(
    store: Engine, default_rules: CompiledRules
) -> None:
    """The plan reads only the balance of a debtor with nothing open (not its behaviour,
    messages or contact), and explains its debtors with persona notes shared between
    debtors of one classification: each decision, trace included, is still the one its full
    fact sheet gives alone, for debtors with and without something open."""
    generate(store, debtors=DEBTORS, seed=5, today=NOW.date())

    def explained_alone(sheet: FactSheet) -> Decision:
        # the trace built from an empty memo of persona notes (the plan's share them)
        decision = decide(default_rules, sheet, NOW)
        decide_module._NOTES.clear()
        assert len(decision.trace) > 0
        return decision

    full = {str(s["customer.id"]): explained_alone(s) for s in derive_fact_sheets(store, NOW)}
    planned: dict[str, Decision] = {}

    def recording(sheet: FactSheet, now: dt.datetime) -> Decision:
        decision = decide(default_rules, sheet, now)
        planned[str(sheet["customer.id"])] = decision
        return decision

    plan(store, recording, NOW, batch=50, workers=1, dry_run=True)
    assert planned == full
    settled = [d for d in full.values() if d.reason.startswith("nothing is open")]
    assert 0 < len(settled) < DEBTORS  # both kinds of debtor were planned


def test_a_re_plan_decides_again_only_the_changed_debtors_asked_for_chunk_by_chunk(
    store: Engine, tmp_path: Path, default_rules: CompiledRules
) -> None:
    """Five debtors in chunks of two (C-1 C-2 | C-3 C-4 | C-5); C-2 and C-5 pay something. A
    re-plan of C-1 to C-4 decides C-2 alone and counts the chunks it read; the next plan of
    everyone decides C-5 alone."""
    ids = [f"C-{n}" for n in range(1, 6)]
    owe(store, tmp_path, ids)
    seen, watch = watching(default_rules)

    plan(store, watch, NOW, batch=2, ruleset_version=RULES)
    plan(
        store, watch, NOW, batch=2, ruleset_version=RULES
    )  # the journeys' start settles messages_sent
    payments = [paid(cid) for cid in ("C-2", "C-5")]
    load(store, tmp_path, payments=payments)
    seen.clear()
    told: list[int] = []
    scoped = plan(
        store,
        watch,
        NOW,
        batch=2,
        progress=told.append,
        customer_ids=ids[:4],
        ruleset_version=RULES,
    )
    assert seen == ["C-2"]
    assert (scoped.debtors, scoped.unchanged) == (4, 3)
    seen.clear()
    told.clear()
    everyone = plan(store, watch, NOW, batch=2, progress=told.append, ruleset_version=RULES)
    assert seen == ["C-5"]
    assert (everyone.debtors, everyone.unchanged) == (5, 4)
    assert sum(told) == 5  # read by id, yet the progress bar counts the whole portfolio
    # more changed debtors than a batch: read by id in parts of two, each exactly once
    load(store, tmp_path, payments=[paid(cid, key="P2") for cid in ("C-1", "C-3", "C-4")])
    seen.clear()
    # in this process (on PostgreSQL two parts would go to two worker processes, out of `seen`)
    plan(store, watch, NOW, batch=2, customer_ids=ids[:4], ruleset_version=RULES, workers=1)
    assert seen == ["C-1", "C-3", "C-4"]


def test_a_re_plan_after_many_changes_decides_each_changed_debtor_once_first_and_last_included(
    store: Engine, tmp_path: Path, default_rules: CompiledRules
) -> None:
    """Nine debtors, imported out of id order, in chunks of four (C-1..C-4 | C-5..C-8 | C-9).
    C-1, C-6, C-7 and C-9 pay something: more than a quarter of the portfolio changed, so the
    re-plan goes range by range (a range with one changed debtor read by id, one with two read
    whole). It decides exactly those four again, once each: the very first and the very last
    id included; the next plan decides nobody."""
    ids = [f"C-{n}" for n in range(1, 10)]
    shuffled = ["C-5", "C-9", "C-2", "C-7", "C-1", "C-8", "C-4", "C-6", "C-3"]
    assert sorted(shuffled) == ids
    owe(store, tmp_path, shuffled)
    seen, watch = watching(default_rules)

    plan(store, watch, NOW, batch=4, ruleset_version=RULES, workers=1)
    plan(store, watch, NOW, batch=4, ruleset_version=RULES, workers=1)  # messages_sent settles
    changed = ["C-1", "C-6", "C-7", "C-9"]
    payments = [paid(cid) for cid in changed]
    load(store, tmp_path, payments=payments)
    seen.clear()
    told: list[int] = []
    again = plan(store, watch, NOW, batch=4, ruleset_version=RULES, workers=1, progress=told.append)
    assert seen == changed
    assert (again.debtors, again.unchanged) == (9, 5)
    assert sum(told) == 9  # the progress bar counts the whole portfolio, range by range
    seen.clear()
    assert plan(store, watch, NOW, batch=4, ruleset_version=RULES, workers=1).unchanged == 9
    assert seen == []
    # C-2, C-3 and C-9 pay: the middle range, without a change, is passed over, and the
    # last one still read
    load(store, tmp_path, payments=[paid(cid, key="P3") for cid in ("C-2", "C-3", "C-9")])
    seen.clear()
    plan(store, watch, NOW, batch=4, ruleset_version=RULES, workers=1)
    assert seen == ["C-2", "C-3", "C-9"]


def test_a_debtor_settled_and_re_decided_alone_is_not_decided_again_when_its_range_is_read(
    store: Engine, tmp_path: Path, default_rules: CompiledRules
) -> None:
    """C-3 pays in full and a re-plan decides it alone (read by id). Then C-1, C-2 and C-4 pay
    something: their range, C-3's too, is read whole, and C-3, unchanged since, is not decided
    again (both reads see the same facts of a debtor with nothing open)."""
    ids = [f"C-{n}" for n in range(1, 10)]
    owe(store, tmp_path, ids)
    seen, watch = watching(default_rules)

    plan(store, watch, NOW, batch=4, ruleset_version=RULES, workers=1)
    plan(store, watch, NOW, batch=4, ruleset_version=RULES, workers=1)  # messages_sent settles
    load(store, tmp_path, payments=[paid("C-3", "450.00")])
    seen.clear()
    alone = plan(store, watch, NOW, batch=4, ruleset_version=RULES, workers=1)
    assert seen == ["C-3"] and alone.actions == {"none": 1}
    load(store, tmp_path, payments=[paid(cid) for cid in ("C-1", "C-2", "C-4")])
    seen.clear()
    plan(store, watch, NOW, batch=4, ruleset_version=RULES, workers=1)
    assert seen == ["C-1", "C-2", "C-4"]


def test_a_plan_of_1600_debtors_named_by_id_reads_them_in_statements_sqlite_can_take(
    store: Engine, tmp_path: Path, default_rules: CompiledRules
) -> None:
    """A plan asked for 1,600 customer ids (a list from a file: most of them not, or no longer,
    in the store) reads them in parts: the facts query names each id about twenty times, and
    SQLite takes at most 32,766 values a statement (its own default; Debian's build allows
    250,000, so the test sets the default). The two debtors that exist are planned; the
    second part of the list, none of whose ids exists, reads nothing."""
    if store.dialect.name == "sqlite":

        def stock_limit(dbapi: sqlite3.Connection, _: object) -> None:
            dbapi.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 32766)

        event.listen(store, "connect", stock_limit)
        store.dispose()  # connections made from here on have the limit
    owe(store, tmp_path, ["C-0001", "C-0002"])
    asked = [f"C-{n:04d}" for n in range(1, 1601)]
    summary = plan(
        store,
        functools.partial(decide, default_rules),
        NOW,
        customer_ids=asked,
        incremental=False,
        workers=1,
    )
    assert (summary.debtors, sum(summary.actions.values())) == (2, 2)


def test_the_planners_fact_sheets_say_which_debtors_are_legally_in_default(
    store: Engine, default_rules: CompiledRules
) -> None:
    """Each owing debtor's `balance.in_default` as the plan reads it is the one of its full
    fact sheet: some are in default, some are not (yet)."""
    generate(store, debtors=DEBTORS, seed=5, today=NOW.date())
    full = {
        str(s["customer.id"]): s["balance.in_default"]
        for s in derive_fact_sheets(store, NOW)
        if s["balance.open_amount"]
    }
    planned: dict[str, Any] = {}

    def recording(sheet: FactSheet, now: dt.datetime) -> Decision:
        if sheet["balance.open_amount"]:
            planned[str(sheet["customer.id"])] = sheet["balance.in_default"]
        return decide(default_rules, sheet, now)

    plan(store, recording, NOW, batch=50, workers=1, dry_run=True)
    assert planned == full
    assert set(full.values()) == {True, False}


def test_a_debtor_touched_without_a_change_of_facts_is_current_again_after_a_re_plan(
    store: Engine, tmp_path: Path, default_rules: CompiledRules
) -> None:
    """C-2's row is imported again as it was: the write marks its fingerprint stale, but its
    facts are the same. The re-plan does not decide it again, and marks it current, so the next re-plan need
    not read it either."""
    ids = ["C-1", "C-2", "C-3"]
    owe(store, tmp_path, ids)
    seen, watch = watching(default_rules)

    def salts() -> dict[str, str | None]:
        with store.connect() as conn:
            return dict(conn.execute(select(FP.c.customer_id, FP.c.salt)).all())

    plan(store, watch, NOW, batch=2, ruleset_version=RULES, workers=1)
    plan(store, watch, NOW, batch=2, ruleset_version=RULES, workers=1)  # messages_sent settles
    current = salts()["C-1"]
    assert current is not None and salts() == dict.fromkeys(ids, current)
    load(store, tmp_path, customers=[customer("C-2")])
    assert salts()["C-2"] is None  # the write marked it stale
    seen.clear()
    again = plan(store, watch, NOW, batch=2, ruleset_version=RULES, workers=1)
    assert seen == [] and again.unchanged == 3
    assert salts() == dict.fromkeys(ids, current)


def test_a_debtor_that_could_not_be_decided_is_decided_by_the_next_plan_in_the_same_hour(
    store: Engine, tmp_path: Path, default_rules: CompiledRules
) -> None:
    """On PostgreSQL the facts read stores every fingerprint it computes; a debtor whose
    decision failed has none after the plan (in worker processes too), so the next plan
    in the same hour, with its facts unchanged, decides it and schedules its step."""
    ids = [f"C-{n}" for n in range(1, 7)]
    owe(store, tmp_path, ids)

    def flaky(facts: FactSheet, now: dt.datetime) -> Decision:
        if facts["customer.id"] == "C-4":
            raise ValueError("broken data")
        return decide(default_rules, facts, now)

    first = plan(store, flaky, NOW, batch=2, workers=2, ruleset_version=RULES)
    assert first.failures == [("C-4", "ValueError: broken data")]
    with store.connect() as conn:
        printed = set(conn.execute(select(FP.c.customer_id)).scalars())
    assert printed == set(ids) - {"C-4"}
    decider = functools.partial(decide, default_rules)
    second = plan(store, decider, NOW, batch=2, workers=2, ruleset_version=RULES)
    assert second.failures == []
    with store.connect() as conn:
        planned = set(conn.execute(select(S.c.customer_id)).scalars())
    assert planned == set(ids)
    # the journeys' start settles messages_sent; then nothing is left to decide
    plan(store, decider, NOW, batch=2, workers=2, ruleset_version=RULES)
    last = plan(store, decider, NOW, batch=2, workers=2, ruleset_version=RULES)
    assert (last.debtors, last.unchanged) == (len(ids), len(ids))
