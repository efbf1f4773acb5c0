"""A debtor, a clock the test moves, and a dispatcher on the real store and the outbox channel."""

from __future__ import annotations

import datetime as dt
import functools
import random
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from channels.base import (
    OutgoingMessage,
    PermanentChannelError,
    Receipt,
    TransientChannelError,
)
from channels.outbox import OutboxChannel
from engine.daemon.dispatch import Dispatcher
from engine.daemon.jobs import EventWatch, fallback_on_no_reaction, resume_paused
from engine.daemon.outcome import DispatchReport
from engine.daemon.settings import DaemonSettings
from engine.decision.decide import decide
from engine.rules.compile import CompiledRules, compile_rules
from engine.rules.rulespec import load_rules
from engine.store import tables as t
from engine.store.events import record_event
from engine.store.planner import plan
from engine.store.rows import EventRow
from tests.store.builders import load

RULES = Path(__file__).with_name("rules")
#: Invoice due Monday 2 Nov 2026; step 1 (due + 3d) is Thursday 5 Nov, 08:00 in Amsterdam.
DUE = dt.date(2026, 11, 2)
STEP1 = dt.datetime(2026, 11, 5, 7, 0, tzinfo=dt.UTC)


@functools.cache
def rules() -> CompiledRules:
    return compile_rules(load_rules(RULES))


class Clock:
    """The only fake: time, moved by the test."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self.mono = 1000.0

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        step = dt.timedelta(**delta)
        self.now += step
        self.mono += step.total_seconds()

    def ticker(self) -> float:
        return self.mono

    def sleep(self, seconds: float) -> None:
        self.advance(seconds=seconds)


class Scripted:
    """A channel whose provider answers as the test scripts it (then delivers to the outbox)."""

    def __init__(self, inner: OutboxChannel, answers: list[str]) -> None:
        self.name = inner.name
        self.inner = inner
        self.answers = answers
        self.calls: list[str] = []

    def send(self, message: OutgoingMessage) -> Receipt:
        self.calls.append(message.idempotency_key)
        answer = self.answers.pop(0) if self.answers else "ok"
        if answer == "transient":
            raise TransientChannelError("451 try later", provider="test", code="451")
        if answer == "permanent":
            raise PermanentChannelError("550 no such user", provider="test", code="550")
        return self.inner.send(message)

    def close(self) -> None:
        return None


def debtor(
    store: Engine, tmp: Path, cid: str = "C-1", amount: str = "500.00", **contact: Any
) -> None:
    """A Dutch business with one open invoice due on DUE, reachable by email and SMS."""
    person = {
        "id": f"{cid}-P",
        "customer_id": cid,
        "name": "Anna de Vries",
        "email": f"{cid.lower()}@example.nl",
        "phone": "+31612345678",
        "consent_sms": True,
        "street": "Dorpsstraat 1",
        "postal_code": "1234 AB",
        "city": "Utrecht",
        **contact,
    }
    invoice = {
        "id": f"{cid}-I1",
        "customer_id": cid,
        "amount": amount,
        "currency": "EUR",
        "issue_date": (DUE - dt.timedelta(days=30)).isoformat(),
        "due_date": DUE.isoformat(),
    }
    customer = {"id": cid, "kind": "business", "country": "NL", "name": f"Klant {cid} B.V."}
    load(store, tmp / "import", customers=[customer], contacts=[person], invoices=[invoice])


def pay(store: Engine, tmp: Path, clock: Clock, amount: str, cid: str = "C-1", n: int = 1) -> None:
    payment = {
        "id": f"{cid}-PAY{n}",
        "customer_id": cid,
        "invoice_id": f"{cid}-I1",
        "amount": amount,
        "currency": "EUR",
        "paid_at": clock().isoformat(),
    }
    load(store, tmp / "import", payments=[payment])
    event(store, clock, f"paid-{cid}-{n}", "paid", cid)


def event(
    store: Engine, clock: Clock, eid: str, kind: str, cid: str = "C-1", **fields: Any
) -> None:
    row = EventRow.model_validate(
        {"id": eid, "customer_id": cid, "kind": kind, "occurred_at": clock().isoformat(), **fields}
    )
    record_event(store, row, now=clock())


class World:
    """The store, the clock, the channels and the daemon's jobs, run by hand."""

    def __init__(
        self,
        store: Engine,
        tmp: Path,
        clock: Clock,
        *,
        answers: Mapping[str, list[str]] | None = None,
        rules_fn: Callable[[], CompiledRules] = rules,
        payments: Any = None,
        **settings: Any,
    ) -> None:
        self.store, self.tmp, self.clock = store, tmp, clock
        self.outbox = tmp / "outbox"
        self.channels: dict[str, Scripted] = {
            name: Scripted(
                OutboxChannel(name, self.outbox, clock=clock), list((answers or {}).get(name, []))
            )
            for name in ("email", "sms", "letter")
        }
        defaults: dict[str, Any] = {"daemon_id": "test-daemon", "max_attempts": 3}
        self.settings = DaemonSettings(**{**defaults, **settings})
        self.rules_fn = rules_fn
        self.dispatcher = Dispatcher(
            engine=store,
            rules=rules_fn,
            channels=self.channels,
            settings=self.settings,
            clock=clock,
            ticker=clock.ticker,
            sleep=clock.sleep,
            rng=random.Random(1),
            pdf_dir=tmp / "pdf",
            payments=payments,
        )
        self.events = EventWatch(
            engine=store,
            rules=rules_fn,
            clock=clock,
            grace=self.settings.promise_grace,
            since=clock() - dt.timedelta(days=1),
        )

    def plan(self) -> None:
        summary = plan(self.store, functools.partial(decide, self.rules_fn()), self.clock())
        assert not summary.failures, summary.failures

    def tick(self) -> DispatchReport:
        """What the daemon does every few seconds: events, resumes, fallbacks, dispatch."""
        self.events()
        resume_paused(self.store, self.rules_fn(), self.clock(), grace=self.settings.promise_grace)
        fallback_on_no_reaction(self.store, self.clock())
        return self.dispatcher.run_once()

    def files(self) -> list[str]:
        return sorted(p.name for p in self.outbox.glob("*")) if self.outbox.exists() else []

    def rows(self, model: Any, *where: Any) -> list[Any]:
        table = model.__table__
        with self.store.connect() as conn:
            return list(conn.execute(select(table).where(*where)).all())

    def journey(self, cid: str = "C-1") -> Any:
        return self.rows(t.Journey, t.Journey.__table__.c.customer_id == cid)[0]

    def steps(self, cid: str = "C-1") -> list[Any]:
        table = t.ScheduledStep.__table__
        return sorted(self.rows(t.ScheduledStep, table.c.customer_id == cid), key=lambda r: r.id)

    def messages(self, cid: str = "C-1") -> list[Any]:
        table = t.Message.__table__
        return sorted(self.rows(t.Message, table.c.customer_id == cid), key=lambda r: r.created_at)
