"""`payjourney run`: APScheduler 3 triggers the jobs; payjourney's tables hold all the state.

APScheduler 3 cannot share a job store between processes (its FAQ), so each daemon keeps its
scheduler in memory (coalesce, one instance per job) and the work itself is shared through row
claims (engine.daemon.claims). The nightly plan, which must run once across all daemons, takes a
PostgreSQL advisory lock. SIGTERM/SIGINT: stop claiming, finish the step under way and give the
rest of the batch back, then `shutdown(wait=True)`. SIGHUP (or a change of the rule files):
reload the rules; invalid files are logged with file:line and the last good rules stay.
"""

from __future__ import annotations

import datetime as dt
import functools
import signal
import threading
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine

from channels.base import Channel
from engine.banking.watch import FileOutcome, StatementFolder, StatementFolderError, folder_state
from engine.daemon import dialogue, jobs
from engine.daemon.dispatch import Dispatcher
from engine.daemon.lock import SingleDaemonLock, once_across_daemons, sqlite_path
from engine.daemon.metrics import Metrics
from engine.daemon.outcome import DispatchReport
from engine.daemon.settings import Clock, DaemonConfigError, DaemonSettings, system_clock
from engine.decision.decide import decide
from engine.messages.payments.base import PaymentProvider
from engine.messages.render import DEFAULT_TEMPLATES_DIR
from engine.rules.rulebook import RuleBook
from engine.store.migrate import ensure_ready
from engine.store.planner import plan

log = structlog.get_logger("payjourney.daemon")


def rule_files_signature(rules_dir: Path) -> tuple[tuple[str, int, int], ...]:
    """What changes when a rule file is edited, added or removed."""
    return tuple(
        sorted(
            (str(p), p.stat().st_mtime_ns, p.stat().st_size)
            for p in rules_dir.rglob("*.y*ml")
            if p.is_file()
        )
    )


