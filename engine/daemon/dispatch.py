"""Dispatch: claim due steps, re-decide each on fresh facts, send it once, record what happened.

For every claimed step:
1. the debtor's facts are derived now, and `decide` must still answer this very step (SEND, or a
   WAIT that ends within the tolerance); otherwise the step is cancelled (paid, disputed,
   promised, another step is due, the rules changed) or moved (send window, weekly cap, pause),
   with the reason on the row;
2. the message is rendered, the outbox row (id = the idempotency key, one per step and channel)
   is committed as `sending` with a lease, and only then is the provider called with that key;
3. the answer is recorded: `sent` (journey moves on), a transient failure (back on the schedule
   after a backoff, up to a limit, then `failed`), a permanent one (the channel is blocked for
   this debtor and the next channel is tried at once), or anything unexpected (`unknown`).
One bad debtor never stops the pass: its step records the error and the pass goes on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import random
import tempfile
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, Row, select, update

from channels.base import (
    Attachment,
    Channel,
    OutgoingMessage,
    PermanentChannelError,
    Receipt,
    TransientChannelError,
)
from engine.daemon import claims, lifecycle, records
from engine.daemon.limits import CircuitBreaker, RateLimiter, Sleep, Ticker, backoff_seconds
from engine.daemon.links import ReusedLinks, recorded_links
from engine.daemon.metrics import Metrics
from engine.daemon.outcome import DispatchReport, Outcome
from engine.daemon.settings import Clock, DaemonSettings
from engine.decision import timing
from engine.decision.decide import allowed, decide
from engine.decision.model import Action, Decision, FactSheet
from engine.messages.payments.base import PaymentProvider
from engine.messages.render import DEFAULT_TEMPLATES_DIR, render_preview
from engine.rules.compile import CompiledRules
from engine.store import tables as t
from engine.store.bulk import insert_new
from engine.store.dialogue import issue_link
from engine.store.facts_sql import fact_sheets_on
from engine.store.message_data import MessageData, message_data_on

S = t.ScheduledStep.__table__  # type: ignore[attr-defined]
M = t.Message.__table__  # type: ignore[attr-defined]
J = t.Journey.__table__  # type: ignore[attr-defined]
B = t.ChannelBlock.__table__  # type: ignore[attr-defined]
C = t.Contact.__table__  # type: ignore[attr-defined]
_SENT = ("sent", "delivered")
#: Steps whose outbox rows are committed together before their provider calls (one transaction
#: for their rows, one for their answers). A daemon killed mid-chunk leaves at most this many
#: messages `unknown`. The chunk is smaller when steps are slow: it is sized so that rendering
#: and sending it takes at most LEASE_SHARE of the lease, at the average time per step so far.
SEND_CHUNK = 100
#: The chunk before any send was timed (and the least a fast channel gets).
FIRST_SEND_CHUNK = 25
LEASE_SHARE = 0.25
log = structlog.get_logger("payjourney.dispatch")


def message_key(step_id: int, channel: str) -> str:
    """The idempotency key (and message id) of a step's attempt on one channel."""
    return f"pj-{step_id}-{channel}"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Batch:
    """What a claimed batch needs from the store, read in a few queries."""

    facts: Mapping[str, FactSheet]
    journeys: Mapping[str, Row[Any]]
    blocked: Mapping[str, frozenset[str]]
    tried: Mapping[int, Sequence[Row[Any]]]  # the step's messages so far
    contacts: Mapping[str, Row[Any]]
    data: Mapping[str, MessageData]


def _side_demand(step: Row[Any]) -> Decimal | None:
    """What a message beside the journey's steps asks to pay: a payment plan's instalment
    reminder its instalment, a promise confirmation the amount promised (each at most what is
    open when it is sent); a journey step asks the whole claim (None)."""
    if step.step != lifecycle.CONFIRMATION_STEP or step.amount_due is None:
        return None
    return Decimal(str(step.amount_due))


@dataclass(frozen=True, slots=True, kw_only=True)
class _Plan:
    """A step to send: the decision to render, and the channels to try in order."""

    step: Row[Any]
    decision: Decision
    facts: FactSheet
    channels: tuple[str, ...]
    requeue: str = "scheduled"  # the status a retry goes back to (`fallback` keeps its kind)


@dataclass(slots=True, kw_only=True)
class _Ready:
    """One attempt, rendered, waiting for its outbox row and its provider call."""

    plan: _Plan
    position: int
    decision: Decision
    key: str
    adapter: Channel
    outgoing: OutgoingMessage
    content_hash: str
    payment: list[dict[str, Any]]
    history: list[Any] = field(default_factory=list)
    lease_until: dt.datetime | None = None


