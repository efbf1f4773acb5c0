"""The journey's side of the dialogue: payment plans run, replies pause, closed tasks resume.

A payment plan is a chain of promises: instalment n is a promise to pay the running total of
instalments 1..n by its date, recorded when the previous one is paid. So the journey stays paused
(the daemon's promise life cycle) while the debtor keeps to the plan; an instalment not paid by
its date plus the promise grace breaks the plan, no next promise is recorded, and the journey
resumes on its own. Each instalment gets a reminder a few days before its date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, func, or_, select, update

from engine.daemon import lifecycle
from engine.daemon.jobs import refresh_customers
from engine.daemon.settings import PROMISE_GRACE
from engine.decision import timing
from engine.decision.arrangements import Instalment
from engine.decision.decide import decide
from engine.rules.compile import CompiledRules
from engine.store import dialogue as store
from engine.store import tables as t
from engine.store.bulk import insert_new
from engine.store.events import record_event
from engine.store.facts_sql import fact_sheet_for
from engine.store.planner import STEP_KEY
from engine.store.rows import EventRow

log = structlog.get_logger("payjourney.dialogue")
J = t.Journey.__table__  # type: ignore[attr-defined]
S = t.ScheduledStep.__table__  # type: ignore[attr-defined]
Pay = t.Payment.__table__  # type: ignore[attr-defined]
D = t.Dispute.__table__  # type: ignore[attr-defined]
INSTALMENT_TEMPLATE = "instalment-reminder"
#: An instalment's reminder goes out this long before its date.
REMINDER_BEFORE = dt.timedelta(days=3)


def instalment_rows(parts: Sequence[Instalment]) -> list[dict[str, Any]]:
    return [
        {"number": p.number, "due_date": p.due_date.isoformat(), "amount": str(p.amount)}
        for p in parts
    ]


def _running_total(plan: dict[str, Any], number: int) -> Decimal:
    return sum(
        (Decimal(i["amount"]) for i in plan["instalments"] if int(i["number"]) <= number),
        Decimal(0),
    )


def _promise_event(plan: dict[str, Any], number: int) -> EventRow:
    part = plan["instalments"][number - 1]
    return EventRow.model_validate(
        {
            "id": f"plan-{plan['id']}-{number}",
            "customer_id": plan["customer_id"],
            "type": "promised",
            "channel": "web",
            # promised when the plan was made: payments since then count towards the running total
            "occurred_at": _aware(plan["created_at"]),
            "data": {
                "amount": str(_running_total(plan, number)),
                "currency": plan["currency"],
                "until": part["due_date"],
                "plan": plan["id"],
                "instalment": number,
            },
        }
    )


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def start_plan(
    engine: Engine, rules: CompiledRules, plan_id: str, now: dt.datetime, *, grace: dt.timedelta
) -> None:
    """Put an approved plan in force: instalment 1 becomes a promise (the journey pauses and the
    confirmation goes out) and every instalment gets its reminder."""
    with engine.begin() as conn:
        plan = store.plan(conn, plan_id)
        if plan is None or plan["status"] not in ("awaiting_approval", "active"):
            return
        store.set_plan(conn, plan_id, now=now, status="active", current=1)
        plan["current"] = 1
    event = _promise_event(plan, 1)
    record_event(engine, event, now=now)
    customer_id = str(plan["customer_id"])
    refresh_customers(
        engine, rules, [customer_id], now, grace=grace, promises={customer_id: event.id}
    )
    _schedule_reminders(engine, rules, plan, now)


def _schedule_reminders(
    engine: Engine, rules: CompiledRules, plan: dict[str, Any], now: dt.datetime
) -> None:
    facts = fact_sheet_for(engine, str(plan["customer_id"]), now)
    decision = decide(rules, facts, now)
    channels = lifecycle.confirmation_channels(facts)
    if not channels or decision.persona is None:
        log.info("no channel for instalment reminders", plan=plan["id"])
        return
    policy = rules.spec.channels
    zone = timing.zone(facts["customer.timezone"] or "Europe/Amsterdam")
    rows = []
    for part in plan["instalments"]:
        due = dt.date.fromisoformat(part["due_date"])
        day = dt.datetime.combine(due, dt.time(0), zone) - REMINDER_BEFORE
        if day.astimezone(dt.UTC) <= now:
            continue  # due within days: the confirmation names it already
        send_at = timing.next_window_opening(
            day.astimezone(dt.UTC),
            policy.send_window,
            zone,
            facts["customer.country"],
            policy.holidays,
        )
        rows.append(
            lifecycle.side_message(
                decision,
                template=INSTALMENT_TEMPLATE,
                channels=channels,
                send_at=send_at,
                version=f"plan:{plan['id']}:{part['number']}",
                amount=(Decimal(part["amount"]), str(plan["currency"])),
                trace={"rule": "plan", "note": f"instalment {part['number']} of plan {plan['id']}"},
                now=now,
            )
        )
    if rows:
        with engine.begin() as conn:
            insert_new(conn, S, rows, key=STEP_KEY)


def _paid_since(conn: Connection, customer_id: str, since: dt.datetime) -> Decimal:
    total = conn.execute(
        select(func.coalesce(func.sum(Pay.c.amount), 0)).where(
            Pay.c.customer_id == customer_id, Pay.c.paid_at >= since
        )
    ).scalar()
    return Decimal(str(total or 0))


def advance_plans(
    engine: Engine, rules: CompiledRules, now: dt.datetime, *, grace: dt.timedelta
) -> int:
    """Plans in force: an instalment paid (the running total received) makes the next one the
    promise in force; one not paid by the day after its date plus `grace` breaks the plan, its
    reminders are cancelled and the journey resumes. Returns how many plans moved."""
    moved = 0
    for plan in store.plans(engine, status="active"):
        try:
            moved += _advance(engine, rules, plan, now, grace)
        except Exception:  # one debtor's plan never stops the others
            log.exception("could not advance plan", plan=plan["id"])
    return moved


def _advance(
    engine: Engine,
    rules: CompiledRules,
    plan: dict[str, Any],
    now: dt.datetime,
    grace: dt.timedelta,
) -> int:
    customer_id = str(plan["customer_id"])
    number = int(plan["current"])
    part = plan["instalments"][number - 1]
    zone = timing.zone(_customer_zone(engine, customer_id))
    due = dt.date.fromisoformat(part["due_date"])
    deadline = dt.datetime.combine(due + dt.timedelta(days=1), dt.time(0), zone) + grace
    with engine.begin() as conn:
        paid = _paid_since(conn, customer_id, _aware(plan["created_at"]))
        if paid >= _running_total(plan, number):
            last = number == len(plan["instalments"])
            store.set_plan(
                conn,
                plan["id"],
                now=now,
                status="completed" if last else "active",
                current=number + (0 if last else 1),
            )
        elif now >= deadline:
            store.set_plan(conn, plan["id"], now=now, status="broken")
            conn.execute(
                update(S)
                .where(
                    S.c.customer_id == customer_id,
                    S.c.ruleset_version.like(f"plan:{plan['id']}:%"),
                    S.c.status == "scheduled",
                )
                .values(status="cancelled", last_error=f"plan {plan['id']} broken", updated_at=now)
            )
            log.info("plan broken", plan=plan["id"], instalment=number)
        else:
            return 0
    if paid >= _running_total(plan, number) and number < len(plan["instalments"]):
        record_event(engine, _promise_event(plan, number + 1), now=now)
    refresh_customers(engine, rules, [customer_id], now, grace=grace)
    return 1


def _customer_zone(engine: Engine, customer_id: str) -> str:
    customer = t.Customer.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        zone = conn.execute(
            select(customer.c.timezone).where(customer.c.id == customer_id)
        ).scalar()
    return str(zone or "Europe/Amsterdam")


# ------------------------------------------------------------------ replies and tasks


def pause_for_reply(
    engine: Engine,
    rules: CompiledRules,
    *,
    event_id: str,
    customer_id: str,
    text: str | None,
    channel: str | None,
    message_id: str | None,
    now: dt.datetime,
) -> int | None:
    """A debtor answered a message: a task with their words, and the automatic steps paused for
    the persona's `reply_pause` (until a person closes the task, or the pause ends)."""
    facts = fact_sheet_for(engine, customer_id, now)
    decision = decide(rules, facts, now)
    pause = rules.spec.self_service_for(decision.persona or "").reply_pause
    with engine.begin() as conn:
        task_id = store.add_task(
            conn,
            customer_id=customer_id,
            kind="reply",
            now=now,
            text=text,
            channel=channel,
            message_id=message_id,
            event_id=event_id,
            data={"pause_until": (now + pause).isoformat()},
        )
        if task_id is None:
            return None  # this reply made its task already
        state, until = lifecycle.journey_state(conn, customer_id)
        if state in ("active", "paused"):
            end = max(now + pause, _aware(until)) if until is not None else now + pause
            lifecycle.cancel_pending(
                conn, customer_id, now, "paused: the debtor replied", keep_confirmation=True
            )
            lifecycle.set_journey(conn, customer_id, state="paused", until=end, now=now)
    return task_id


