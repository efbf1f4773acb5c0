"""`payjourney plan`: facts -> decision core -> scheduled steps, for the whole portfolio in batches.

Planning is idempotent: a step is keyed by (customer, journey, step, ruleset version), so planning
twice schedules nothing twice; a planned step not yet claimed follows the latest decision (its
send time may move) and a step no longer decided is cancelled. Claimed or sent steps are never
touched here: they belong to the scheduler.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, select, update

from engine.decision.model import Action, Decision, FactSheet
from engine.store import tables as t
from engine.store.ageing import ageing_bucket
from engine.store.bulk import upsert
from engine.store.facts_sql import fact_sheet_batches

#: decide(facts, now) with the rules bound, e.g. functools.partial(engine.decision.decide.decide, rules).
Decider = Callable[[FactSheet, dt.datetime], Decision]

S = t.ScheduledStep.__table__  # type: ignore[attr-defined]
J = t.Journey.__table__  # type: ignore[attr-defined]
#: Decisions that put a step on the schedule.
SCHEDULED_ACTIONS = (Action.SEND, Action.WAIT, Action.HANDOFF)
_STEP_UPDATES = (
    "steps",
    "action",
    "template",
    "channel",
    "fallback_channels",
    "fallback_after_s",
    "locale",
    "tone",
    "payment_options",
    "amount_due",
    "currency",
    "send_at",
    "trace",
    "updated_at",
)


@dataclass(slots=True)
class PlanSummary:
    """What a plan run decided and wrote."""

    debtors: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    personas: Counter[str] = field(default_factory=Counter)
    channels: Counter[str] = field(default_factory=Counter)
    steps: Counter[tuple[str, int, str]] = field(default_factory=Counter)  # persona, step, template
    # open amounts in EUR (debtors in other currencies are counted, their money is not summed)
    open_by_persona: dict[str, Decimal] = field(default_factory=dict)
    open_by_ageing: dict[str, Decimal] = field(default_factory=dict)
    debtors_by_ageing: Counter[str] = field(default_factory=Counter)
    scheduled_new: int = 0
    scheduled_kept: int = 0
    cancelled: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (customer id, error)
    seconds: float = 0.0
    facts_seconds: float = 0.0  # waiting for fact sheets (SQL and shaping, prefetched)
    decide_seconds: float = 0.0
    persist_seconds: float = 0.0
    dry_run: bool = False


def _schedulable(decision: Decision) -> bool:
    return (
        decision.action in SCHEDULED_ACTIONS
        and decision.persona is not None
        and decision.journey_step is not None
        and decision.send_at is not None
    )


def step_record(decision: Decision, now: dt.datetime) -> dict[str, Any]:
    """The scheduled_step row for a decision."""
    assert decision.persona is not None and decision.send_at is not None
    amount = decision.amount_due
    return {
        "customer_id": decision.customer_id,
        "journey": decision.persona,
        "step": decision.journey_step,
        "steps": decision.journey_steps or 0,
        "ruleset_version": decision.ruleset_version,
        "action": decision.action.value,
        "template": decision.template,
        "channel": decision.channel,
        "fallback_channels": list(decision.fallback_channels),
        "fallback_after_s": (
            int(decision.fallback_after.total_seconds()) if decision.fallback_after else None
        ),
        "locale": decision.locale,
        "tone": decision.tone,
        "payment_options": list(decision.payment_options),
        "amount_due": amount.amount if amount else None,
        "currency": amount.currency if amount else None,
        "send_at": decision.send_at,
        "status": "scheduled",
        "attempts": 0,
        "trace": [entry.to_json() for entry in decision.trace],
        "created_at": now,
        "updated_at": now,
    }


def _key(record: dict[str, Any]) -> tuple[str, str, int, str]:
    return (record["customer_id"], record["journey"], record["step"], record["ruleset_version"])


def _persist(
    conn: Connection,
    customer_ids: Sequence[str],
    decisions: Sequence[Decision],
    now: dt.datetime,
    summary: PlanSummary,
) -> None:
    if not customer_ids:
        return
    records = [step_record(d, now) for d in decisions if _schedulable(d)]
    wanted = {_key(r) for r in records}
    # a batch is a run of customers in id order: a range scan beats an IN list of thousands
    batch_ids = set(customer_ids)
    in_range = S.c.customer_id.between(min(customer_ids), max(customer_ids))
    columns = (S.c.id, S.c.customer_id, S.c.journey, S.c.step, S.c.ruleset_version, S.c.status)
    existing = [
        row
        for row in conn.execute(select(*columns).where(in_range))
        if row.customer_id in batch_ids
    ]
    known = {(r.customer_id, r.journey, r.step, r.ruleset_version) for r in existing}
    summary.scheduled_new += len(wanted - known)
    summary.scheduled_kept += len(wanted & known)
    # step 0 is a promise confirmation the daemon scheduled; planning never decides those
    stale = [
        r.id
        for r in existing
        if r.status == "scheduled" and r.step > 0 and tuple(r[1:5]) not in wanted
    ]
    if stale:
        result = conn.execute(
            update(S)
            .where(S.c.id.in_(stale), S.c.status == "scheduled")
            .values(status="cancelled", updated_at=now)
        )
        summary.cancelled += result.rowcount
    if records:
        upsert(
            conn,
            S,
            records,
            key=("customer_id", "journey", "step", "ruleset_version"),
            update=_STEP_UPDATES,
            only_where=S.c.status == "scheduled",
        )
    journeys = [
        {
            "customer_id": d.customer_id,
            "persona": d.persona,
            "ruleset_version": d.ruleset_version,
            "state": "handed_off" if d.action is Action.HANDOFF else "active",
            "current_step": d.journey_step,
            "steps_sent": 0,
            "started_at": now,
            "updated_at": now,
        }
        for d in decisions
        if _schedulable(d)
    ]
    if journeys:

        def journey_set(excluded: Any) -> dict[str, Any]:
            same = J.c.persona == excluded.persona
            # a promise's grace period (set by the daemon) outlasts what `decide` knows of it
            grace = and_(J.c.state == "paused", J.c.paused_until > excluded.updated_at)
            return {
                "persona": excluded.persona,
                "ruleset_version": excluded.ruleset_version,
                "state": case((grace, J.c.state), else_=excluded.state),
                "paused_until": case((grace, J.c.paused_until), else_=None),
                "current_step": excluded.current_step,
                # a new persona starts a new journey: its steps count from zero
                "steps_sent": case((same, J.c.steps_sent), else_=0),
                "started_at": case((same, J.c.started_at), else_=excluded.started_at),
                "updated_at": case((same, J.c.updated_at), else_=excluded.updated_at),
            }

        upsert(conn, J, journeys, key=("customer_id",), set_=journey_set)


def _count_money(sheet: FactSheet, decision: Decision, summary: PlanSummary) -> None:
    """Add a debtor's open EUR amount to its persona and its ageing bucket."""
    amount = decision.amount_due
    if amount is None or amount.amount <= 0:
        return
    bucket = ageing_bucket(sheet["balance.max_days_overdue"])
    summary.debtors_by_ageing[bucket] += 1
    if amount.currency != "EUR":
        return
    summary.open_by_ageing[bucket] = summary.open_by_ageing.get(bucket, Decimal(0)) + amount.amount
    if decision.persona:
        persona = decision.persona
        summary.open_by_persona[persona] = (
            summary.open_by_persona.get(persona, Decimal(0)) + amount.amount
        )