class Dispatcher:
    """Sends due steps through `channels` (one adapter per channel name)."""

    def __init__(
        self,
        *,
        engine: Engine,
        rules: Callable[[], CompiledRules],
        channels: Mapping[str, Channel],
        settings: DaemonSettings,
        clock: Clock,
        payments: PaymentProvider | None = None,
        templates_dir: Path = DEFAULT_TEMPLATES_DIR,
        pdf_dir: Path | None = None,
        metrics: Metrics | None = None,
        ticker: Ticker | None = None,
        sleep: Sleep | None = None,
        rng: random.Random | None = None,
        letter_pdfs: bool = True,
    ) -> None:
        """`letter_pdfs=False`: a letter goes out as its text without the PDF attachment, for
        channels that read only the text (the simulation's behaviour model); a real daemon
        always builds it."""
        import time

        self.engine = engine
        self.rules = rules
        self.channels = channels
        self.settings = settings
        self.clock = clock
        self.payments = payments
        self.templates_dir = templates_dir
        self.pdf_dir = pdf_dir
        self.letter_pdfs = letter_pdfs
        self.metrics = metrics or Metrics()
        self._ticker = ticker or time.monotonic
        self._sleep = sleep or time.sleep
        self._rng = rng or random.Random()
        self._stop = threading.Event()
        self._step_seconds: float | None = None  # a chunk's average time per step, once timed
        self.limiters = {
            name: RateLimiter(rate, ticker=self._ticker, sleep=self._sleep)
            for name, rate in settings.rate_limits.items()
        }
        self.breakers: dict[str, CircuitBreaker] = defaultdict(
            lambda: CircuitBreaker(
                threshold=settings.breaker_threshold,
                reset_after=settings.breaker_reset.total_seconds(),
                ticker=self._ticker,
            )
        )

    # ------------------------------------------------------------------ the pass

    def stop(self) -> None:
        """Stop claiming; the step under way finishes, the rest of the batch is released."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def expire(self) -> claims.Expired:
        with self.engine.begin() as conn:
            expired = claims.expire_leases(conn, now=self.clock())
        if expired.unknown:
            self.metrics.unknown.inc(expired.unknown)
            log.warning("leases ran out mid-send", unknown=expired.unknown)
        return expired

    def run_once(self, *, max_batches: int | None = None) -> DispatchReport:
        """Sweep expired leases, then claim and send batches until nothing is due."""
        report = DispatchReport()
        expired = self.expire()
        report.expired_retaken, report.expired_unknown = expired.retaken, expired.unknown
        batches = 0
        while not self.stopping and (max_batches is None or batches < max_batches):
            now = self.clock()
            with self.engine.begin() as conn:
                rows = claims.claim_due(
                    conn,
                    daemon_id=self.settings.daemon_id,
                    now=now,
                    horizon=now + self.settings.tolerance,
                    lease=self.settings.lease,
                    limit=self.settings.batch,
                )
            if not rows:
                break
            batches += 1
            report.claimed += len(rows)
            self.metrics.claimed.inc(len(rows))
            self._observe_lag(rows, now)
            self._dispatch_batch(rows, report)
        return report

    def _observe_lag(self, rows: Sequence[Row[Any]], now: dt.datetime) -> None:
        for row in rows:
            self.metrics.lag.observe(max(0.0, (now - row.send_at).total_seconds()))

    def _dispatch_batch(self, rows: Sequence[Row[Any]], report: DispatchReport) -> None:
        batch = self._load(rows)
        plans: list[_Plan] = []
        for step in rows:
            try:
                result = self._handle(step, batch, report)
            except Exception as exc:  # one bad debtor never stops the daemon
                log.exception("step failed", step_id=step.id, error=type(exc).__name__)
                result = self._fail(step.id, f"{type(exc).__name__}: {exc}")
            if isinstance(result, _Plan):
                plans.append(result)
            else:
                self._count(report, result)
        # sending goes in chunks: one transaction commits a chunk's outbox rows before any of
        # its provider calls, one records their answers
        start = 0
        while start < len(plans):
            if self.stopping:
                left = [p.step.id for p in plans[start:]]
                with self.engine.begin() as conn:
                    claims.release(
                        conn, step_ids=left, daemon_id=self.settings.daemon_id, now=self.clock()
                    )
                for _ in left:
                    self._count(report, Outcome.RELEASED)
                return
            chunk = plans[start : start + self._chunk_size()]
            start += len(chunk)
            began = self._ticker()
            for outcome in self._send_plans(chunk, batch, report):
                self._count(report, outcome)
            self._timed_steps((self._ticker() - began) / len(chunk))

    def _chunk_size(self) -> int:
        """How many steps the next chunk takes: as many as the average time a step took
        (rendering, outbox, provider call, record) lets through within LEASE_SHARE of the
        lease, between 1 and SEND_CHUNK; FIRST_SEND_CHUNK before any chunk was timed."""
        if self._step_seconds is None:
            return FIRST_SEND_CHUNK
        budget = self.settings.lease.total_seconds() * LEASE_SHARE
        fits = int(budget / max(self._step_seconds, 1e-4))
        return max(1, min(SEND_CHUNK, fits))

    def _timed_steps(self, seconds: float) -> None:
        """Fold a chunk's time per step into the average (a slower chunk counts at once)."""
        if self._step_seconds is None or seconds > self._step_seconds:
            self._step_seconds = seconds
        else:
            self._step_seconds += (seconds - self._step_seconds) * 0.2

    def _count(self, report: DispatchReport, outcome: Outcome) -> None:
        report.add(outcome)
        self.metrics.count(outcome)

    def _load(self, rows: Sequence[Row[Any]]) -> _Batch:
        ids = sorted({r.customer_id for r in rows})
        now = self.clock()
        with self.engine.connect() as conn:  # one connection for the batch's reads
            facts = fact_sheets_on(conn, ids, now)
            data = message_data_on(conn, ids, now)
            journeys = {
                r.customer_id: r
                for r in conn.execute(select(J).where(records.among(conn, J.c.customer_id, ids)))
            }
            blocked: dict[str, set[str]] = defaultdict(set)
            for r in conn.execute(
                select(B.c.customer_id, B.c.channel).where(
                    records.among(conn, B.c.customer_id, ids)
                )
            ):
                blocked[r.customer_id].add(r.channel)
            tried: dict[int, list[Row[Any]]] = defaultdict(list)
            step_ids = [r.id for r in rows]
            for r in conn.execute(
                select(M).where(records.among(conn, M.c.scheduled_step_id, step_ids))
            ):
                tried[r.scheduled_step_id].append(r)
            contacts: dict[str, Row[Any]] = {}
            query = (
                select(C)
                .where(records.among(conn, C.c.customer_id, ids))
                .order_by(C.c.customer_id, C.c.is_primary.desc(), C.c.id)
            )
            for r in conn.execute(query):
                contacts.setdefault(r.customer_id, r)
        return _Batch(
            data=data,
            facts=facts,
            journeys=journeys,
            blocked={k: frozenset(v) for k, v in blocked.items()},
            tried=tried,
            contacts=contacts,
        )

    # ------------------------------------------------------------------ one step

    def _handle(self, step: Row[Any], batch: _Batch, report: DispatchReport) -> Outcome | _Plan:
        now = self.clock()
        rules = self.rules()
        facts = batch.facts.get(step.customer_id)
        if facts is None:
            return self._cancel(step.id, "the customer is gone (forgotten or deleted)")
        journey = batch.journeys.get(step.customer_id)
        if (
            journey is not None
            and journey.state == "paused"
            and journey.paused_until is not None
            and journey.paused_until > now
            and step.step != lifecycle.CONFIRMATION_STEP
        ):
            return self._reschedule(
                step.id, journey.paused_until, "journey paused (promise to pay and grace)"
            )
        decision = decide(rules, facts, now)
        blocked = batch.blocked.get(step.customer_id, frozenset())
        tried = batch.tried.get(step.id, ())
        if step.step == lifecycle.CONFIRMATION_STEP:
            return self._confirmation(step, decision, facts, blocked, tried, batch, report)
        if tried and int(facts["journey.steps_sent"] or 0) >= step.step:
            # this step went out before: it is back for its next channel (bounce, no reaction)
            return self._fallback(step, decision, facts, blocked, tried, batch, report)
        same = (
            decision.persona == step.journey
            and decision.journey_round == step.round
            and decision.journey_step == step.step
        )
        if not same:
            return self._not_this_step(step, decision, facts, rules, now)
        if decision.action is Action.WAIT:
            assert decision.send_at is not None
            if decision.send_at - now > self.settings.tolerance:
                return self._reschedule(step.id, decision.send_at, decision.reason)
            decision = dataclasses.replace(decision, action=Action.SEND, send_at=now)
        if decision.action is Action.HANDOFF and not (decision.template and decision.channel):
            self._finish(step, now)
            return Outcome.HANDED_OFF
        order = [decision.channel, *decision.fallback_channels]
        failed_here = {m.channel for m in tried if m.status == "failed"}
        channels = [c for c in order if c and c not in blocked and c not in failed_here]
        if not channels:
            return self._fail(step.id, "no usable channel left: " + ", ".join(map(str, order)))
        return _Plan(step=step, decision=decision, facts=facts, channels=tuple(channels))

    def _not_this_step(
        self,
        step: Row[Any],
        decision: Decision,
        facts: FactSheet,
        rules: CompiledRules,
        now: dt.datetime,
    ) -> Outcome:
        if decision.action is Action.NONE:
            reason = f"not sent: {decision.reason}"
        else:
            reason = (
                f"not sent: the decision now is {decision.persona} step {decision.journey_step}"
                f" ({decision.action.value}: {decision.reason})"
            )
        with self.engine.begin() as conn:
            self._set_step(conn, step.id, status="cancelled", last_error=reason)
            lifecycle.settle(
                conn,
                rules=rules,
                decision=decision,
                facts=facts,
                now=now,
                grace=self.settings.promise_grace,
            )
        log.info("step cancelled", step_id=step.id, reason=reason)
        return Outcome.CANCELLED

    def _confirmation(
        self,
        step: Row[Any],
        decision: Decision,
        facts: FactSheet,
        blocked: frozenset[str],
        tried: Sequence[Row[Any]],
        batch: _Batch,
        report: DispatchReport,
    ) -> Outcome | _Plan:
        if facts["journey.promised_until"] is None or decision.action is not Action.NONE:
            return self._cancel(step.id, "the promise is no longer running")
        if decision.persona is None:
            return self._cancel(step.id, "nothing is open")
        failed = {m.channel for m in tried if m.status == "failed"}
        order = [step.channel, *step.fallback_channels]
        channels = [
            c
            for c in order
            if c and c not in blocked and c not in failed and allowed(c, facts.values)
        ]
        if not channels:
            return self._fail(step.id, "no channel left for the promise confirmation")
        confirm = dataclasses.replace(
            decision,
            action=Action.SEND,
            template=step.template,
            journey_step=None,
            send_at=self.clock(),
        )
        return _Plan(step=step, decision=confirm, facts=facts, channels=tuple(channels))

    def _fallback(
        self,
        step: Row[Any],
        decision: Decision,
        facts: FactSheet,
        blocked: frozenset[str],
        tried: Sequence[Row[Any]],
        batch: _Batch,
        report: DispatchReport,
    ) -> Outcome | _Plan:
        """The step was sent and got no reaction (or bounced): the same step on the next channel."""
        if decision.action is Action.NONE or decision.persona != step.journey:
            with self.engine.begin() as conn:
                self._set_step(
                    conn,
                    step.id,
                    status="sent",
                    fallback_after_s=None,
                    last_error=f"no fallback: {decision.reason}",
                )
            return Outcome.CANCELLED
        rules = self.rules()
        policy, now = rules.spec.channels, self.clock()
        zone = timing.zone(facts["customer.timezone"] or "Europe/Amsterdam")
        opening = timing.next_window_opening(
            now, policy.send_window, zone, facts["customer.country"], policy.holidays
        )
        if opening > now:
            return self._reschedule(
                step.id, opening, "fallback waits for the send window", status="fallback"
            )
        used = {m.channel for m in tried}
        order = [step.channel, *step.fallback_channels]
        channels = [
            c
            for c in order
            if c and c not in used and c not in blocked and allowed(c, facts.values)
        ]
        if not channels:
            with self.engine.begin() as conn:
                self._set_step(
                    conn,
                    step.id,
                    status="sent",
                    fallback_after_s=None,
                    last_error="no fallback channel left",
                )
            return Outcome.CANCELLED
        again = dataclasses.replace(
            decision,
            action=Action.SEND,
            template=step.template,
            journey_step=step.step,
            locale=step.locale or decision.locale,
            tone=step.tone or decision.tone,
            send_at=self.clock(),
        )
        report.fallbacks += 1
        self.metrics.fallbacks.inc()
        return _Plan(
            step=step,
            decision=again,
            facts=facts,
            channels=tuple(channels[:1]),
            requeue="fallback",
        )

    def _send_plans(
        self, plans: Sequence[_Plan], batch: _Batch, report: DispatchReport
    ) -> list[Outcome]:
        """Send each plan on its first channel; a permanent failure tries the next at once."""
        outcomes: list[Outcome] = []
        pending = [(plan, 0) for plan in plans]
        while pending:
            ready: list[_Ready] = []
            for plan, position in pending:
                prepared = self._prepare(plan, position, batch)
                if isinstance(prepared, _Ready):
                    ready.append(prepared)
                elif prepared is Outcome.PERMANENT:
                    settled = self._next_channel(plan, position, ready, batch, report)
                    if settled is not None:
                        outcomes.append(settled)
                else:
                    outcomes.append(prepared)
            pending = []
            sent: list[tuple[_Ready, Receipt]] = []
            for item, early in self._commit_outbox(ready):
                if early is not None:
                    outcomes.append(early)
                    continue
                outcome, receipt = self._deliver(item)
                if outcome is Outcome.SENT and receipt is not None:
                    sent.append((item, receipt))
                elif outcome is Outcome.PERMANENT and item.position + 1 < len(item.plan.channels):
                    report.fallbacks += 1
                    self.metrics.fallbacks.inc()
                    pending.append((item.plan, item.position + 1))
                elif outcome is Outcome.PERMANENT:
                    outcomes.append(self._every_channel_failed(item.plan))
                else:
                    outcomes.append(outcome)
            self._record_sent(sent)
            outcomes.extend(Outcome.SENT for _ in sent)
        return outcomes

    def _next_channel(
        self,
        plan: _Plan,
        position: int,
        ready: list[_Ready],
        batch: _Batch,
        report: DispatchReport,
    ) -> Outcome | None:
        """Before any provider call the channel proved unusable (no adapter, no address)."""
        while position + 1 < len(plan.channels):
            position += 1
            report.fallbacks += 1
            self.metrics.fallbacks.inc()
            prepared = self._prepare(plan, position, batch)
            if isinstance(prepared, _Ready):
                ready.append(prepared)
                return None
            if prepared is not Outcome.PERMANENT:
                return prepared
        return self._every_channel_failed(plan)

    def _every_channel_failed(self, plan: _Plan) -> Outcome:
        return self._fail(
            plan.step.id, "every channel failed permanently: " + ", ".join(plan.channels)
        )

    def _prepare(self, plan: _Plan, position: int, batch: _Batch) -> _Ready | Outcome:
        """Render the attempt on the plan's channel at `position` (no database writes)."""
        step = plan.step
        channel = plan.channels[position]
        decision = dataclasses.replace(
            plan.decision, channel=channel, fallback_channels=plan.channels[position + 1 :]
        )
        key = message_key(step.id, channel)
        adapter = self.channels.get(channel)
        if adapter is None:
            log.error("no adapter for channel", channel=channel, step_id=step.id)
            self._note(step.id, f"{channel}: no channel adapter configured; trying the next")
            return Outcome.PERMANENT
        wait = self.breakers[channel].wait()
        if wait > 0:
            # the provider is resting, this debtor is not at fault: no attempt is used up
            return self._reschedule(
                step.id,
                self.clock() + dt.timedelta(seconds=wait),
                f"{channel} paused by its circuit breaker",
            )
        data = batch.data[step.customer_id]
        recipient = _recipient(channel, batch.contacts.get(step.customer_id), data)
        if recipient is None:
            self._block(step.customer_id, channel, f"no {channel} address", None)
            return Outcome.PERMANENT
        try:
            outgoing, content_hash, payment = self._render(
                decision, plan.facts, data, key, recipient, step, batch.tried.get(step.id, ())
            )
        except Exception as exc:  # a template problem is this debtor's, not the daemon's
            log.exception("rendering failed", step_id=step.id, template=decision.template)
            return self._fail(step.id, f"rendering failed: {type(exc).__name__}: {exc}")
        return _Ready(
            plan=plan,
            position=position,
            decision=decision,
            key=key,
            adapter=adapter,
            outgoing=outgoing,
            content_hash=content_hash,
            payment=payment,
        )

    def _commit_outbox(self, ready: Sequence[_Ready]) -> list[tuple[_Ready, Outcome | None]]:
        """One transaction: renew each claim and commit each outbox row as `sending`. Returns
        the attempts to send (None) and those settled here (lost claim, already recorded)."""
        out: list[tuple[_Ready, Outcome | None]] = []
        if not ready:
            return out
        now = self.clock()
        # the chunk's lease covers the waits its rate limits will impose, so a live daemon's
        # slow chunk is never mistaken for a dead one's
        waits = sum(
            1 / self.limiters[r.outgoing.channel].rate
            for r in ready
            if r.outgoing.channel in self.limiters
        )
        lease = self.settings.lease + dt.timedelta(seconds=waits)
        for item in ready:
            item.lease_until = now + lease
        with self.engine.begin() as conn:
            keys = [r.key for r in ready]
            existing = {
                row.id: row
                for row in conn.execute(
                    select(M.c.id, M.c.status, M.c.status_history).where(
                        records.among(conn, M.c.id, keys)
                    )
                )
            }
            mine = claims.renew_many(
                conn,
                step_ids=[r.plan.step.id for r in ready],
                daemon_id=self.settings.daemon_id,
                now=now,
                lease=lease,
            )
            new_rows: list[dict[str, Any]] = []
            for item in ready:
                step = item.plan.step
                if step.id not in mine:
                    log.warning("claim lost before sending", step_id=step.id)
                    out.append((item, Outcome.LOST))
                    continue
                found = existing.get(item.key)
                status = found.status if found is not None else None
                if status in _SENT or status in ("unknown", "sending"):
                    # recorded by an earlier turn: never send it twice
                    settled = "sent" if status in _SENT else "unknown"
                    self._set_step(conn, step.id, status=settled, claimed_until=None)
                    out.append((item, Outcome.SENT if settled == "sent" else Outcome.UNKNOWN))
                    continue
                if found is None:
                    new_rows.append(self._outbox_row(item, now))
                else:
                    self._outbox(conn, item, now, list(found.status_history or []))
                out.append((item, None))
            records.insert_rows(conn, M, new_rows)
        return out

    def _deliver(self, item: _Ready) -> tuple[Outcome, Receipt | None]:
        """The provider call, and what its failure means."""
        step, channel, key = item.plan.step, str(item.decision.channel), item.key
        limiter = self.limiters.get(channel)
        if limiter is not None:
            limiter.acquire()
        try:
            receipt = item.adapter.send(item.outgoing)
        except TransientChannelError as exc:
            if self.breakers[channel].failure():
                log.warning("circuit breaker opened", channel=channel, provider=exc.provider)
            after = exc.retry_after.total_seconds() if exc.retry_after else 0.0
            return self._retry(step, key, key, str(exc), after, item.plan.requeue), None
        except PermanentChannelError as exc:
            self._record_failed(key, str(exc))
            self._block(step.customer_id, channel, str(exc), key)
            log.info("channel unusable for debtor", channel=channel, step_id=step.id)
            return Outcome.PERMANENT, None
        except Exception as exc:  # the adapter broke its contract: nobody knows what left
            log.exception("provider call failed unexpectedly", channel=channel, step_id=step.id)
            self._record_unknown(step.id, key, f"{type(exc).__name__}: {exc}")
            return Outcome.UNKNOWN, None
        self.breakers[channel].success()
        return Outcome.SENT, receipt

    def _render(
        self,
        decision: Decision,
        facts: FactSheet,
        data: MessageData,
        key: str,
        recipient: str,
        step: Row[Any],
        tried: Sequence[Row[Any]] = (),
    ) -> tuple[OutgoingMessage, str, list[dict[str, Any]]]:
        rules = self.rules()
        payments = self.payments
        earlier = next((m for m in tried if m.id == key), None)
        if payments is not None and earlier is not None:
            payments = ReusedLinks(payments, recorded_links(earlier.trace))
        with contextlib.ExitStack() as stack:
            # a letter's PDF is read into the message at once; without a pdf_dir to keep it,
            # its folder goes when the message is built (no temp folder left per letter). Only
            # a letter gets one: making and removing a folder per email was a third of a pass
            folder = self.pdf_dir
            if folder is None and decision.channel == "letter" and self.letter_pdfs:
                folder = Path(
                    stack.enter_context(tempfile.TemporaryDirectory(prefix="payjourney-letter-"))
                )
            answer = render_preview(
                decision,
                facts,
                templates_dir=self.templates_dir,
                invoices=data.invoices,
                payments=payments,
                settings=rules.spec.settings,
                pdf_dir=folder,
                letter_pdf=self.letter_pdfs,
                address=data.address,
                page_url=self._page_url(step, key),
                idempotency_key=key,
                demand=_side_demand(step),
            )
            message = answer["message"]
            if message is None:
                raise ValueError(f"step {step.id}: the decision renders no message")
            attachments: tuple[Attachment, ...] = ()
            if message.get("pdf"):
                pdf = Path(message["pdf"])
                attachments = (
                    Attachment(
                        filename=pdf.name, content_type="application/pdf", data=pdf.read_bytes()
                    ),
                )
        parts = "\x00".join(str(message.get(p) or "") for p in ("subject", "text", "html"))
        content_hash = "sha256:" + hashlib.sha256(parts.encode()).hexdigest()
        outgoing = OutgoingMessage(
            idempotency_key=key,
            channel=str(decision.channel),
            recipient=recipient,
            locale=decision.locale or "nl_NL",
            text=message["text"],
            subject=message.get("subject"),
            html=message.get("html"),
            attachments=attachments,
            customer_id=step.customer_id,
            template=decision.template,
            metadata={"ruleset_version": rules.version, "step": str(step.step)},
        )
        fields = ("method", "url", "provider", "link_id", "expires_at")
        links = [{f: o.get(f) for f in fields} for o in answer["payment_options"] if o.get("url")]
        return outgoing, content_hash, links

    def _page_url(self, step: Row[Any], key: str) -> str | None:
        """A fresh personal link for the message (docs/self-service.md), when pages are served."""
        if not self.settings.public_url:
            return None
        with self.engine.begin() as conn:
            token = issue_link(
                conn,
                customer_id=step.customer_id,
                journey=step.journey,
                now=self.clock(),
                ttl=self.settings.link_ttl,
                message_id=key,
            )
        return f"{self.settings.public_url.rstrip('/')}/p/{token}"

    # ------------------------------------------------------------------ records

    def _outbox_row(self, item: _Ready, now: dt.datetime) -> dict[str, Any]:
        """A new outbox row, `sending` (inserted with its chunk before any provider call)."""
        step = item.plan.step
        return {
            "id": item.key,
            "customer_id": step.customer_id,
            "scheduled_step_id": step.id,
            "journey": step.journey,
            "step": step.step,
            "channel": item.decision.channel,
            "attempts": 1,
            "created_at": now,
            "sent_at": None,
            "provider_message_id": None,
            "last_error": None,
            **self._sending_values(item, now, []),
        }

    def _sending_values(self, item: _Ready, now: dt.datetime, old: list[Any]) -> dict[str, Any]:
        decision = item.decision
        entry = {"status": "sending", "at": now.isoformat(), "by": self.settings.daemon_id}
        item.history = [*old, entry]
        trace = [
            *(e.to_json() for e in decision.trace),
            {
                "rule": "dispatch",
                "note": f"attempt on {decision.channel}",
                "payment_links": item.payment,
            },
        ]
        return {
            "status": "sending",
            "sending_until": item.lease_until,
            "recipient": item.outgoing.recipient,
            "content_hash": item.content_hash,
            "ruleset_version": self.rules().version,
            "template": decision.template,
            "locale": decision.locale,
            "tone": decision.tone,
            "experiment": decision.experiment,
            "variant": decision.variant,
            "trace": trace,
            "status_history": item.history,
        }

    def _outbox(self, conn: Connection, item: _Ready, now: dt.datetime, old: list[Any]) -> None:
        """Set an existing outbox row (a retry, same key) back to `sending`."""
        conn.execute(
            update(M)
            .where(M.c.id == item.key)
            .values(attempts=M.c.attempts + 1, **self._sending_values(item, now, old))
        )

    def _record_sent(self, sent: Sequence[tuple[_Ready, Receipt]]) -> None:
        """One transaction for a chunk's sends: messages `sent`, steps `sent`, journeys on."""
        if not sent:
            return
        now = self.clock()
        messages = [
            {
                "k": item.key,
                "provider_id": receipt.provider_message_id,
                "history": [
                    *item.history,
                    {"status": "sent", "at": now.isoformat(), "provider": receipt.provider},
                ],
            }
            for item, receipt in sent
        ]
        with self.engine.begin() as conn:
            records.messages_sent(conn, messages, now)
            conn.execute(
                update(S)
                .where(records.among(conn, S.c.id, [item.plan.step.id for item, _ in sent]))
                .values(status="sent", claimed_until=None, last_error=None, updated_at=now)
            )
            lifecycle.steps_sent(
                conn,
                [
                    (
                        item.plan.step.customer_id,
                        item.plan.step.step,
                        item.decision.action is Action.HANDOFF
                        or item.plan.step.action == "handoff",
                    )
                    for item, _ in sent
                ],
                now,
            )

    def _history(self, conn: Connection, key: str, status: str, **extra: Any) -> list[Any]:
        old = conn.execute(select(M.c.status_history).where(M.c.id == key)).scalar() or []
        entry = {"status": status, "at": self.clock().isoformat(), **extra}
        return [*old, entry]

    def _finish(self, step: Row[Any], now: dt.datetime) -> None:
        """A handoff step without a message: the step is done, the journey handed off."""
        with self.engine.begin() as conn:
            self._set_step(conn, step.id, status="sent", claimed_until=None, last_error=None)
            lifecycle.step_sent(conn, step.customer_id, step.step, now, handoff=True)

    def _retry(
        self,
        step: Row[Any],
        key: str,
        recorded: str | None,
        error: str,
        after: float,
        requeue: str = "scheduled",
    ) -> Outcome:
        attempts = int(step.attempts or 0) + 1
        now = self.clock()
        with self.engine.begin() as conn:
            if attempts >= self.settings.max_attempts:
                if recorded:
                    self._message_status(conn, recorded, "failed", error)
                self._set_step(
                    conn,
                    step.id,
                    status="failed",
                    attempts=attempts,
                    claimed_until=None,
                    last_error=f"gave up after {attempts} attempts: {error}",
                )
                log.warning("step failed", step_id=step.id, attempts=attempts)
                return Outcome.FAILED
            wait = max(
                after,
                backoff_seconds(
                    attempts,
                    base=self.settings.backoff_base.total_seconds(),
                    cap=self.settings.backoff_cap.total_seconds(),
                    rng=self._rng,
                ),
            )
            if recorded:
                self._message_status(conn, recorded, "retrying", error)
            self._set_step(
                conn,
                step.id,
                status=requeue,
                attempts=attempts,
                claimed_by=None,
                claimed_until=None,
                send_at=now + dt.timedelta(seconds=wait),
                last_error=f"attempt {attempts}: {error}",
            )
        log.info("send retried", step_id=step.id, attempts=attempts, wait_s=round(wait, 1))
        return Outcome.RETRY

    def _message_status(self, conn: Connection, key: str, status: str, error: str) -> None:
        """An outbox row leaves `sending` for `status`, with the reason in its history."""
        conn.execute(
            update(M)
            .where(M.c.id == key)
            .values(
                status=status,
                sending_until=None,
                last_error=error,
                status_history=self._history(conn, key, status, error=error),
            )
        )

    def _record_failed(self, key: str, error: str) -> None:
        with self.engine.begin() as conn:
            self._message_status(conn, key, "failed", error)

    def _record_unknown(self, step_id: int, key: str, error: str) -> None:
        with self.engine.begin() as conn:
            self._message_status(conn, key, "unknown", error)
            self._set_step(conn, step_id, status="unknown", claimed_until=None, last_error=error)

    def _block(self, customer_id: str, channel: str, reason: str, key: str | None) -> None:
        with self.engine.begin() as conn:
            insert_new(
                conn,
                B,
                [
                    {
                        "customer_id": customer_id,
                        "channel": channel,
                        "reason": reason[:500],
                        "message_id": key,
                        "blocked_at": self.clock(),
                    }
                ],
                key=("customer_id", "channel"),
            )

    def _set_step(self, conn: Connection, step_id: int, **values: Any) -> None:
        values.setdefault("updated_at", self.clock())
        conn.execute(update(S).where(S.c.id == step_id).values(**values))

    def _note(self, step_id: int, note: str) -> None:
        with self.engine.begin() as conn:
            self._set_step(conn, step_id, last_error=note)

    def _cancel(self, step_id: int, reason: str) -> Outcome:
        with self.engine.begin() as conn:
            self._set_step(conn, step_id, status="cancelled", claimed_until=None, last_error=reason)
        return Outcome.CANCELLED

    def _reschedule(
        self, step_id: int, when: dt.datetime, reason: str, *, status: str = "scheduled"
    ) -> Outcome:
        with self.engine.begin() as conn:
            self._set_step(
                conn,
                step_id,
                status=status,
                send_at=when,
                claimed_by=None,
                claimed_until=None,
                last_error=f"moved: {reason}",
            )
        return Outcome.RESCHEDULED

    def _fail(self, step_id: int, reason: str) -> Outcome:
        with self.engine.begin() as conn:
            self._set_step(conn, step_id, status="failed", claimed_until=None, last_error=reason)
        log.warning("step failed", step_id=step_id, reason=reason)
        return Outcome.FAILED


def _recipient(channel: str, contact: Row[Any] | None, data: MessageData) -> str | None:
    if channel == "letter":
        return "\n".join(data.address) if data.address else None
    if contact is None:
        return None
    value = {
        "email": contact.email,
        "sms": contact.phone,
        "whatsapp": contact.whatsapp or contact.phone,
        "phone": contact.phone,
    }.get(channel)
    return str(value) if value else None