class Daemon:
    """One `payjourney run` process."""

    def __init__(
        self,
        *,
        engine: Engine,
        rulebook: RuleBook,
        channels: Mapping[str, Channel],
        settings: DaemonSettings,
        clock: Clock = system_clock,
        payments: PaymentProvider | None = None,
        templates_dir: Path = DEFAULT_TEMPLATES_DIR,
        pdf_dir: Path | None = None,
        metrics: Metrics | None = None,
        letter_pdfs: bool = True,
    ) -> None:
        """`letter_pdfs=False` (the simulation): letters are sent as text, without building
        their PDF (see `Dispatcher`)."""
        if not channels:
            raise DaemonConfigError(
                "no channels configured: pass --outbox DIR for a dry run that writes files, or"
                " --channel-factory module:function returning the channel adapters"
            )
        self.engine = engine
        self.rulebook = rulebook
        self.channels = channels
        self.settings = settings
        self.clock = clock
        self.metrics = metrics or Metrics()
        self.dispatcher = Dispatcher(
            engine=engine,
            rules=lambda: self.rulebook.current,
            channels=channels,
            settings=settings,
            clock=clock,
            payments=payments,
            templates_dir=templates_dir,
            pdf_dir=pdf_dir,
            metrics=self.metrics,
            letter_pdfs=letter_pdfs,
        )
        self.started_at = clock()
        self.events = jobs.EventWatch(
            engine=engine,
            rules=lambda: self.rulebook.current,
            clock=clock,
            grace=settings.promise_grace,
            since=self.started_at - dt.timedelta(days=1),
        )
        self.statements = (
            StatementFolder(
                settings.statements_dir,
                engine=engine,
                rules=lambda: self.rulebook.current,
                clock=clock,
                grace=settings.promise_grace,
                quiet=settings.statements_quiet,
            )
            if settings.statements_dir is not None
            else None
        )
        self._lock: SingleDaemonLock | None = None
        self._stopped = threading.Event()
        self._rules_signature = rule_files_signature(rulebook.rules_dir)
        self.report = DispatchReport()

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Check the store and take the SQLite lock; loud failures here, before any claim."""
        ensure_ready(self.engine)
        if self.statements is not None:
            try:
                self.statements.prepare()
            except StatementFolderError as exc:
                raise DaemonConfigError(str(exc)) from exc
        database = sqlite_path(self.engine)
        if database is not None:
            self._lock = SingleDaemonLock(database, self.settings.daemon_id)
            self._lock.acquire()
        self.beat()
        log.info(
            "daemon started",
            daemon=self.settings.daemon_id,
            database=self.engine.dialect.name,
            rules=self.rulebook.current.version,
            channels=sorted(self.channels),
        )

    def close(self) -> None:
        """Mark the daemon stopped, free the lock, close the channels."""
        try:
            self.beat(stopped=True)
        finally:
            if self._lock is not None:
                self._lock.release()
            for channel in self.channels.values():
                try:
                    channel.close()
                except Exception:
                    log.exception("closing a channel failed", channel=channel.name)

    def beat(self, *, stopped: bool = False) -> None:
        jobs.heartbeat(
            self.engine,
            self.settings.daemon_id,
            self.clock(),
            started_at=self.started_at,
            ruleset_version=self.rulebook.current.version,
            stopped=stopped,
        )

    # ------------------------------------------------------------------ jobs

    def tick(self) -> DispatchReport:
        """One round of everything: statements, events, resumes, fallbacks, then a dispatch
        pass (payments first, so nobody who paid is reminded)."""
        self.import_statements()
        self.watch_events()
        self.resume()
        self.fallbacks()
        return self.dispatch()

    def dispatch(self) -> DispatchReport:
        report = self.dispatcher.run_once()
        self.report.claimed += report.claimed
        self.report.outcomes.update(report.outcomes)
        self.report.fallbacks += report.fallbacks
        self.report.expired_unknown += report.expired_unknown
        self.metrics.last_tick.set_to_current_time()
        if report.claimed:
            log.info("dispatch pass", claimed=report.claimed, **dict(report.outcomes))
        return report

    def watch_events(self) -> int:
        return self.events()

    def import_statements(self) -> list[FileOutcome]:
        """The statement files dropped in the watched folder, imported and moved aside."""
        if self.statements is None:
            return []
        outcomes = self.statements()
        for outcome in outcomes:
            self.metrics.statement_files.labels(result=outcome.status).inc()
        # a person clears failed/ by hand: counted each round (one directory listing)
        self.metrics.statement_files_failed.set(len(folder_state(self.statements.root).failed))
        return outcomes

    def resume(self) -> int:
        rules, now, grace = self.rulebook.current, self.clock(), self.settings.promise_grace
        # payment plans first: a paid instalment makes the next one the promise in force
        dialogue.advance_plans(self.engine, rules, now, grace=grace)
        return jobs.resume_paused(self.engine, rules, now, grace=grace)

    def fallbacks(self) -> int:
        return jobs.fallback_on_no_reaction(self.engine, self.clock())

    def plan(self) -> None:
        """The nightly plan; on PostgreSQL only the daemon holding the advisory lock runs it."""
        with once_across_daemons(self.engine, "plan") as mine:
            if not mine:
                log.info("nightly plan runs in another daemon")
                return
            summary = plan(
                self.engine, functools.partial(decide, self.rulebook.current), self.clock()
            )
        log.info(
            "nightly plan",
            debtors=summary.debtors,
            new=summary.scheduled_new,
            cancelled=summary.cancelled,
            failures=len(summary.failures),
        )

    def reload_rules(self, *, force: bool = False) -> bool:
        """Reload when the rule files changed (or always, on SIGHUP); True when new rules apply."""
        signature = rule_files_signature(self.rulebook.rules_dir)
        if not force and signature == self._rules_signature:
            return False
        self._rules_signature = signature
        result = self.rulebook.reload()
        if result.changed:
            self.metrics.rules_reloads.labels(result="applied").inc()
            log.info("rules reloaded", version=result.version)
            return True
        errors = [p for p in result.problems if p.severity == "error"]
        if errors:
            self.metrics.rules_reloads.labels(result="refused").inc()
            for problem in errors:
                log.error("rule file refused; the last good rules stay", problem=str(problem))
            log.error("rules not reloaded", errors=len(errors), version_in_force=result.version)
        return False

    # ------------------------------------------------------------------ the loop

    def request_stop(self, *_: Any) -> None:
        """Stop claiming; the loop winds down (SIGTERM, SIGINT)."""
        log.info("stopping: finishing the step under way, giving back the rest")
        self.dispatcher.stop()
        self._stopped.set()

    def _on_hup(self, _signum: int, _frame: FrameType | None) -> None:
        threading.Thread(target=self.reload_rules, kwargs={"force": True}, daemon=True).start()

    def run_once(self) -> DispatchReport:
        """`payjourney run --once`: one round, then exit."""
        self.start()
        try:
            self.tick()
            return self.report
        finally:
            self.close()

    def run_forever(self, *, metrics_port: int | None = None) -> DispatchReport:
        """Run until SIGTERM/SIGINT."""
        # handlers first: from its first heartbeat on, a daemon stops cleanly when asked
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGHUP, self._on_hup)
        self.start()
        stop_metrics = self.metrics.serve(metrics_port) if metrics_port is not None else None
        scheduler = BackgroundScheduler(
            timezone=ZoneInfo(self.settings.timezone),
            executors={"default": ThreadPoolExecutor(4)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
        )
        every = self.settings.dispatch_every.total_seconds()
        now = dt.datetime.now(ZoneInfo(self.settings.timezone))
        guarded = self._guarded
        scheduler.add_job(
            guarded(self.dispatch), "interval", seconds=every, id="dispatch", next_run_time=now
        )
        scheduler.add_job(
            guarded(self.watch_events), "interval", seconds=every, id="events", next_run_time=now
        )
        scheduler.add_job(
            guarded(self.resume), "interval", seconds=60, id="resume", next_run_time=now
        )
        scheduler.add_job(
            guarded(self.fallbacks), "interval", seconds=60, id="fallback", next_run_time=now
        )
        if self.statements is not None:
            scheduler.add_job(
                guarded(self.import_statements),
                "interval",
                seconds=self.settings.statements_every.total_seconds(),
                id="statements",
                next_run_time=now,
            )
        scheduler.add_job(guarded(self.beat), "interval", seconds=5, id="heartbeat")
        scheduler.add_job(guarded(self.reload_rules), "interval", seconds=5, id="rules")
        scheduler.add_job(
            guarded(self.plan),
            CronTrigger.from_crontab(self.settings.plan_cron, timezone=self.settings.timezone),
            id="plan",
        )
        scheduler.start()
        try:
            while not self._stopped.wait(0.5):
                pass
        finally:
            scheduler.shutdown(wait=True)
            self.close()
            if stop_metrics is not None:
                stop_metrics()
            log.info("daemon stopped", **dict(self.report.outcomes))
        return self.report

    def _guarded(self, job: Any) -> Any:
        """A job that logs its failure and lives on: one bad turn never stops the daemon."""

        @functools.wraps(job)
        def run() -> None:
            if self._stopped.is_set():
                return
            try:
                job()
            except Exception:
                log.exception("job failed; it runs again on its next turn", job=job.__name__)

        return run
