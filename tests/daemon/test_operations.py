"""Operating the daemon: one per SQLite file, SIGTERM, hot reload, downtime, rate limits, the
weekly cap, `unknown` messages and `payjourney reconcile`, `payjourney status`."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from structlog.testing import capture_logs
from typer.testing import CliRunner

from channels.outbox import outbox_channels
from engine.cli import app
from engine.daemon.lock import SingleDaemonLock, advisory_key
from engine.daemon.reconcile import reconcile
from engine.daemon.scheduler import Daemon
from engine.daemon.settings import DaemonSettings
from engine.messages.render import template_checks
from engine.rules.rulebook import RuleBook
from engine.store import tables as t
from engine.store.db import make_engine
from engine.store.migrate import upgrade
from tests.daemon.harness import RULES, STEP1, Clock, World, debtor
from tests.store.builders import load

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"


def cli(db: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYJOURNEY_")}
    env.update(PAYJOURNEY_DB=f"sqlite:///{db}", PAYJOURNEY_RULES=str(RULES))
    return subprocess.Popen(
        [sys.executable, "-c", "from engine.cli import main; main()", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )


def sqlite_store(tmp_path: Path) -> tuple[Path, Engine]:
    db = tmp_path / "pj.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    return db, engine


def test_a_second_daemon_on_one_sqlite_file_is_refused_naming_the_first(tmp_path: Path) -> None:
    """While one daemon holds the SQLite store, `payjourney run` exits 1 and says who holds it."""
    db, engine = sqlite_store(tmp_path)
    engine.dispose()
    lock = SingleDaemonLock(db, "first-daemon")
    lock.acquire()
    try:
        proc = cli(
            db, "run", "--once", "--outbox", str(tmp_path / "out"), "--templates", str(TEMPLATES)
        )
        _, err = proc.communicate(timeout=120)
    finally:
        lock.release()
    assert proc.returncode == 1
    assert "another payjourney daemon already runs" in err
    assert f"pid {os.getpid()}" in err and "first-daemon" in err


def test_sigterm_stops_the_daemon_cleanly(tmp_path: Path) -> None:
    """SIGTERM: the daemon stops claiming, marks itself stopped, frees the lock, exits 0."""
    db, engine = sqlite_store(tmp_path)
    proc = cli(
        db,
        "run",
        "--outbox",
        str(tmp_path / "out"),
        "--templates",
        str(TEMPLATES),
        "--every",
        "0.2",
    )
    daemons = t.DaemonBeat.__table__  # type: ignore[attr-defined]
    deadline = time.monotonic() + 120
    while True:
        with engine.connect() as conn:
            if conn.execute(select(daemons)).first() is not None:
                break
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the daemon never beat"
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    with engine.connect() as conn:
        [row] = conn.execute(select(daemons)).all()
    assert row.stopped_at is not None
    after = SingleDaemonLock(db, "next")
    after.acquire()  # free again
    after.release()
    engine.dispose()


def rules_copy(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(RULES, target)
    return target


def test_a_broken_rule_edit_keeps_the_last_good_rules_and_says_where(
    store: Engine, tmp_path: Path
) -> None:
    """An invalid edit is refused with file:line and sending goes on under the old version; the
    next valid edit is used from the next tick, its version on every message."""
    rules_dir = rules_copy(tmp_path)
    debtor(store, tmp_path, "C-1")
    debtor(store, tmp_path, "C-2")
    clock = Clock(STEP1 + dt.timedelta(hours=2))
    book = RuleBook(rules_dir, template_checks(TEMPLATES))
    daemon = Daemon(
        engine=store,
        rulebook=book,
        channels=outbox_channels(tmp_path / "out"),
        settings=DaemonSettings(daemon_id="reloader", batch=1),
        clock=clock,
        templates_dir=TEMPLATES,
    )
    old = book.current.version
    journeys = rules_dir / "journeys.yaml"
    good = journeys.read_text()
    journeys.write_text(good.replace("channel: [email, sms]", "channel: [email, pigeon]"))
    with capture_logs() as logs:
        assert daemon.reload_rules() is False
    refused = [entry["problem"] for entry in logs if "problem" in entry]
    assert refused and "journeys.yaml:" in refused[0] and "pigeon" in refused[0]
    assert book.current.version == old

    World(store, tmp_path, clock, rules_fn=lambda: book.current).plan()
    daemon.dispatcher.run_once(max_batches=1)
    journeys.write_text(good.replace("template: reminder-1", "template: reminder-2"))
    assert daemon.reload_rules() is True
    new = book.current.version
    assert new != old
    assert daemon.tick()["sent"] == 1
    messages = t.Message.__table__  # type: ignore[attr-defined]
    with store.connect() as conn:
        rows = conn.execute(
            select(
                messages.c.customer_id, messages.c.ruleset_version, messages.c.template
            ).order_by(messages.c.customer_id)
        ).all()
    assert [tuple(r) for r in rows] == [("C-1", old, "reminder-1"), ("C-2", new, "reminder-2")]


def test_sighup_reloads_the_rules_even_when_the_files_look_unchanged(tmp_path: Path) -> None:
    """The file watcher compares names, sizes and modification times; SIGHUP reloads whatever
    they say, e.g. after an edit that kept the size and the time stamp (a restore, a copy -p)."""
    _, store = sqlite_store(tmp_path)
    rules_dir = rules_copy(tmp_path)
    book = RuleBook(rules_dir, template_checks(TEMPLATES))
    daemon = Daemon(
        engine=store,
        rulebook=book,
        channels=outbox_channels(tmp_path / "out"),
        settings=DaemonSettings(daemon_id="hup"),
        clock=Clock(STEP1),
        templates_dir=TEMPLATES,
    )
    old = book.current.version
    journeys = rules_dir / "journeys.yaml"
    before = journeys.stat()
    text = journeys.read_text()
    assert "template: reminder-1" in text
    journeys.write_text(text.replace("template: reminder-1", "template: reminder-2"))
    os.utime(journeys, ns=(before.st_atime_ns, before.st_mtime_ns))  # same size, same time
    assert daemon.reload_rules() is False and book.current.version == old
    previous = signal.signal(signal.SIGHUP, daemon._on_hup)
    try:
        os.kill(os.getpid(), signal.SIGHUP)
        deadline = time.monotonic() + 60
        while book.current.version == old:
            assert time.monotonic() < deadline, "SIGHUP did not reload the rules"
            time.sleep(0.05)
    finally:
        signal.signal(signal.SIGHUP, previous)
        store.dispose()
    assert book.current.version != old


@pytest.mark.postgres
def test_the_nightly_plan_runs_only_in_the_daemon_holding_the_advisory_lock(
    pg_database: str, tmp_path: Path
) -> None:
    """While another session holds the plan's advisory lock, a daemon's nightly plan does
    nothing and says so; once the lock is free, the same call plans the due steps."""
    engine = make_engine(pg_database)
    tables = ", ".join(model.__tablename__ for model in reversed(t.TABLES))
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    debtor(engine, tmp_path, "C-1")
    daemon = Daemon(
        engine=engine,
        rulebook=RuleBook(RULES, template_checks(TEMPLATES)),
        channels=outbox_channels(tmp_path / "out"),
        settings=DaemonSettings(daemon_id="planner"),
        clock=Clock(STEP1 - dt.timedelta(days=2)),
        templates_dir=TEMPLATES,
    )
    steps = t.ScheduledStep.__table__  # type: ignore[attr-defined]
    other = make_engine(pg_database)
    try:
        with other.connect() as holder:
            holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": advisory_key("plan")})
            with capture_logs() as logs:
                daemon.plan()
            assert any(e["event"] == "nightly plan runs in another daemon" for e in logs)
            with engine.connect() as conn:
                assert conn.execute(select(steps)).first() is None
            holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": advisory_key("plan")})
        daemon.plan()
        with engine.connect() as conn:
            assert [r.customer_id for r in conn.execute(select(steps))] == ["C-1"]
    finally:
        other.dispose()
        engine.dispose()


def test_after_downtime_missed_steps_wait_for_the_window_and_go_out_under_the_rate_limit(
    store: Engine, tmp_path: Path
) -> None:
    """Back at 22:30, nothing is sent at night: the missed reminders move to 08:00 the next day
    and then go out one per second, as the email rate limit says."""
    for n in range(1, 4):
        debtor(store, tmp_path, f"C-{n}")
    planned = World(store, tmp_path, Clock(STEP1 + dt.timedelta(hours=1)))
    planned.plan()
    night = dt.datetime(2026, 11, 5, 21, 30, tzinfo=dt.UTC)  # 22:30 in Amsterdam
    world = World(store, tmp_path, Clock(night), rate_limits={"email": 1.0})
    report = world.tick()
    assert report["sent"] == 0 and report["rescheduled"] == 3
    morning = dt.datetime(2026, 11, 6, 7, 0, tzinfo=dt.UTC)
    assert all(s.send_at == morning for n in (1, 2, 3) for s in world.steps(f"C-{n}"))
    world.clock.now = morning
    started = world.clock.mono
    assert world.tick()["sent"] == 3
    assert world.clock.mono - started >= 2.0  # three sends at one per second: two waits


def test_the_weekly_cap_holds_back_a_due_step(store: Engine, tmp_path: Path) -> None:
    """A debtor who got three messages this week gets the due reminder next week, not now."""
    debtor(store, tmp_path)
    earlier = [
        {"id": f"old-{n}", "customer_id": "C-1", "channel": "email",
         "sent_at": (STEP1 - dt.timedelta(days=n)).isoformat()}
        for n in (1, 2, 3)
    ]  # fmt: skip
    load(store, tmp_path / "import", messages=earlier)
    world = World(store, tmp_path, Clock(STEP1 + dt.timedelta(hours=2)))
    world.plan()
    world.tick()
    assert [m.id for m in world.messages() if m.status == "sent" and m.id.startswith("pj-")] == []
    [step] = world.steps()
    assert step.status == "scheduled" and step.send_at > world.clock()


class Exploding:
    """A provider adapter that breaks its contract mid-call: nobody knows if the message left."""

    name = "email"

    def send(self, message: object) -> object:
        raise RuntimeError("connection reset after DATA")

    def close(self) -> None:
        return None


def test_an_unknown_send_is_listed_and_reconciled_by_a_person(
    store: Engine, tmp_path: Path
) -> None:
    """An adapter failing outside its contract leaves the message `unknown`; it is never resent
    until `payjourney reconcile ID --not-sent`, after which it goes out with the same key."""
    world = World(store, tmp_path, Clock(STEP1 + dt.timedelta(hours=2)))
    debtor(store, tmp_path)
    world.plan()
    world.dispatcher.channels = {"email": Exploding(), "sms": world.channels["sms"]}  # type: ignore[dict-item]
    assert world.tick()["unknown"] == 1
    assert world.tick().claimed == 0  # never resent blindly
    [message] = world.messages()
    assert message.status == "unknown"

    url = str(store.url.render_as_string(hide_password=False))
    runner = CliRunner()
    listed = runner.invoke(app, ["--db", url, "messages", "--status", "unknown", "--json"])
    assert listed.exit_code == 0, listed.output
    assert message.id in listed.output
    refused = runner.invoke(app, ["--db", url, "reconcile", "pj-nope", "--sent"])
    assert refused.exit_code == 1 and "messages --status unknown" in refused.output
    # the person checked the provider's log: it never left (the CLI with this test's clock)
    assert "scheduled again" in reconcile(store, message.id, sent=False, now=world.clock())
    world.dispatcher.channels = world.channels
    world.clock.advance(minutes=1)
    assert world.tick()["sent"] == 1
    assert world.channels["email"].calls == [message.id]
    status = runner.invoke(app, ["--db", url, "status"])
    assert status.exit_code == 0 and "unknown" in status.output
    again = runner.invoke(app, ["--db", url, "reconcile", message.id, "--sent"])
    assert again.exit_code == 1 and "only `unknown` messages" in again.output


def test_a_lease_that_ran_out_mid_send_makes_the_step_unknown(
    store: Engine, tmp_path: Path
) -> None:
    """A daemon that died after committing its outbox row: its step is never taken over and
    resent, it becomes `unknown`; a claim that never reached the provider is simply retaken."""
    world = World(store, tmp_path, Clock(STEP1 + dt.timedelta(hours=2)))
    debtor(store, tmp_path, "C-1")
    debtor(store, tmp_path, "C-2")
    world.plan()
    steps = t.ScheduledStep.__table__  # type: ignore[attr-defined]
    messages = t.Message.__table__  # type: ignore[attr-defined]
    gone = world.clock() - dt.timedelta(minutes=5)
    [mid_send, untouched] = [world.steps("C-1")[0], world.steps("C-2")[0]]
    with store.begin() as conn:
        conn.execute(
            steps.update()
            .where(steps.c.id.in_([mid_send.id, untouched.id]))
            .values(status="claimed", claimed_by="dead-daemon", claimed_until=gone)
        )
        conn.execute(
            messages.insert().values(
                id=f"pj-{mid_send.id}-email", customer_id="C-1", scheduled_step_id=mid_send.id,
                channel="email", status="sending", sending_until=gone, created_at=gone,
            )
        )  # fmt: skip
    report = world.tick()
    assert report.expired_unknown == 1 and report["sent"] == 1
    assert world.steps("C-1")[0].status == "unknown"
    assert world.steps("C-1")[0].claimed_by == "dead-daemon"
    assert world.steps("C-2")[0].status == "sent"
    assert world.channels["email"].calls == [f"pj-{untouched.id}-email"]


def outbox_factory() -> object:
    """A channel factory as `--channel-factory tests.daemon.test_operations:outbox_factory`."""
    import tempfile

    return outbox_channels(Path(tempfile.mkdtemp(prefix="pj-factory-")))


def not_channels() -> object:
    return ["email"]


def test_a_channel_factory_is_module_function_returning_channels_by_name() -> None:
    """`run --channel-factory module:function` builds the adapters; a wrong name or a wrong
    answer stops the daemon at start and says what to write."""
    from engine.cli.daemon_cmds import _channels
    from engine.daemon.settings import DaemonConfigError

    here = "tests.daemon.test_operations"
    assert "email" in _channels(None, f"{here}:outbox_factory")
    with pytest.raises(DaemonConfigError, match="write module:function"):
        _channels(None, here)
    with pytest.raises(DaemonConfigError, match="no_such_function"):
        _channels(None, f"{here}:no_such_function")
    with pytest.raises(DaemonConfigError, match="must return a mapping"):
        _channels(None, f"{here}:not_channels")
    with pytest.raises(DaemonConfigError, match="not both"):
        _channels(Path("out"), f"{here}:outbox_factory")


def test_slow_sends_make_the_chunks_of_committed_outbox_rows_smaller(
    store: Engine, tmp_path: Path
) -> None:
    """The outbox rows of a chunk are committed before its provider calls: when each call takes
    2 s, a chunk holds no more steps than fit a quarter of the 60 s lease (7), so a slow
    provider never has claims run out mid-chunk; the first chunk, before any send was timed,
    holds 25."""
    world = World(store, tmp_path, Clock(STEP1 + dt.timedelta(hours=2)))
    for n in range(40):
        debtor(store, tmp_path, f"C-{n:02d}")
    world.plan()
    messages = t.Message.__table__  # type: ignore[attr-defined]
    email, pending = world.channels["email"], []
    plain_send = email.send

    def slow_send(message: Any) -> Any:
        with store.connect() as conn:
            pending.append(
                len(conn.execute(select(messages.c.id).where(messages.c.status == "sending")).all())
            )
        world.clock.mono += 2.0  # the provider takes 2 s to answer
        return plain_send(message)

    email.send = slow_send  # type: ignore[method-assign]
    report = world.tick()
    assert report["sent"] == 40
    assert pending[0] == 25 and max(pending[25:]) <= 7, pending
