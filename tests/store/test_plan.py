"""`payjourney plan`: decisions become scheduled steps, exactly once, on both databases."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from engine.decision.decide import decide
from engine.decision.model import Action, Decision, FactSheet
from engine.rules.compile import CompiledRules
from engine.store import tables as t
from engine.store.generate import generate
from engine.store.planner import plan
from tests.store.builders import NOW, customer, load

S = t.ScheduledStep.__table__
J = t.Journey.__table__


def steps(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(S).order_by(S.c.id)).all())


def overdue(cid: str, *, due: str = "2026-11-01", amount: str = "450.00") -> dict[str, Any]:
    return {
        "id": f"I-{cid}",
        "customer_id": cid,
        "amount": amount,
        "issue_date": "2026-10-01",
        "due_date": due,
    }


def _pay(cid: str) -> dict[str, Any]:
    """Full payment of `overdue(cid)`'s invoice, an hour before NOW."""
    return {
        "id": f"P-{cid}",
        "customer_id": cid,
        "invoice_id": f"I-{cid}",
        "amount": "450.00",
        "paid_at": "2026-11-23T08:00:00Z",
    }


def test_planning_twice_schedules_nothing_twice(
    store: Engine, default_rules: CompiledRules
) -> None:
    """A second plan at the same time finds every step already scheduled and adds none."""
    generate(store, debtors=150, seed=5, today=NOW.date())
    decider = functools.partial(decide, default_rules)
    first = plan(store, decider, NOW, batch=40)
    rows = steps(store)
    assert first.scheduled_new == len(rows) > 0
    second = plan(store, decider, NOW, batch=40, incremental=False)
    assert second.scheduled_new == 0
    assert second.scheduled_kept == len(rows)
    assert second.cancelled == 0
    assert [(r.customer_id, r.step, r.send_at) for r in steps(store)] == [
        (r.customer_id, r.step, r.send_at) for r in rows
    ]


def test_a_dry_run_decides_but_writes_nothing(store: Engine, default_rules: CompiledRules) -> None:
    """--dry-run gives the summary and leaves the schedule and journeys empty."""
    generate(store, debtors=60, seed=2, today=NOW.date())
    summary = plan(store, functools.partial(decide, default_rules), NOW, dry_run=True)
    assert summary.debtors == 60
    assert sum(summary.actions.values()) == 60
    assert steps(store) == []
    with store.connect() as conn:
        assert conn.execute(select(J)).all() == []


def test_a_step_no_longer_decided_is_cancelled_once_the_debtor_pays(
    store: Engine, tmp_path: Path, default_rules: CompiledRules
) -> None:
    """The debtor paid after planning: re-planning cancels the scheduled reminder."""
    load(store, tmp_path, customers=[customer("C-1")], invoices=[overdue("C-1")])
    decider = functools.partial(decide, default_rules)
    plan(store, decider, NOW)
    assert [r.status for r in steps(store)] == ["scheduled"]
    load(store, tmp_path, payments=[_pay("C-1")])
    summary = plan(store, decider, NOW + dt.timedelta(hours=2))
    assert summary.cancelled == 1
    assert [r.status for r in steps(store)] == ["cancelled"]


def test_a_plan_never_cancels_a_promise_confirmation_but_does_cancel_a_first_step(
    store: Engine, tmp_path: Path, default_rules: CompiledRules
) -> None:
    """Step 0 is a promise confirmation the daemon scheduled: no plan decides it, so no plan
    may cancel it. A step 1 no longer decided is cancelled like any later step."""
    load(store, tmp_path, customers=[customer("C-1")], invoices=[overdue("C-1")])
    decider = functools.partial(decide, default_rules)
    plan(store, decider, NOW)
    [row] = steps(store)
    with store.begin() as conn:
        for number in {0, 1} - {row.step}:
            values = {k: v for k, v in row._mapping.items() if k != "id"}
            conn.execute(S.insert().values({**values, "step": number}))
    load(store, tmp_path, payments=[_pay("C-1")])
    plan(store, decider, NOW + dt.timedelta(hours=2))
    status = {r.step: r.status for r in steps(store)}
    assert status[0] == "scheduled"
    assert status[1] == "cancelled"
    assert all(s == "cancelled" for step, s in status.items() if step > 0)


