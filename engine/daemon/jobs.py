"""The daemon's periodic jobs besides dispatch: events, resumes, fallbacks on no reaction, heartbeat.

Each job reads and writes payjourney's tables only; APScheduler merely triggers them. All are
idempotent, so several daemons running them side by side on PostgreSQL do no harm.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog
from sqlalchemy import Connection, Engine, func, select, update

from engine.daemon import lifecycle
from engine.decision.decide import decide
from engine.decision.model import FactSheet
from engine.rules.compile import CompiledRules
from engine.store import tables as t
from engine.store.bulk import insert_new, upsert
from engine.store.facts_sql import fact_sheets_on

S = t.ScheduledStep.__table__  # type: ignore[attr-defined]
M = t.Message.__table__  # type: ignore[attr-defined]
E = t.Event.__table__  # type: ignore[attr-defined]
J = t.Journey.__table__  # type: ignore[attr-defined]
B = t.ChannelBlock.__table__  # type: ignore[attr-defined]
D = t.DaemonBeat.__table__  # type: ignore[attr-defined]
#: Events that count as a reaction to a message for `fallback_after` (the delivery included:
#: a message that arrived is not resent elsewhere just because nobody clicked yet).
NO_FALLBACK_AFTER: tuple[str, ...] = (
    "delivered",
    "opened",
    "clicked",
    "replied",
    "paid",
    "promised",
    "disputed",
)
log = structlog.get_logger("payjourney.jobs")


def refresh_customers(
    engine: Engine,
    rules: CompiledRules,
    customer_ids: Sequence[str],
    now: dt.datetime,
    *,
    grace: dt.timedelta,
    promises: dict[str, str] | None = None,
) -> dict[str, str | None]:
    """Fresh facts and a fresh decision for a few debtors, and their journeys settled on it
    (not a whole re-plan). `promises` maps a customer to a new promise's event id.

    One connection throughout: the facts of all of them in one query, then each debtor settled
    in its own short transaction (one debtor's problem never stops the others), its plan
    fingerprint forgotten so the next plan decides it afresh. A single debtor (the common case:
    one event) is read, decided and settled in one transaction: two round trips fewer."""
    states: dict[str, str | None] = {}
    with engine.connect() as conn:
        if len(customer_ids) == 1:
            try:
                with conn.begin():
                    _no_commit_wait(conn)
                    sheets = fact_sheets_on(conn, list(customer_ids), now)
                    for customer_id, facts in sheets.items():
                        states[customer_id] = _settle(conn, rules, facts, now, grace, promises)
            except Exception:
                log.exception("could not refresh debtor", customer_id=customer_ids[0])
            return states
        sheets = fact_sheets_on(conn, list(customer_ids), now)
        conn.commit()
        for customer_id, facts in sheets.items():
            try:
                with conn.begin():
                    _no_commit_wait(conn)
                    states[customer_id] = _settle(conn, rules, facts, now, grace, promises)
            except Exception:  # one debtor's problem never stops the others
                log.exception("could not refresh debtor", customer_id=customer_id)
    return states


def _no_commit_wait(conn: Connection) -> None:
    """On PostgreSQL, the re-decision's commit does not wait for its WAL flush (a third of a
    one-debtor re-decide). Safe to lose in a crash: what it writes is derived, and the event
    that asked for it was committed on its own and marked the debtor stale (the change
    tracking triggers), so the next plan decides the debtor again if this commit is lost."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")


def _settle(
    conn: Connection,
    rules: CompiledRules,
    facts: FactSheet,
    now: dt.datetime,
    grace: dt.timedelta,
    promises: dict[str, str] | None,
) -> str | None:
    """Decide one debtor and settle its journey on the decision (inside the caller's
    transaction); `settle` forgets its plan fingerprint."""
    decision = decide(rules, facts, now)
    return lifecycle.settle(
        conn,
        rules=rules,
        decision=decision,
        facts=facts,
        now=now,
        grace=grace,
        promise_id=(promises or {}).get(str(facts["customer.id"])),
    )


