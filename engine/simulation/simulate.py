"""Replay N days of the daemon's own loop on a copy of a portfolio, with a simulated clock.

Each simulated day: the nightly plan at 02:00, then the daemon's tick (events, resumes,
fallbacks on no reaction, dispatch) every hour of the send window; before each, what the
simulated debtors did by then is recorded as events through the store (`store_event`), the
way a webhook or a bank statement would. Messages go through `engine.daemon` exactly as in
`payjourney run`: the only things swapped are the clock and the channel map.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select

from engine.daemon.scheduler import Daemon
from engine.daemon.settings import DaemonSettings
from engine.messages.render import DEFAULT_TEMPLATES_DIR
from engine.rules.rulebook import RuleBook
from engine.simulation.behaviour import (
    BehaviourModel,
    BehaviourParams,
    OpenInvoice,
    Reaction,
    ResponseTable,
)
from engine.simulation.delivery import simulated_channels
from engine.store import tables as t
from engine.store.db import make_engine
from engine.store.events import store_event
from engine.store.facts_sql import fact_sheets_for
from engine.store.generate import HiddenTraits, generate
from engine.store.migrate import remove_sqlite_file, upgrade
from engine.store.rows import EventRow

ZONE = ZoneInfo("Europe/Amsterdam")
#: The nightly plan, then one daemon tick per hour of the send window (local time).
PLAN_HOUR = 2
TICK_HOURS = tuple(range(7, 21))
#: At these hours the daemon ticks whatever happened; at the others only when a step is due or
#: a debtor did something (an idle tick changes nothing, so skipping it changes no result but
#: the moment a fallback on no reaction is noticed: at most 4 hours later than the daemon would).
ALWAYS_TICK = (8, 12, 16, 20)
INV = t.Invoice.__table__  # type: ignore[attr-defined]
P = t.Payment.__table__  # type: ignore[attr-defined]
C = t.Customer.__table__  # type: ignore[attr-defined]
K = t.Contact.__table__  # type: ignore[attr-defined]
S = t.ScheduledStep.__table__  # type: ignore[attr-defined]


class SimClock:
    """The simulated time every part of the run reads."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass(frozen=True, slots=True, kw_only=True)
class Portfolio:
    """A generated portfolio in a SQLite file that every run starts from a copy of."""

    path: Path
    debtors: int
    seed: int
    start: dt.datetime
    days: int
    traits: Mapping[str, HiddenTraits] = field(repr=False)

    @property
    def end(self) -> dt.datetime:
        return self.start + dt.timedelta(days=self.days)


def run_start(day: dt.date) -> dt.datetime:
    """A run starts at midnight in Amsterdam on its first day."""
    return dt.datetime.combine(day, dt.time(0), ZONE)


def prepare_portfolio(
    path: Path, *, debtors: int, seed: int, first_day: dt.date, days: int
) -> Portfolio:
    """Generate the portfolio once (history up to the first day, invoices falling due during
    the run) into `path`, recreated."""
    remove_sqlite_file(path)
    engine = make_engine(f"sqlite:///{path}")
    try:
        upgrade(engine)
        generated = generate(
            engine, debtors=debtors, seed=seed, today=first_day, due_within_days=days
        )
    finally:
        engine.dispose()
    return Portfolio(
        path=path,
        debtors=debtors,
        seed=seed,
        start=run_start(first_day),
        days=days,
        traits=generated.traits,
    )


