"""`payjourney plan`: facts -> decision core -> scheduled steps, for the whole portfolio in batches.

Planning is idempotent: a step is keyed by (customer, journey, round, step, ruleset version), so
planning twice schedules nothing twice; a planned step not yet claimed follows the latest decision (its
send time may move) and a step no longer decided is cancelled. Claimed or sent steps are never
touched here: they belong to the scheduler.

Incremental: each decided debtor's fingerprint (its raw facts, the ruleset version, the hour) is
stored; a plan that finds the same fingerprint does not decide that debtor again
(`engine.store.fingerprint`). On PostgreSQL the portfolio is planned in id-range chunks by worker
processes (facts, decide and persist each, one core each); SQLite plans in this process (one
writer), the next chunk's facts read in a thread while this one is decided.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import gc
import multiprocessing
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Row,
    Select,
    String,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    update,
)

from engine.decision.model import Action, Decision, FactSheet
from engine.store import fingerprint
from engine.store import tables as t
from engine.store.ageing import ageing_bucket
from engine.store.bulk import upsert
from engine.store.facts_sql import (
    chunk_starts,
    fact_query,
    legal_in_default,
    prefetched,
    settled_sheet,
    sheet_from_row,
)

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
    unchanged: int = 0  # debtors not decided again: same facts, rules and hour as last plan
    workers: int = 1

    def add(self, other: PlanSummary) -> None:
        """Fold a chunk's summary (from a worker) into this one."""
        self.debtors += other.debtors
        self.unchanged += other.unchanged
        self.actions.update(other.actions)
        self.personas.update(other.personas)
        self.channels.update(other.channels)
        self.steps.update(other.steps)
        self.debtors_by_ageing.update(other.debtors_by_ageing)
        for mine, theirs in (
            (self.open_by_persona, other.open_by_persona),
            (self.open_by_ageing, other.open_by_ageing),
        ):
            for key, amount in theirs.items():
                mine[key] = mine.get(key, Decimal(0)) + amount
        self.scheduled_new += other.scheduled_new
        self.scheduled_kept += other.scheduled_kept
        self.cancelled += other.cancelled
        self.failures.extend(other.failures)
        self.facts_seconds += other.facts_seconds
        self.decide_seconds += other.decide_seconds
        self.persist_seconds += other.persist_seconds


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
        "round": decision.journey_round,
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


#: What makes a scheduled step unique (uq_scheduled_step_once): planning twice never schedules
#: twice, and a new round (journey.round) of the same journey gets steps of its own
STEP_KEY = ("customer_id", "journey", "round", "step", "ruleset_version")