def _decide_all(
    sheets: Sequence[FactSheet], decide: Decider, now: dt.datetime, summary: PlanSummary
) -> list[Decision]:
    decisions: list[Decision] = []
    for sheet in sheets:
        try:
            decision = decide(sheet, now)
        except Exception as exc:  # one bad debtor never stops the run; it is reported
            summary.failures.append((str(sheet["customer.id"]), f"{type(exc).__name__}: {exc}"))
            continue
        decisions.append(decision)
        _count_money(sheet, decision, summary)
        summary.actions[decision.action.value] += 1
        if decision.persona:
            summary.personas[decision.persona] += 1
        if decision.channel and decision.action in (Action.SEND, Action.WAIT):
            # a waiting step is a message planned for later: it counts for its channel too
            summary.channels[decision.channel] += 1
        if decision.persona and decision.journey_step is not None:
            step = (decision.persona, decision.journey_step, decision.template or "-")
            summary.steps[step] += 1
    return decisions


def persist_decisions(
    conn: Connection, decisions: Sequence[Decision], now: dt.datetime
) -> PlanSummary:
    """Write the schedule for a few debtors' fresh decisions (the daemon, after an event or a
    re-decision at dispatch), exactly as a plan run would."""
    summary = PlanSummary()
    ids = sorted({d.customer_id for d in decisions if d.customer_id})
    _persist(conn, ids, decisions, now, summary)
    return summary


def plan(
    engine: Engine,
    decide: Decider,
    now: dt.datetime,
    *,
    dry_run: bool = False,
    batch: int = 2000,
    customer_ids: Sequence[str] | None = None,
    progress: Callable[[int], None] | None = None,
    prefetch: bool = True,
) -> PlanSummary:
    """Decide every debtor's next step at `now` and persist the schedule (unless `dry_run`)."""
    started = time.perf_counter()
    summary = PlanSummary(dry_run=dry_run)
    batches = fact_sheet_batches(engine, now, customer_ids, batch=batch, prefetch=prefetch)
    try:
        while True:
            clock = time.perf_counter()
            sheets = next(batches, None)
            summary.facts_seconds += time.perf_counter() - clock
            if sheets is None:
                break
            clock = time.perf_counter()
            decisions = _decide_all(sheets, decide, now, summary)
            summary.decide_seconds += time.perf_counter() - clock
            summary.debtors += len(sheets)
            if not dry_run:
                clock = time.perf_counter()
                with engine.begin() as conn:
                    _persist(conn, [str(s["customer.id"]) for s in sheets], decisions, now, summary)
                summary.persist_seconds += time.perf_counter() - clock
            if progress is not None:
                progress(len(sheets))
    finally:
        batches.close()  # stops the prefetching thread if we leave early
    summary.seconds = time.perf_counter() - started
    return summary