@dataclass(slots=True)
class EventWatch:
    """Follows the event table: each new event re-decides its debtor; a bounce sends the step on
    the next channel, and a hard one (or one of unknown severity) blocks the channel for good."""

    engine: Engine
    rules: Callable[[], CompiledRules]
    clock: Callable[[], dt.datetime]
    grace: dt.timedelta
    since: dt.datetime
    seen: set[str] = field(default_factory=set)

    def __call__(self) -> int:
        now = self.clock()
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(E.c.id, E.c.customer_id, E.c.kind, E.c.message_id, E.c.recorded_at, E.c.data)
                .where(E.c.recorded_at >= self.since)
                .order_by(E.c.recorded_at, E.c.id)
                .limit(5000)
            ).all()
        fresh = [r for r in rows if r.id not in self.seen]
        if not fresh:
            return 0
        replies = [r.id for r in fresh if r.kind == "replied"]
        if replies:  # a reply pauses the debtor's steps and makes a task (docs/self-service.md)
            from engine.daemon.dialogue import pause_for_replies

            pause_for_replies(self.engine, self.rules(), replies, now)
        promises: dict[str, str] = {}
        for row in fresh:
            if row.kind == "promised":
                promises[row.customer_id] = row.id
            if row.kind == "bounced" and row.message_id:
                soft = isinstance(row.data, dict) and row.data.get("severity") == "soft"
                self._bounced(row.customer_id, row.message_id, now, block=not soft)
        refresh_customers(
            self.engine,
            self.rules(),
            sorted({r.customer_id for r in fresh}),
            now,
            grace=self.grace,
            promises=promises,
        )
        self.seen.update(r.id for r in fresh)
        newest = max(r.recorded_at for r in fresh)
        if newest > self.since:  # keep ids of the newest instant only: they may repeat next time
            self.since = newest
            self.seen = {r.id for r in fresh if r.recorded_at == newest}
        return len(fresh)

    def _bounced(self, customer_id: str, message_id: str, now: dt.datetime, *, block: bool) -> None:
        """The bounced message failed and its step goes to the next channel now; `block` keeps
        the channel from this debtor for good (a soft bounce, a full mailbox or a phone out of
        reach, only moves this step: the next reminder tries the channel again)."""
        with self.engine.begin() as conn:
            found = conn.execute(
                select(M.c.channel, M.c.scheduled_step_id).where(M.c.id == message_id)
            ).first()
            if found is None:
                return
            blocked = {
                "customer_id": customer_id,
                "channel": found.channel,
                "reason": "bounced",
                "message_id": message_id,
                "blocked_at": now,
            }
            if block:
                insert_new(conn, B, [blocked], key=("customer_id", "channel"))
            first = conn.execute(
                update(M)
                .where(M.c.id == message_id, M.c.status != "failed")
                .values(status="failed", last_error="bounced")
            ).rowcount
            # the same bounce seen again (a restart, another daemon) changes nothing more
            if (
                first and found.scheduled_step_id is not None
            ):  # the same step, on the next channel, now
                conn.execute(
                    update(S)
                    .where(S.c.id == found.scheduled_step_id, S.c.status == "sent")
                    .values(
                        status="fallback",
                        send_at=now,
                        claimed_by=None,
                        claimed_until=None,
                        last_error=f"bounced on {found.channel}: next channel",
                        updated_at=now,
                    )
                )


def resume_paused(
    engine: Engine, rules: CompiledRules, now: dt.datetime, *, grace: dt.timedelta
) -> int:
    """Re-decide journeys whose promise pause has ended (a broken promise resumes them)."""
    with engine.connect() as conn:
        ids = [
            r.customer_id
            for r in conn.execute(
                select(J.c.customer_id).where(
                    J.c.state == "paused", J.c.paused_until.is_not(None), J.c.paused_until <= now
                )
            )
        ]
    if ids:
        with engine.begin() as conn:  # the pause is over: `settle` decides what comes next
            conn.execute(
                update(J).where(J.c.customer_id.in_(ids)).values(paused_until=None, updated_at=now)
            )
        refresh_customers(engine, rules, ids, now, grace=grace)
    return len(ids)


def fallback_on_no_reaction(engine: Engine, now: dt.datetime, *, limit: int = 1000) -> int:
    """Steps sent whose `fallback_after` passed without a reaction go back on the schedule: the
    dispatcher sends the same step on the next channel (or closes it when none is left)."""
    last_sent = (
        select(M.c.scheduled_step_id, func.max(M.c.sent_at).label("sent_at"))
        .where(M.c.status.in_(("sent", "delivered")), M.c.scheduled_step_id.is_not(None))
        .group_by(M.c.scheduled_step_id)
        .subquery()
    )
    # a debtor who reacted since the message keeps the step as sent: filtered in the query (one
    # statement per pass, not one per step; reacted steps no longer crowd out the `limit`)
    reacted = (
        select(E.c.id)
        .where(
            E.c.customer_id == S.c.customer_id,
            E.c.kind.in_(NO_FALLBACK_AFTER),
            E.c.occurred_at >= last_sent.c.sent_at,
        )
        .exists()
    )
    with engine.connect() as conn:
        candidates = conn.execute(
            select(S.c.id, S.c.customer_id, S.c.fallback_after_s, last_sent.c.sent_at)
            .join(last_sent, last_sent.c.scheduled_step_id == S.c.id)
            .where(S.c.status == "sent", S.c.fallback_after_s.is_not(None), ~reacted)
            .limit(limit)
        ).all()
    due = [c for c in candidates if c.sent_at + dt.timedelta(seconds=c.fallback_after_s) <= now]
    if not due:
        return 0
    moved = 0
    with engine.begin() as conn:
        for c in due:
            moved += conn.execute(
                update(S)
                .where(S.c.id == c.id, S.c.status == "sent")
                .values(
                    status="fallback",
                    send_at=now,
                    last_error=f"no reaction within {c.fallback_after_s // 3600}h: next channel",
                    updated_at=now,
                )
            ).rowcount
    return moved


def heartbeat(
    engine: Engine,
    daemon_id: str,
    now: dt.datetime,
    *,
    started_at: dt.datetime,
    ruleset_version: str | None,
    stopped: bool = False,
) -> None:
    """The daemon's row: alive at `now` (or stopped)."""
    row = {
        "id": daemon_id,
        "hostname": socket.gethostname()[:255],
        "pid": os.getpid(),
        "started_at": started_at,
        "beat_at": now,
        "stopped_at": now if stopped else None,
        "ruleset_version": ruleset_version,
    }
    with engine.begin() as conn:
        upsert(conn, D, [row], key=("id",), keep=("started_at",))