def _key(record: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(record[k] for k in STEP_KEY)


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
    columns = (S.c.id, *(S.c[k] for k in STEP_KEY), S.c.status)
    existing = [
        row
        for row in conn.execute(select(*columns).where(in_range))
        if row.customer_id in batch_ids
    ]
    known = {tuple(r[1 : 1 + len(STEP_KEY)]) for r in existing}
    summary.scheduled_new += len(wanted - known)
    summary.scheduled_kept += len(wanted & known)
    # step 0 is a promise confirmation the daemon scheduled; planning never decides those
    stale = [
        r.id
        for r in existing
        if r.status == "scheduled" and r.step > 0 and tuple(r[1 : 1 + len(STEP_KEY)]) not in wanted
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
            key=STEP_KEY,
            update=_STEP_UPDATES,
            only_where=S.c.status == "scheduled",
        )
    journeys = [
        {
            "customer_id": d.customer_id,
            "persona": d.persona,
            "round": d.journey_round,
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
            # the same journey goes on: same persona, and not settled since (a settled one's
            # new debt is the next round, its steps counted from zero)
            same = and_(J.c.persona == excluded.persona, J.c.state != "done")
            # a promise's grace period (set by the daemon) outlasts what `decide` knows of it
            grace = and_(J.c.state == "paused", J.c.paused_until > excluded.updated_at)
            return {
                "persona": excluded.persona,
                "round": excluded.round,
                "ruleset_version": excluded.ruleset_version,
                "state": case((grace, J.c.state), else_=excluded.state),
                "paused_until": case((grace, J.c.paused_until), else_=None),
                "current_step": excluded.current_step,
                # a new persona or a new round starts a new journey: steps count from zero
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
) -> list[Decision | None]:
    """Each sheet's decision, None where deciding failed (reported in the summary)."""
    decisions: list[Decision | None] = []
    for sheet in sheets:
        try:
            decision = decide(sheet, now)
        except Exception as exc:  # one bad debtor never stops the run; it is reported
            summary.failures.append((str(sheet["customer.id"]), f"{type(exc).__name__}: {exc}"))
            decisions.append(None)
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
    conn: Connection, decisions: Sequence[Decision], now: dt.datetime, *, forget: bool = True
) -> PlanSummary:
    """Write the schedule for a few debtors' fresh decisions (the daemon, after an event or a
    re-decision at dispatch), exactly as a plan run would. Their fingerprints are forgotten
    (unless the caller did, `forget=False`): the next plan decides them again."""
    summary = PlanSummary()
    ids = sorted({d.customer_id for d in decisions if d.customer_id})
    _persist(conn, ids, decisions, now, summary)
    if forget:
        fingerprint.forget(conn, ids)
    return summary


def ruleset_version_of(decide: Decider) -> str | None:
    """The ruleset version behind `decide` when it is functools.partial(decide, rules)."""
    for arg in getattr(decide, "args", ()):
        version = getattr(arg, "version", None)
        if isinstance(version, str):
            return version
    return None


@dataclass(frozen=True, slots=True)
class _Run:
    """What every chunk of one plan run needs (handed to worker processes by fork)."""

    engine: Engine
    decide: Decider
    now: dt.datetime
    dry_run: bool
    salt: str | None  # fingerprints are computed and stored (not on a dry run)
    skip_unchanged: bool
    chunks: tuple[_Chunk, ...]  # their queries fingerprinted (`_fingerprinted`)
    width: int  # the fact columns of a row (what a fingerprint hashes)


@dataclass(frozen=True, slots=True)
class _Chunk:
    """One read of a plan: a facts query and its parameters (the bounds of an id range, or
    the ids). The chunks of one shape share the query: building one takes some 20 ms, a
    tenth of a chunk's Python time, and SQLAlchemy compiles it once."""

    query: Select[Any]
    params: dict[str, Any]


def _prints_in_sql(run: _Run) -> bool:
    """PostgreSQL computes, compares and stores the fingerprints in the facts query itself, in
    the chunk's one transaction; SQLite hashes each row here and stores the prints after."""
    return run.salt is not None and run.engine.dialect.name == "postgresql"


def _fingerprinted(
    chunks: Sequence[_Chunk], engine: Engine, now: dt.datetime, salt: str | None, skip: bool
) -> tuple[_Chunk, ...]:
    """The chunks with each query extended by the fingerprints (once per shared query)."""
    if salt is None:
        return tuple(chunks)
    in_sql = engine.dialect.name == "postgresql"
    extended: dict[int, Select[Any]] = {}
    for chunk in chunks:
        if id(chunk.query) not in extended:
            extended[id(chunk.query)] = fingerprint.fingerprinted(
                chunk.query,
                salt,
                in_sql=in_sql,
                skip_unchanged=skip,
                store_at=now if in_sql else None,
            )
    return tuple(_Chunk(extended[id(c.query)], c.params) for c in chunks)


def _plan_rows(
    run: _Run, index: int, rows: Sequence[Row[Any]], conn: Connection | None = None
) -> PlanSummary:
    """Decide and persist one chunk's fact rows (skipping debtors whose fingerprint is the same).

    `conn`: the transaction the rows were read in, which stored their fingerprints already
    (PostgreSQL, `_prints_in_sql`): the schedule is written in it too, and it is committed
    here. Without it the chunk is written in a transaction of its own, fingerprints included."""
    summary = PlanSummary(dry_run=run.dry_run)
    clock = time.perf_counter()
    in_default = legal_in_default()
    width = run.width
    in_python = run.salt is not None and not _prints_in_sql(run)
    sheets: list[FactSheet] = []
    prints: list[str | None] = []
    # touched since the last plan (stale salt) yet with the same facts: not decided again, the
    # fingerprint is made current so the next plan does not compute its facts
    renewed: list[tuple[str, str]] = []
    keys = tuple(rows[0]._fields) if rows else ()
    owes = keys.index("open_invoices") if rows else 0
    current = fingerprint.salt_key(run.salt) if run.salt is not None else None
    for row in rows:
        print_: str | None = None
        if run.salt is not None:
            print_ = fingerprint.in_python(row[:width], run.salt) if in_python else row.fingerprint
            if run.skip_unchanged and print_ == row.stored_fingerprint:
                if row.stored_salt != current:
                    renewed.append((row.id, print_))
                continue  # counted as unchanged once the run is done
        if row[owes]:
            sheets.append(
                sheet_from_row(dict(zip(keys, row, strict=True)), run.now, in_default, check=False)
            )
        else:  # nothing open: the read computed no more than that (`open_only`)
            sheets.append(settled_sheet(row[0]))
        prints.append(print_)
    summary.facts_seconds += time.perf_counter() - clock
    clock = time.perf_counter()
    decided = _decide_all(sheets, run.decide, run.now, summary)
    summary.decide_seconds += time.perf_counter() - clock
    summary.debtors += len(sheets)
    if run.dry_run or not (sheets or renewed):
        if conn is not None:
            conn.commit()  # the fingerprints the read renewed
        return summary
    clock = time.perf_counter()
    decisions = [d for d in decided if d is not None]
    read_in = conn  # the read's transaction, committed here once the chunk is written
    with contextlib.ExitStack() as stack:
        if conn is None:
            conn = stack.enter_context(run.engine.begin())
            if conn.dialect.name == "postgresql":
                # a chunk's commit does not wait for its WAL flush: the run ends with one that
                # does (`_flush`), and a chunk lost in a crash loses its fingerprints with its
                # steps, so the next plan decides those debtors again
                conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
        if in_python:
            # stored first: writing the journeys below marks stale (by trigger) the debtors
            # whose journey this plan started, whose facts (messages_sent) it thereby changed
            fingerprint.store(
                conn,
                [
                    *renewed,
                    *(
                        (str(sheet["customer.id"]), p)
                        for sheet, d, p in zip(sheets, decided, prints, strict=True)
                        if d is not None and p is not None
                    ),
                ],
                run.now,
                run.salt,  # type: ignore[arg-type]  # in_python implies a salt
            )
        elif run.salt is not None and len(decisions) < len(sheets):
            # the read stored every fingerprint: a debtor that could not be decided has no
            # schedule from it, so the next plan must read it again
            failed = [
                str(s["customer.id"]) for s, d in zip(sheets, decided, strict=True) if d is None
            ]
            fingerprint.forget(conn, failed)
        _persist(conn, [str(s["customer.id"]) for s in sheets], decisions, run.now, summary)
        if read_in is not None:
            read_in.commit()
    summary.persist_seconds += time.perf_counter() - clock
    return summary


@contextlib.contextmanager
def _collector_paused() -> Generator[None, None, None]:
    """No cyclic garbage collection while a chunk is read, decided and written: it makes some
    hundred thousand short-lived containers (rows, sheets, decisions, traces), freed by their
    reference counts, and each of them counted towards the collector's next pass, which
    walked the whole heap over and over (half the time of shaping and deciding). Whatever
    cycles a chunk leaves are collected once the collector runs again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _read(conn: Connection, run: _Run, index: int) -> list[Row[Any]]:
    """A chunk's fact rows. With `_prints_in_sql` the read stores their fingerprints and its
    transaction stays open: the caller writes the chunk's schedule in it and commits (a chunk
    lost in a crash loses its fingerprints with its steps, so the next plan decides those
    debtors again); otherwise the read's transaction is ended here."""
    if conn.dialect.name == "postgresql":
        # compiling this big statement to machine code costs more than it saves on a chunk;
        # and the row estimates for an id range are far too low (29 debtors for 5,000 at a
        # million), which made PostgreSQL pick nested loops that compared every debtor of the
        # chunk with every row of a CTE: hash and merge joins only (2-3x faster per chunk).
        # The chunk's commit does not wait for its WAL flush: the run ends with one that does
        # (`_flush`)
        conn.exec_driver_sql(
            "SET LOCAL jit = off; SET LOCAL enable_nestloop = off;"
            " SET LOCAL synchronous_commit = off"
        )
    chunk = run.chunks[index]
    rows = list(conn.execute(chunk.query, chunk.params).all())
    if _prints_in_sql(run):
        # the chunk's writes that follow are planned as any other statement
        conn.exec_driver_sql("SET LOCAL jit = DEFAULT; SET LOCAL enable_nestloop = DEFAULT")
    else:
        conn.rollback()  # a read: end it, so no transaction idles while the chunk is decided
    return rows


#: A chunk's fact rows, and the connection whose open transaction read them (`_read`).
_Fetched = tuple[list[Row[Any]], Connection | None]


def _fetch(run: _Run) -> Generator[_Fetched, None, None]:
    if not _prints_in_sql(run):
        with run.engine.connect() as conn:
            for index in range(len(run.chunks)):
                yield _read(conn, run, index), None
        return
    # each chunk's transaction stays open until it is written: a connection per chunk
    for index in range(len(run.chunks)):
        conn = run.engine.connect()
        try:
            rows = _read(conn, run, index)
        except BaseException:
            conn.close()
            raise
        yield rows, conn


def _release(fetched: _Fetched) -> None:
    """A fetched chunk never planned (the run stopped early): its transaction rolled back."""
    if fetched[1] is not None:
        fetched[1].close()


#: The run a forked worker plans chunks of (set in the parent just before the fork).
_worker_run: _Run | None = None


def _worker_start() -> None:
    assert _worker_run is not None
    # the parent's pooled connections are not ours to use or close
    _worker_run.engine.dispose(close=False)
    # what the fork inherited (the compiled rules, the modules) lives as long as the worker:
    # kept out of the collector's passes
    gc.freeze()


def _worker_chunk(index: int) -> PlanSummary:
    run = _worker_run
    assert run is not None
    with _collector_paused():
        clock = time.perf_counter()
        with run.engine.connect() as conn:
            rows = _read(conn, run, index)
            fetched = time.perf_counter() - clock
            summary = _plan_rows(run, index, rows, conn if _prints_in_sql(run) else None)
        summary.facts_seconds += fetched
        return summary


def default_workers(engine: Engine) -> int:
    """One worker process per core on PostgreSQL, when this process has no other thread (a
    fork copies locks other threads may hold: the daemon and the API plan in-process); SQLite
    has one writer."""
    if engine.dialect.name != "postgresql" or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    if threading.active_count() > 1:
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


def _scope(customer_ids: Sequence[str] | None) -> Any:
    alive = t.Customer.__table__.c.forgotten_at.is_(None)  # type: ignore[attr-defined]
    if customer_ids is None:
        return alive
    return and_(alive, t.Customer.__table__.c.id.in_(list(customer_ids)))  # type: ignore[attr-defined]


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
    workers: int | None = None,
    incremental: bool = True,
    ruleset_version: str | None = None,
) -> PlanSummary:
    """Decide every debtor's next step at `now` and persist the schedule (unless `dry_run`).

    `incremental`: a debtor whose fingerprint (facts, ruleset version, hour) is the one stored
    by the last plan is not decided again (it counts in `unchanged`); needs the ruleset version
    (`ruleset_version`, or read from functools.partial(decide, rules)). `workers`: processes
    planning chunks side by side (default: one per core on PostgreSQL, one on SQLite)."""
    started = time.perf_counter()
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    summary = PlanSummary(dry_run=dry_run)
    version = ruleset_version or ruleset_version_of(decide)
    run_salt = fingerprint.salt(version, now) if version and not dry_run else None
    skip_unchanged = incremental and run_salt is not None
    with engine.connect() as conn:
        total = conn.execute(
            select(func.count()).select_from(t.Customer.__table__).where(_scope(customer_ids))  # type: ignore[attr-defined]
        ).scalar_one()
        tracked: _Stale | None = None  # None: every debtor in scope is read
        if skip_unchanged and run_salt and fingerprint.current_count(conn, run_salt) > 0:
            tracked = _stale(conn, run_salt, customer_ids, batch)
    chunks, sizes = _chunk_queries(engine, now, batch, customer_ids, tracked, total)
    if not chunks and progress is not None:
        progress(total)
    run = _Run(
        engine=engine,
        decide=decide,
        now=now,
        dry_run=dry_run,
        salt=run_salt,
        skip_unchanged=skip_unchanged,
        chunks=_fingerprinted(chunks, engine, now, run_salt, skip_unchanged),
        width=len(chunks[0].query.selected_columns) if chunks else 0,
    )
    count = workers if workers is not None else default_workers(engine)
    if engine.dialect.name != "postgresql":
        count = 1  # SQLite has one writer: chunks are planned here, one after the other
    summary.workers = max(1, min(count, len(chunks)))
    if summary.workers > 1:
        _plan_in_workers(run, summary, sizes, progress)
    else:
        _plan_here(run, summary, sizes, progress, prefetch=prefetch)
    if run.skip_unchanged:
        summary.unchanged = max(total - summary.debtors, 0)
        summary.debtors = total
    if not dry_run and chunks:
        _flush(engine, analyze=summary.debtors - summary.unchanged >= max(ANALYZE_MIN, total // 10))
    summary.seconds = time.perf_counter() - started
    return summary


#: Debtors decided (and at least a tenth of the portfolio) from which a plan refreshes the
#: statistics of the tables it wrote.
ANALYZE_MIN = 10_000


def _flush(engine: Engine, *, analyze: bool) -> None:
    """Wait until every chunk's commit is on disk (PostgreSQL): a transaction with an id,
    committed synchronously, flushes the write-ahead log up to its commit, which comes after
    the chunks' (committed without waiting).

    `analyze`: after a large plan, the statistics of the tables it wrote, so that the daemon's
    next statements are planned from them: taken before the plan (an empty schedule), they
    made a one-debtor re-decide read every scheduled step's index entry (12 ms of its 19 ms
    at a million debtors) until autovacuum came by. Tables this user does not own are skipped
    with a notice."""
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL synchronous_commit = on; SELECT pg_current_xact_id()")
    if analyze:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE scheduled_step, journey, plan_fingerprint")


#: Ids per query when a chunk's stale debtors are read by id (SQLite binds every id once per
#: CTE, and allows 32,766 parameters per statement).
ID_LIST = 1000


@dataclass(frozen=True, slots=True)
class _Stale:
    """The debtors a re-plan must read (ids in the database's order, with each one's chunk
    number) and the first id of every chunk of the portfolio."""

    ids: list[str]
    chunks: list[int]
    starts: list[str]


def _stale(
    conn: Connection, run_salt: str, customer_ids: Sequence[str] | None, batch: int
) -> _Stale:
    """One pass over the customers: those without a current fingerprint, and the chunk starts
    (positions are the database's id order: its collation, not Python's, decides the ranges)."""
    C = t.Customer.__table__  # type: ignore[attr-defined]
    ranked = (
        select(
            C.c.id,
            (func.row_number().over(order_by=C.c.id) - 1).label("n"),
            (~fingerprint.is_current(run_salt, C.c.id)).label("stale"),
        )
        .where(_scope(customer_ids))
        .subquery()
    )
    query = (
        select(ranked.c.id, ranked.c.n, ranked.c.stale)
        .where(or_(ranked.c.stale, ranked.c.n % batch == 0))
        .order_by(ranked.c.n)
    )
    found = _Stale(ids=[], chunks=[], starts=[])
    for row in conn.execute(query):
        if row.n % batch == 0:
            found.starts.append(row.id)
        if row.stale:
            found.ids.append(row.id)
            found.chunks.append(row.n // batch)
    return found


class _Shapes:
    """The facts queries of one run, each built once when first needed: an id range, the
    last range (open at the end), and a list of ids."""

    def __init__(self, engine: Engine, now: dt.datetime) -> None:
        self.now = now
        self.array = engine.dialect.name == "postgresql"  # SQLite binds each id once per CTE
        self.built: dict[str, Select[Any]] = {}

    def _query(self, kind: str) -> Select[Any]:
        if kind not in self.built:
            low = bindparam("id_from", type_=String)
            high = bindparam("id_to", type_=String)
            self.built[kind] = (
                fact_query(self.now, [], ids_array=self.array, open_only=True)
                if kind == "ids"
                else fact_query(
                    self.now, id_from=low, id_to=high if kind == "range" else None, open_only=True
                )
            )
        return self.built[kind]

    def range(self, low: str, high: str | None) -> _Chunk:
        if high is None:
            return _Chunk(self._query("last"), {"id_from": low})
        return _Chunk(self._query("range"), {"id_from": low, "id_to": high})

    def ids(self, ids: Sequence[str], batch: int) -> list[_Chunk]:
        size = batch if self.array else min(batch, ID_LIST)
        return [
            _Chunk(self._query("ids"), {"ids": list(ids[i : i + size])})
            for i in range(0, len(ids), size)
        ]


def _chunk_queries(
    engine: Engine,
    now: dt.datetime,
    batch: int,
    customer_ids: Sequence[str] | None,
    stale: _Stale | None,
    total: int,
) -> tuple[list[_Chunk], list[int]]:
    """The facts reads of a run and how many debtors each covers (for the progress bar).

    Without change tracking (`stale` None: a first plan, other rules, another hour, or a plain
    plan) the portfolio goes in id ranges of `batch`. A re-plan reads only the stale debtors:
    by id when they are few, else the ranges that hold any, each range by id when it holds
    less than half a batch of them (reading a whole range costs about a batch of debtors)."""
    shapes = _Shapes(engine, now)
    if customer_ids is not None:
        ids = sorted(set(customer_ids)) if stale is None else stale.ids
        return _by_ids(shapes, ids, batch)
    if stale is not None and len(stale.ids) <= total // 4:
        by_id, sizes = _by_ids(shapes, stale.ids, batch)
        if sizes:
            sizes[-1] += total - sum(sizes)  # the progress bar counts the whole portfolio
        return by_id, sizes
    starts = stale.starts if stale is not None else chunk_starts(engine, batch)
    ends: list[str | None] = [*starts[1:], None] if starts else []  # an empty store
    sizes = [batch] * len(starts)
    if sizes:
        sizes[-1] = total - batch * (len(sizes) - 1)
    if stale is None:
        return [shapes.range(a, b) for a, b in zip(starts, ends, strict=True)], sizes
    chunks: list[_Chunk] = []
    counts: list[int] = []
    carried = 0  # debtors of the ranges skipped so far, counted with the next query
    for chunk, (a, b, size) in enumerate(zip(starts, ends, sizes, strict=True)):
        low = bisect.bisect_left(stale.chunks, chunk)
        high = bisect.bisect_right(stale.chunks, chunk)
        carried += size
        if high == low:
            continue
        if high - low >= batch // 2:
            chunks.append(shapes.range(a, b))
            counts.append(carried)
        else:
            parts, _ = _by_ids(shapes, stale.ids[low:high], batch)
            chunks.extend(parts)
            counts.extend([0] * (len(parts) - 1) + [carried])
        carried = 0
    if counts:
        counts[-1] += carried
    return chunks, counts


def _by_ids(shapes: _Shapes, ids: Sequence[str], batch: int) -> tuple[list[_Chunk], list[int]]:
    # PostgreSQL takes the ids as one array; SQLite binds each id once per CTE
    parts = shapes.ids(ids, batch)
    return parts, [len(part.params["ids"]) for part in parts]


def _plan_here(
    run: _Run,
    summary: PlanSummary,
    sizes: Sequence[int],
    progress: Callable[[int], None] | None,
    *,
    prefetch: bool,
) -> None:
    fetched = _fetch(run)
    batches = prefetched(fetched, discard=_release) if prefetch else fetched
    try:
        for index, size in enumerate(sizes):
            clock = time.perf_counter()
            rows, conn = next(batches)
            summary.facts_seconds += time.perf_counter() - clock
            try:
                with _collector_paused():
                    summary.add(_plan_rows(run, index, rows, conn))
            finally:
                if conn is not None:
                    conn.close()
            if progress is not None:
                progress(size)
    finally:
        batches.close()  # stops the prefetching thread if we leave early


def _plan_in_workers(
    run: _Run, summary: PlanSummary, sizes: Sequence[int], progress: Callable[[int], None] | None
) -> None:
    global _worker_run
    _worker_run = run
    try:
        # fork: the workers inherit the compiled rules (which do not pickle); only chunk
        # numbers go out and chunk summaries come back
        context = multiprocessing.get_context("fork")
        with context.Pool(summary.workers, initializer=_worker_start) as pool:
            for index, part in enumerate(pool.imap(_worker_chunk, range(len(sizes)))):
                summary.add(part)
                if progress is not None:
                    progress(sizes[index])
    finally:
        _worker_run = None
