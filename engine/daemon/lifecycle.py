"""A journey's life: what a fresh decision means for the journey row and the pending steps.

Paid in full -> every pending step cancelled, journey `done`. Open dispute -> pending steps
cancelled, journey `paused` (no end date: a person resolves it). Promise to pay -> pending steps
cancelled, journey `paused` until the day after the promised date plus a grace period, and one
promise-confirmation message scheduled. Anything else (a partial payment, a broken promise, a
resolved dispute) -> the decision is planned like `payjourney plan` would, journey `active`.
A handoff step sent ends the journey (`handed_off`, in dispatch).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, case, select, update

from engine.daemon import records
from engine.decision import timing
from engine.decision.decide import allowed, preferred_channel
from engine.decision.model import Action, Decision, FactSheet
from engine.rules.compile import CompiledRules
from engine.store import fingerprint
from engine.store import tables as t
from engine.store.bulk import insert_new
from engine.store.planner import STEP_KEY, persist_decisions

S = t.ScheduledStep.__table__  # type: ignore[attr-defined]
J = t.Journey.__table__  # type: ignore[attr-defined]
CONFIRMATION_TEMPLATE = "promise-confirmation"
#: The journey step number of a promise confirmation (journeys count their steps from 1).
CONFIRMATION_STEP = 0
_CONFIRMATION_CHANNELS = ("email", "sms", "whatsapp", "letter")


def paused_until(facts: FactSheet, grace: dt.timedelta) -> dt.datetime | None:
    """When a promise pause ends: the start of the day after the promised date, in the debtor's
    time zone, plus the grace period (the money may be on its way)."""
    promised = facts["journey.promised_until"]
    if promised is None:
        return None
    zone = timing.zone(facts["customer.timezone"] or "Europe/Amsterdam")
    day_after = dt.datetime.combine(promised + dt.timedelta(days=1), dt.time(0), zone)
    return (day_after + grace).astimezone(dt.UTC)


def cancel_pending(
    conn: Connection, customer_id: str, now: dt.datetime, reason: str, *, keep_confirmation: bool
) -> int:
    """Cancel the customer's steps still waiting on the schedule (claimed ones are re-decided
    by the daemon holding them)."""
    where = [S.c.customer_id == customer_id, S.c.status.in_(("scheduled", "fallback"))]
    if keep_confirmation:
        where.append(S.c.step != CONFIRMATION_STEP)
    return conn.execute(
        update(S).where(*where).values(status="cancelled", last_error=reason, updated_at=now)
    ).rowcount


def set_journey(
    conn: Connection, customer_id: str, *, state: str, until: dt.datetime | None, now: dt.datetime
) -> None:
    conn.execute(
        update(J)
        .where(J.c.customer_id == customer_id)
        .values(state=state, paused_until=until, updated_at=now)
    )


def step_sent(
    conn: Connection, customer_id: str, step: int, now: dt.datetime, *, handoff: bool
) -> None:
    """The journey after step `step` went out: steps_sent counts it (skipped steps included),
    and a handoff step ends the journey."""
    if step == CONFIRMATION_STEP:
        return
    values: dict[str, Any] = {
        "steps_sent": case((J.c.steps_sent < step, step), else_=J.c.steps_sent),
        "current_step": step,
        "updated_at": now,
    }
    if handoff:
        values.update(state="handed_off", paused_until=None)
    conn.execute(update(J).where(J.c.customer_id == customer_id).values(**values))


def steps_sent(conn: Connection, sent: Sequence[tuple[str, int, bool]], now: dt.datetime) -> None:
    """`step_sent` for many (customer, step, handoff) at once (the daemon's chunks): one UPDATE
    per step number rather than one per debtor, so a chunk fires the journey's change-tracking
    trigger (migration 0008) once or a few times, not once per message."""
    last: dict[str, int] = {}  # a debtor's current step: the last one sent in this chunk
    most: dict[str, int] = {}
    for customer_id, step, handoff in sent:
        if not handoff and step != CONFIRMATION_STEP:
            last[customer_id] = step
            most[customer_id] = max(step, most.get(customer_id, step))
    groups: dict[tuple[int, int], list[str]] = defaultdict(list)
    for customer_id, step in last.items():
        groups[(most[customer_id], step)].append(customer_id)
    for (highest, current), customers in sorted(groups.items()):
        conn.execute(
            update(J)
            .where(records.among(conn, J.c.customer_id, customers))
            .values(
                steps_sent=case((J.c.steps_sent < highest, highest), else_=J.c.steps_sent),
                current_step=current,
                updated_at=now,
            )
        )
    for customer_id, step, handoff in sent:
        if handoff:
            step_sent(conn, customer_id, step, now, handoff=True)


def journey_state(conn: Connection, customer_id: str) -> tuple[str | None, dt.datetime | None]:
    row = conn.execute(
        select(J.c.state, J.c.paused_until).where(J.c.customer_id == customer_id)
    ).first()
    return (row.state, row.paused_until) if row else (None, None)


def settle(
    conn: Connection,
    *,
    rules: CompiledRules,
    decision: Decision,
    facts: FactSheet,
    now: dt.datetime,
    grace: dt.timedelta,
    promise_id: str | None = None,
) -> str | None:
    """Bring the journey row and the pending steps in line with a fresh decision; returns the
    journey state. `promise_id` (a new promise event) also schedules its confirmation. The
    debtor's plan fingerprint is forgotten: the next plan decides it afresh."""
    customer_id = str(decision.customer_id)
    fingerprint.forget(conn, [customer_id])
    state, until = journey_state(conn, customer_id)
    if decision.action is Action.NONE:
        open_amount = facts["balance.open_amount"] or Decimal(0)
        if open_amount <= 0:
            cancel_pending(conn, customer_id, now, "paid in full", keep_confirmation=False)
            if state is not None:  # else no journey row to end (most debtors owe nothing)
                set_journey(conn, customer_id, state="done", until=None, now=now)
            return "done"
        if facts["behaviour.open_disputes"]:
            cancel_pending(conn, customer_id, now, decision.reason, keep_confirmation=False)
            set_journey(conn, customer_id, state="paused", until=None, now=now)
            return "paused"
        end = paused_until(facts, grace)
        if end is not None and end > now:
            cancel_pending(conn, customer_id, now, decision.reason, keep_confirmation=True)
            set_journey(conn, customer_id, state="paused", until=end, now=now)
            if promise_id is not None:
                schedule_confirmation(
                    conn, rules=rules, decision=decision, facts=facts, now=now, key=promise_id
                )
            return "paused"
        return state  # journey complete, or no due date: nothing to change
    if state == "paused" and until is not None and until > now:
        return state  # the grace after a promise: the resume job re-decides at `until`
    if decision.persona is not None and decision.journey_step is not None:
        # a step cancelled by a pause comes back when the decision wants it again
        conn.execute(
            update(S)
            .where(
                S.c.customer_id == customer_id,
                S.c.journey == decision.persona,
                S.c.step == decision.journey_step,
                S.c.ruleset_version == decision.ruleset_version,
                S.c.status == "cancelled",
            )
            .values(status="scheduled", last_error="scheduled again: " + decision.reason)
        )
    planned = persist_decisions(conn, [decision], now, forget=False)  # forgotten above
    if state in ("paused", "done") and decision.action is not Action.HANDOFF:
        set_journey(conn, customer_id, state="active", until=None, now=now)
        return "active"
    if not (planned.scheduled_new or planned.scheduled_kept):
        return state  # nothing scheduled: the journey row was not written
    # the step's journey row was written as the plan writes it: handed off or active (a
    # promise's grace, which would have kept it paused, returned above); no need to read it
    return "handed_off" if decision.action is Action.HANDOFF else "active"


def confirmation_channels(facts: FactSheet, blocked: frozenset[str] = frozenset()) -> list[str]:
    """Where a promise confirmation goes: the preferred channel, then email, SMS, WhatsApp,
    letter; only those the debtor consented to and can receive."""
    order: list[str] = []
    for channel in (preferred_channel(facts.values), *_CONFIRMATION_CHANNELS):
        usable = channel and channel not in order and channel not in blocked
        if usable and allowed(str(channel), facts.values):
            order.append(str(channel))
    return order


def schedule_confirmation(
    conn: Connection,
    *,
    rules: CompiledRules,
    decision: Decision,
    facts: FactSheet,
    now: dt.datetime,
    key: str,
) -> bool:
    """Schedule the promise-confirmation message once per promise (at the next window opening)."""
    channels = confirmation_channels(facts)
    if not channels or decision.persona is None:
        return False
    policy = rules.spec.channels
    zone = timing.zone(facts["customer.timezone"] or "Europe/Amsterdam")
    send_at = timing.next_window_opening(
        now, policy.send_window, zone, facts["customer.country"], policy.holidays
    )
    amount = decision.amount_due
    row = side_message(
        decision,
        template=CONFIRMATION_TEMPLATE,
        channels=channels,
        send_at=send_at,
        version=f"promise:{key}",
        amount=(amount.amount, amount.currency) if amount else None,
        trace={"rule": "promise", "note": f"confirms promise {key}"},
        now=now,
    )
    insert_new(conn, S, [row], key=STEP_KEY)
    return True


def side_message(
    decision: Decision,
    *,
    template: str,
    channels: Sequence[str],
    send_at: dt.datetime,
    version: str,
    amount: tuple[Decimal, str] | None,
    trace: dict[str, Any],
    now: dt.datetime,
) -> dict[str, Any]:
    """A scheduled message beside the journey's steps (a promise confirmation, a plan's
    instalment reminder): step CONFIRMATION_STEP, kept through a pause, unique by `version`."""
    return {
        "customer_id": decision.customer_id,
        "journey": decision.persona,
        "round": decision.journey_round,
        "step": CONFIRMATION_STEP,
        "steps": decision.journey_steps or 0,
        "ruleset_version": version[:80],
        "action": "send",
        "template": template,
        "channel": channels[0],
        "fallback_channels": list(channels[1:]),
        "fallback_after_s": None,
        "locale": decision.locale,
        "tone": decision.tone,
        "payment_options": list(decision.payment_options),
        "amount_due": amount[0] if amount else None,
        "currency": amount[1] if amount else None,
        "send_at": send_at,
        "status": "scheduled",
        "attempts": 0,
        "trace": [trace],
        "created_at": now,
        "updated_at": now,
    }