def personas_at_start(portfolio: Portfolio, rules_dir: Path) -> dict[str, str]:
    """Each debtor's persona under `rules_dir` as the run starts: the groups the report compares
    rule sets on (the same debtors in each, whatever personas the other rule set has)."""
    rulebook = RuleBook(rules_dir)
    engine = make_engine(f"sqlite:///{portfolio.path}")
    try:
        with engine.connect() as conn:
            ids = [r.id for r in conn.execute(select(C.c.id).order_by(C.c.id))]
        sheets = fact_sheets_for(engine, ids, portfolio.start)
    finally:
        engine.dispose()
    rules = rulebook.current
    return {cid: rules.classify(sheet.values).persona.id for cid, sheet in sheets.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """One replay: where its database is, and how long it took."""

    rules_dir: Path
    seed: int
    database: Path
    outbox: Path | None
    seconds: float
    messages: int
    reactions: Mapping[str, int]


def _open_invoices(engine: Engine) -> list[OpenInvoice]:
    paid = (
        select(P.c.invoice_id, func.sum(P.c.amount).label("paid"))
        .where(P.c.invoice_id.is_not(None))
        .group_by(P.c.invoice_id)
        .subquery()
    )
    query = select(
        INV.c.id, INV.c.customer_id, INV.c.amount, INV.c.issue_date, INV.c.due_date, paid.c.paid
    ).outerjoin(paid, paid.c.invoice_id == INV.c.id)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    out = []
    for r in rows:
        remaining = Decimal(r.amount) - Decimal(r.paid or 0)
        if remaining > 0:
            out.append(
                OpenInvoice(
                    id=r.id,
                    customer_id=r.customer_id,
                    remaining=remaining,
                    issue_date=r.issue_date,
                    due_date=r.due_date,
                )
            )
    return out


def _names(engine: Engine) -> dict[str, tuple[str, ...]]:
    names: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for r in conn.execute(select(C.c.id, C.c.name)):
            names.setdefault(r.id, []).append(str(r.name or ""))
        for r in conn.execute(select(K.c.customer_id, K.c.name)):
            names.setdefault(r.customer_id, []).append(str(r.name or ""))
    return {k: tuple(v) for k, v in names.items()}


def book(engine: Engine, reactions: list[Reaction], now: dt.datetime) -> None:
    """Record what the debtors did as events, as a webhook or bank statement would."""
    for n, r in enumerate(reactions):
        data: dict[str, object] = {}
        if r.kind == "paid":
            data = {"amount": str(r.amount), "cause": r.cause}
            event_id = f"sim-paid-{r.invoice_id}"
        elif r.kind == "promised":
            data = {"amount": str(r.amount), "until": str(r.until)}
            event_id = f"sim-promised-{r.customer_id}-{r.at:%Y%m%d%H%M}-{n}"
        else:
            data = {"reason": "disputed in the simulation"}
            event_id = f"sim-{r.kind}-{r.customer_id}-{r.at:%Y%m%d%H%M}"
        event = EventRow.model_validate(
            {
                "id": event_id,
                "customer_id": r.customer_id,
                "kind": r.kind,
                "invoice_id": r.invoice_id,
                "occurred_at": r.at,
                "data": data,
            }
        )
        store_event(engine, event, now=now)


def _due(engine: Engine, now: dt.datetime) -> bool:
    """Whether any step is due for the daemon to claim."""
    with engine.connect() as conn:
        found = conn.execute(
            select(S.c.id)
            .where(S.c.status.in_(("scheduled", "fallback")), S.c.send_at <= now)
            .limit(1)
        ).first()
    return found is not None


def moments(portfolio: Portfolio) -> list[tuple[dt.datetime, bool]]:
    """(moment, is the nightly plan) for every turn of the run, in order."""
    out: list[tuple[dt.datetime, bool]] = []
    first = portfolio.start.date()
    for n in range(portfolio.days):
        day = first + dt.timedelta(days=n)
        out.append((dt.datetime.combine(day, dt.time(PLAN_HOUR), ZONE), True))
        out.extend((dt.datetime.combine(day, dt.time(h), ZONE), False) for h in TICK_HOURS)
    return out


def run_rules(
    portfolio: Portfolio,
    rules_dir: Path,
    *,
    params: BehaviourParams,
    seed: int,
    database: Path,
    responses: ResponseTable | None = None,
    outbox: Path | None = None,
    templates_dir: Path = DEFAULT_TEMPLATES_DIR,
    progress: Callable[[int], None] | None = None,
    letter_pdfs: bool = False,
) -> RunResult:
    """Replay the portfolio's days under `rules_dir` on a fresh copy at `database`.

    Letters go out as their text without building the PDF (`Dispatcher(letter_pdfs=False)`):
    the behaviour model reads the text only, and a PDF was a third of the time of a message.
    `letter_pdfs=True` builds them (the outbox then holds each letter's PDF)."""
    began = time.perf_counter()
    rulebook = RuleBook(rules_dir)  # validated with its templates once, by the caller
    remove_sqlite_file(database)
    shutil.copyfile(portfolio.path, database)
    engine = make_engine(f"sqlite:///{database}")
    clock = SimClock(portfolio.start.astimezone(dt.UTC))
    model = BehaviourModel(params=params, traits=portfolio.traits, seed=seed, responses=responses)
    model.start(_open_invoices(engine), _names(engine), portfolio.start, portfolio.end)
    if outbox is not None:
        shutil.rmtree(outbox, ignore_errors=True)
    daemon = Daemon(
        engine=engine,
        rulebook=rulebook,
        channels=simulated_channels(model, engine, clock, outbox),
        settings=DaemonSettings(daemon_id=f"simulation-{seed}", timezone=ZONE.key),
        clock=clock,
        templates_dir=templates_dir,
        letter_pdfs=letter_pdfs,
    )
    reactions: dict[str, int] = {}
    daemon.start()
    try:
        day = None
        for local, nightly in moments(portfolio):
            moment = clock.now = local.astimezone(dt.UTC)
            happened = model.due(moment)
            for r in happened:
                key = f"{r.kind}:{r.cause}" if r.kind == "paid" else r.kind
                reactions[key] = reactions.get(key, 0) + 1
            book(engine, happened, moment)
            if nightly:
                daemon.plan()
            elif happened or local.hour in ALWAYS_TICK or _due(engine, moment):
                daemon.tick()
            if progress is not None and local.date() != day:
                day = local.date()
                progress(1)
        clock.now = portfolio.end.astimezone(dt.UTC)
        book(engine, model.due(clock.now), clock.now)
    finally:
        daemon.close()
        engine.dispose()
        database.with_name(database.name + ".daemon-lock").unlink(missing_ok=True)
    return RunResult(
        rules_dir=rules_dir,
        seed=seed,
        database=database,
        outbox=outbox,
        seconds=time.perf_counter() - began,
        messages=model.messages,
        reactions=reactions,
    )