def close(
    engine: Engine,
    rules: CompiledRules,
    task_id: int,
    *,
    now: dt.datetime,
    by: str,
    note: str | None = None,
    approve: bool | None = None,
    grace: dt.timedelta = PROMISE_GRACE,
) -> dict[str, Any]:
    """Close a task. A reply's pause ends; a dispute is resolved; an arrangement awaiting
    approval is put in force (`approve=True`) or refused (`approve=False`). The journey is
    re-decided at once."""
    found = store.task(engine, task_id)
    if found is None:
        raise LookupError(f"no task {task_id}; `payjourney tasks` lists the open ones")
    if found["status"] != "open":
        raise ValueError(f"task {task_id} is closed already")
    if found["kind"] == "arrangement" and approve is None:
        raise ValueError(f"task {task_id} is an arrangement: say whether it is approved or refused")
    customer_id = str(found["customer_id"])
    with engine.begin() as conn:
        if not store.close_task(conn, task_id, now=now, by=by, note=note):
            raise ValueError(f"task {task_id} is closed already")
        if found["kind"] == "reply":
            conn.execute(
                update(J)
                .where(J.c.customer_id == customer_id, J.c.state == "paused")
                .values(paused_until=None, updated_at=now)
            )
        if found["kind"] == "dispute" and found["event_id"]:
            conn.execute(
                update(D)
                .where(D.c.id == f"event-{found['event_id']}", D.c.resolved_at.is_(None))
                .values(resolved_at=now)
            )
        if found["kind"] == "arrangement" and found["plan_id"] and not approve:
            store.set_plan(conn, found["plan_id"], now=now, status="refused")
    if found["kind"] == "arrangement" and approve:
        if found["plan_id"]:
            start_plan(engine, rules, found["plan_id"], now, grace=grace)
        elif (promise := found["data"].get("promise")) is not None:
            event = EventRow.model_validate(
                {
                    "id": f"task-{task_id}-promise",
                    "customer_id": customer_id,
                    "type": "promised",
                    "channel": "web",
                    "occurred_at": now,
                    "data": promise,
                }
            )
            record_event(engine, event, now=now)
            refresh_customers(
                engine, rules, [customer_id], now, grace=grace, promises={customer_id: event.id}
            )
            return {**found, "status": "closed"}
    refresh_customers(engine, rules, [customer_id], now, grace=grace)
    return {**found, "status": "closed"}