def test_a_claimed_step_is_left_to_the_scheduler(
    store: Engine, tmp_path: Path, default_rules: CompiledRules
) -> None:
    """A step a scheduler has claimed is neither moved nor cancelled by planning."""
    load(store, tmp_path, customers=[customer("C-1")], invoices=[overdue("C-1")])
    decider = functools.partial(decide, default_rules)
    plan(store, decider, NOW)
    until = NOW + dt.timedelta(minutes=5)
    with store.begin() as conn:
        conn.execute(update(S).values(status="claimed", claimed_by="daemon-1", claimed_until=until))
    plan(store, decider, NOW + dt.timedelta(days=30))
    claimed = [r for r in steps(store) if r.claimed_by == "daemon-1"]
    assert len(claimed) == 1
    assert claimed[0].status == "claimed"
    assert claimed[0].claimed_until == until


@pytest.mark.mutation_postgres  # key column names: SQLite matches them in any case, PostgreSQL not
def test_a_re_plan_an_hour_later_never_moves_a_claimed_step(
    store: Engine, tmp_path: Path, default_rules: CompiledRules
) -> None:
    """Claimed at 09:00 for sending: planning again at 10:00 leaves its send time at 09:00."""
    load(store, tmp_path, customers=[customer("C-1")], invoices=[overdue("C-1")])
    decider = functools.partial(decide, default_rules)
    plan(store, decider, NOW)
    (before,) = steps(store)
    assert before.send_at == NOW  # due now: sent at once
    with store.begin() as conn:
        conn.execute(update(S).values(status="claimed", claimed_by="daemon-1"))
    summary = plan(store, decider, NOW + dt.timedelta(hours=1))
    assert summary.scheduled_kept == 1  # the same step is decided again
    (after,) = steps(store)
    assert (after.status, after.send_at, after.updated_at) == ("claimed", NOW, before.updated_at)


def test_a_re_plan_an_hour_later_moves_a_step_not_yet_claimed(
    store: Engine, tmp_path: Path, default_rules: CompiledRules
) -> None:
    """Still only scheduled at 09:00: planning again at 10:00 moves it to 10:00, created at 09:00."""
    load(store, tmp_path, customers=[customer("C-1")], invoices=[overdue("C-1")])
    decider = functools.partial(decide, default_rules)
    plan(store, decider, NOW)
    later = NOW + dt.timedelta(hours=1)
    plan(store, decider, later)
    (row,) = steps(store)
    assert (row.status, row.send_at, row.updated_at) == ("scheduled", later, later)
    assert (row.created_at, row.attempts) == (NOW, 0)


def test_the_schedule_row_carries_the_decision_and_its_trace(
    store: Engine, tmp_path: Path, default_rules: CompiledRules
) -> None:
    """Channel, template, locale, tone, amount, ruleset version and trace are stored."""
    load(store, tmp_path, customers=[customer("C-1")], invoices=[overdue("C-1")])
    decision = decide(default_rules, _sheet(store, "C-1"), NOW)
    plan(store, functools.partial(decide, default_rules), NOW)
    (row,) = steps(store)
    assert row.journey == decision.persona
    assert row.step == decision.journey_step
    assert row.channel == decision.channel
    assert row.template == decision.template
    assert row.locale == decision.locale
    assert decision.amount_due is not None
    assert row.amount_due == decision.amount_due.amount
    assert row.ruleset_version == decision.ruleset_version
    assert row.send_at == decision.send_at
    assert row.trace == [entry.to_json() for entry in decision.trace]
    with store.connect() as conn:
        journey = conn.execute(select(J)).one()
    assert (journey.customer_id, journey.persona) == ("C-1", decision.persona)


def _sheet(engine: Engine, cid: str) -> FactSheet:
    from engine.store.facts_sql import fact_sheet_for

    return fact_sheet_for(engine, cid, NOW)


def test_one_debtor_that_cannot_be_decided_does_not_stop_the_run(
    store: Engine, tmp_path: Path, default_rules: CompiledRules
) -> None:
    """A failure is reported with the customer id; the other debtors are planned."""
    customers = [customer(f"C-{n}") for n in range(3)]
    load(store, tmp_path, customers=customers, invoices=[overdue(c["id"]) for c in customers])

    def flaky(facts: FactSheet, now: dt.datetime) -> Decision:
        if facts["customer.id"] == "C-1":
            raise ValueError("broken data")
        return decide(default_rules, facts, now)

    summary = plan(store, flaky, NOW)
    assert summary.failures == [("C-1", "ValueError: broken data")]
    assert sorted({r.customer_id for r in steps(store)}) == ["C-0", "C-2"]


def test_a_new_persona_starts_its_journey_from_the_first_step(
    store: Engine, tmp_path: Path
) -> None:
    """When a debtor moves to another persona, journey.steps_sent starts again at zero."""
    load(store, tmp_path, customers=[customer("C-1")], invoices=[overdue("C-1")])

    def as_persona(persona: str) -> Any:
        def decide_(facts: FactSheet, now: dt.datetime) -> Decision:
            return Decision(
                customer_id=str(facts["customer.id"]),
                action=Action.WAIT,
                reason="test",
                persona=persona,
                journey_step=1,
                journey_steps=3,
                send_at=now + dt.timedelta(days=1),
                ruleset_version="sha256:test",
            )

        return decide_

    plan(store, as_persona("a"), NOW)
    with store.begin() as conn:
        conn.execute(update(J).values(steps_sent=2))
    plan(store, as_persona("a"), NOW)
    assert _sheet(store, "C-1")["journey.steps_sent"] == 2
    plan(store, as_persona("b"), NOW)
    assert _sheet(store, "C-1")["journey.steps_sent"] == 0


def test_a_debtor_waiting_for_the_next_step_counts_for_its_channel(
    store: Engine, default_rules: CompiledRules, tmp_path: Path
) -> None:
    """Not due yet: the summary's messages per channel still counts the waiting step."""
    load(store, tmp_path, customers=[customer("C-W")], invoices=[overdue("C-W", due="2026-12-20")])
    summary = plan(store, functools.partial(decide, default_rules), NOW, dry_run=True)
    assert summary.actions["wait"] == 1
    assert sum(summary.channels.values()) == 1


def test_planning_an_empty_store_plans_nothing_and_does_not_fail(
    store: Engine, default_rules: CompiledRules
) -> None:
    """A fresh database (right after `db upgrade`): no debtors, no steps, no error."""
    summary = plan(store, functools.partial(decide, default_rules), NOW)
    assert summary.debtors == 0
    assert steps(store) == []


def test_cancelling_paid_debtors_steps_leaves_the_others_alone_across_batches(
    store: Engine, tmp_path: Path, default_rules: CompiledRules
) -> None:
    """C-1 and C-3 pay: their steps are cancelled at the re-plan time, counted over batches."""
    customers = [customer(f"C-{n}") for n in range(4)]
    load(store, tmp_path, customers=customers, invoices=[overdue(c["id"]) for c in customers])
    decider = functools.partial(decide, default_rules)
    plan(store, decider, NOW, batch=2)
    load(store, tmp_path / "paid", payments=[_pay("C-1"), _pay("C-3")])
    later = NOW + dt.timedelta(hours=2)
    summary = plan(store, decider, later, batch=2)
    assert summary.cancelled == 2
    rows = {r.customer_id: r for r in steps(store)}
    assert {cid: r.status for cid, r in rows.items()} == {
        "C-0": "scheduled",
        "C-1": "cancelled",
        "C-2": "scheduled",
        "C-3": "cancelled",
    }
    assert rows["C-1"].updated_at == later and rows["C-0"].updated_at == later


def test_planning_records_the_journey_state_step_and_start(
    store: Engine, tmp_path: Path, default_rules: CompiledRules
) -> None:
    """A first plan starts an active journey at the decided step, nothing sent yet."""
    load(store, tmp_path, customers=[customer("C-1")], invoices=[overdue("C-1")])
    decision = decide(default_rules, _sheet(store, "C-1"), NOW)
    plan(store, functools.partial(decide, default_rules), NOW)
    with store.connect() as conn:
        journey = conn.execute(select(J)).one()
    assert (journey.state, journey.current_step, journey.steps_sent) == (
        "active",
        decision.journey_step,
        0,
    )
    assert journey.started_at == journey.updated_at == NOW
    assert journey.ruleset_version == decision.ruleset_version


def test_a_handed_over_debtors_journey_is_marked_handed_off(
    store: Engine, tmp_path: Path, default_rules: CompiledRules
) -> None:
    """A decision to hand over marks the journey handed_off."""
    load(store, tmp_path, customers=[customer("C-1")], invoices=[overdue("C-1")])

    def hand_over(facts: FactSheet, now: dt.datetime) -> Decision:
        decision = decide(default_rules, facts, now)
        return dataclasses.replace(decision, action=Action.HANDOFF, send_at=now)

    plan(store, hand_over, NOW)
    with store.connect() as conn:
        assert conn.execute(select(J.c.state)).scalar_one() == "handed_off"


@pytest.mark.parametrize("missing", ["persona", "journey_step", "send_at"])
def test_a_decision_without_persona_step_or_time_is_never_scheduled(
    store: Engine, tmp_path: Path, default_rules: CompiledRules, missing: str
) -> None:
    """Nothing is put on the schedule that a scheduler could not send."""
    load(store, tmp_path, customers=[customer("C-1")], invoices=[overdue("C-1")])

    def incomplete(facts: FactSheet, now: dt.datetime) -> Decision:
        return dataclasses.replace(decide(default_rules, facts, now), **{missing: None})

    summary = plan(store, incomplete, NOW)
    assert summary.scheduled_new == 0 and steps(store) == []