def pause_for_replies(
    engine: Engine, rules: CompiledRules, event_ids: Sequence[str], now: dt.datetime
) -> int:
    """`pause_for_reply` for stored `replied` events (the daemon's event watch); returns how
    many made a new task."""
    E = t.Event.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(
            select(E.c.id, E.c.customer_id, E.c.channel, E.c.message_id, E.c.data).where(
                E.c.id.in_(list(event_ids)), E.c.kind == "replied"
            )
        ).all()
    made = 0
    for row in rows:
        try:
            text = (row.data or {}).get("text")
            made += (
                pause_for_reply(
                    engine,
                    rules,
                    event_id=row.id,
                    customer_id=row.customer_id,
                    text=str(text) if text is not None else None,
                    channel=row.channel,
                    message_id=row.message_id,
                    now=now,
                )
                is not None
            )
        except Exception:  # one debtor's reply never stops the others
            log.exception("could not pause for a reply", event_id=row.id)
    return made


def match_reply(
    engine: Engine, *, channel: str, sender: str | None, in_reply_to: str | None
) -> tuple[str, str] | None:
    """The (customer id, message id) a reply answers: the message its `In-Reply-To` names (an
    email client keeps our Message-ID there), else the latest message we sent to `sender` on
    that channel (an SMS or WhatsApp answer comes from the number we wrote to)."""
    M = t.Message.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        if in_reply_to:
            named = in_reply_to.strip()
            row = conn.execute(
                select(M.c.customer_id, M.c.id).where(
                    or_(M.c.provider_message_id == named, M.c.id == named.strip("<>"))
                )
            ).first()
            if row is not None:
                return str(row.customer_id), str(row.id)
        if sender:
            row = conn.execute(
                select(M.c.customer_id, M.c.id)
                .where(M.c.channel == channel, M.c.recipient == sender.strip())
                .order_by(M.c.created_at.desc())
                .limit(1)
            ).first()
            if row is not None:
                return str(row.customer_id), str(row.id)
    return None