class _ClaimedWhileWriting:
    """A connection on which a scheduler claims `step_id` right after the planner's first read."""

    def __init__(self, conn: Any, step_id: int) -> None:
        self.conn, self.step_id, self.reads = conn, step_id, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)

    def execute(self, statement: Any, *args: Any) -> Any:
        result = self.conn.execute(statement, *args)
        self.reads += 1
        if self.reads != 1:
            return result
        rows = result.all()
        self.conn.execute(
            update(S).where(S.c.id == self.step_id).values(status="claimed", claimed_by="daemon-1")
        )
        return rows


def test_a_step_claimed_while_the_plan_writes_is_not_cancelled(
    store: Engine, tmp_path: Path, default_rules: CompiledRules
) -> None:
    """The planner read the step as scheduled and no longer wanted; a scheduler claims it before
    the cancel: the cancel repeats the status condition, so the claimed step stays claimed."""
    from engine.store.planner import persist_decisions

    load(store, tmp_path, customers=[customer("C-1")], invoices=[overdue("C-1")])
    plan(store, functools.partial(decide, default_rules), NOW)
    (before,) = steps(store)
    moved_on = Decision(
        customer_id="C-1",
        action=Action.WAIT,
        reason="test",
        persona=before.journey,
        journey_step=before.step + 1,
        journey_steps=before.steps,
        send_at=NOW + dt.timedelta(days=3),
        ruleset_version=before.ruleset_version,
    )
    with store.begin() as conn:
        racing: Any = _ClaimedWhileWriting(conn, before.id)
        summary = persist_decisions(racing, [moved_on], NOW)
    assert summary.cancelled == 0
    rows = {r.step: r for r in steps(store)}
    assert (rows[before.step].status, rows[before.step].claimed_by) == ("claimed", "daemon-1")
    assert rows[before.step + 1].status == "scheduled"


def test_a_debtor_who_settled_and_owes_again_is_planned_in_round_two_and_stays_there(
    store: Engine, tmp_path: Path, default_rules: CompiledRules
) -> None:
    """The journey of round 1 (two steps sent, begun a month ago) is done: the debtor paid
    everything. An invoice is overdue again: the plan starts round 2 as a new journey (no step
    sent yet, begun now) and records the round; the next plan keeps to round 2, its step and
    its start (it does not go back to round 1)."""
    load(store, tmp_path, customers=[customer("C-1")], invoices=[overdue("C-1")])
    decider = functools.partial(decide, default_rules)
    plan(store, decider, NOW)
    with store.begin() as conn:  # as the daemon marks a journey whose debtor settled
        conn.execute(
            update(J).values(state="done", steps_sent=2, started_at=NOW - dt.timedelta(days=30))
        )
    planned = []
    for moment in (NOW, NOW + dt.timedelta(hours=1)):
        plan(store, decider, moment)
        with store.connect() as conn:
            journey = conn.execute(select(J)).one()
        assert (journey.round, journey.state, journey.steps_sent, journey.started_at) == (
            2,
            "active",
            0,
            NOW,
        ), moment
        planned.append({(s.round, s.step) for s in steps(store) if s.status == "scheduled"})
    assert planned[0] == planned[1] and [r for r, _ in planned[0]] == [2]


def test_a_promise_grace_the_daemon_set_outlasts_a_plan_and_then_the_plan_decides_again(
    store: Engine, tmp_path: Path, default_rules: CompiledRules
) -> None:
    """The daemon paused the journey until 25 Nov, 09:00 UTC (a promise to pay and its grace): a
    plan before then leaves it paused until then; a plan at that very moment (the pause is
    over, as the daemon's resume job sees it) makes the journey active again and forgets the
    pause."""
    load(store, tmp_path, customers=[customer("C-1")], invoices=[overdue("C-1")])
    decider = functools.partial(decide, default_rules)
    plan(store, decider, NOW)
    until = NOW + dt.timedelta(days=2)
    with store.begin() as conn:  # as the daemon does after a promise (lifecycle.set_journey)
        conn.execute(update(J).values(state="paused", paused_until=until))

    def journey() -> tuple[str, dt.datetime | None]:
        with store.connect() as conn:
            row = conn.execute(select(J)).one()
        return row.state, row.paused_until

    plan(store, decider, NOW + dt.timedelta(hours=1))
    assert journey() == ("paused", until)
    plan(store, decider, until)
    assert journey() == ("active", None)
