"""Real `payjourney run` processes, sending through the real email adapter (channels/email.py,
configured by environment as operators do) to an SMTP sink (aiosmtpd), one of them killed with
SIGKILL mid-run and restarted: no Message-ID arrives twice, every due step ends `sent` or
`unknown` (none silently lost), and every `unknown` is one the killed daemon held.

Sized for CI (a few thousand steps); bench/dispatch.py runs the 20,000-step version.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, func, select, text

from channels.email import message_id
from engine.store import tables as t
from engine.store.db import make_engine
from engine.store.migrate import upgrade
from engine.store.tables import TABLES
from tests.daemon.fleet import ROOT, SINK_DOMAIN, fleet_rules, seed, sink_channel_env

S = t.ScheduledStep.__table__  # type: ignore[attr-defined]
M = t.Message.__table__  # type: ignore[attr-defined]
PAYJOURNEY = Path(sys.executable).with_name("payjourney")
#: bench/dispatch.py --runs kill sets the full size (20,000); CI runs a few hundred per daemon
FULL = int(os.environ.get("PAYJOURNEY_FLEET_STEPS", "0"))
_MESSAGE_ID = re.compile(rb"^Message-ID: (.+?)\r?$", re.MULTILINE | re.IGNORECASE)


class Sink:
    """Records the Message-ID of everything the daemons deliver."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        found = _MESSAGE_ID.search(envelope.content)
        with self._lock:
            self.ids.append(found.group(1).decode() if found else "<missing>")
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def sink() -> Iterator[tuple[Sink, int]]:
    recorder = Sink()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()


class Fleet:
    """`payjourney run` processes on one database, all sending to the sink."""

    def __init__(self, url: str, rules: Path, port: int, logs: Path) -> None:
        self.url, self.rules, self.logs = url, rules, logs
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT),
            "HOME": os.environ.get("HOME", "/tmp"),
            **sink_channel_env(port),
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.files: list[Any] = []

    def start(self, name: str) -> None:
        command = [
            str(PAYJOURNEY), "--db", self.url, "--rules", str(self.rules), "run",
            "--templates", str(ROOT / "templates"), "--daemon-id", name,
            "--lease", "3", "--every", "0.3", "--batch", "50",
        ]  # fmt: skip
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed by close()
        self.files.append(log)
        self.procs[name] = subprocess.Popen(
            command, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
        )

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> dict[str, int]:
        for proc in self.procs.values():
            proc.send_signal(signal.SIGTERM)
        return {name: proc.wait(timeout=60) for name, proc in self.procs.items()}

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        for handle in self.files:
            handle.close()

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]


def count(engine: Engine, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(S).where(*where)).scalar_one())


def beating(engine: Engine) -> set[str]:
    daemons = t.DaemonBeat.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return {r.id for r in conn.execute(select(daemons.c.id))}


def wait_for(condition: Any, timeout: float, what: str, fleet: Fleet) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {n}\n{fleet.log(n)}" for n in fleet.procs)
            raise AssertionError(f"timed out waiting for {what}\n{logs}")
        time.sleep(0.2)


def run_and_kill(
    engine: Engine, url: str, tmp_path: Path, sink: tuple[Sink, int], *, daemons: int, steps: int
) -> None:
    recorder, port = sink
    rules = fleet_rules(tmp_path / "rules")
    due = seed(engine, steps, rules, dt.datetime.now(dt.UTC))
    assert due == steps
    fleet = Fleet(url, rules, port, tmp_path)
    try:
        check_fleet(engine, fleet, recorder, daemons=daemons, steps=steps)
    finally:
        fleet.close()


def check_fleet(engine: Engine, fleet: Fleet, recorder: Sink, *, daemons: int, steps: int) -> None:
    names = [f"d{n}" for n in range(1, daemons + 1)]
    victim = names[-1]
    for name in names:
        fleet.start(name)
    sent_now = lambda: count(engine, S.c.status == "sent")  # noqa: E731
    patience = max(120.0, steps / 20)  # seconds; the bench's 20,000 steps need longer
    wait_for(lambda: sent_now() >= steps // 4, patience, "a quarter sent", fleet)
    fleet.kill(victim)  # SIGKILL, mid-run
    fleet.start(f"{victim}-restarted")
    open_steps = S.c.status.in_(("scheduled", "claimed", "fallback"))
    wait_for(lambda: count(engine, open_steps) == 0, patience * 2, "every step settled", fleet)
    wait_for(lambda: beating(engine) >= set(fleet.procs), 60, "every daemon up", fleet)
    codes = fleet.stop_all()
    assert all(code == 0 for code in codes.values()), (codes, [fleet.log(n) for n in codes])

    with engine.connect() as conn:
        statuses = dict(conn.execute(select(S.c.status, func.count()).group_by(S.c.status)).all())
        unknown_by = {
            r.claimed_by
            for r in conn.execute(select(S.c.claimed_by).where(S.c.status == "unknown"))
        }
        messages = {r.id: r.status for r in conn.execute(select(M.c.id, M.c.status))}
    received = recorder.ids
    assert len(received) == len(set(received)), "a Message-ID arrived twice"
    assert set(statuses) <= {"sent", "unknown"}, statuses
    assert sum(statuses.values()) == steps, "a due step was lost"
    assert unknown_by <= {victim}, f"unknown steps held by live daemons: {unknown_by}"
    # the real adapter's Message-ID is a hash of the message's key
    by_message_id = {message_id(key, SINK_DOMAIN): key for key in messages}
    delivered = {by_message_id.get(mid, mid) for mid in received}
    sent_ids = {k for k, v in messages.items() if v == "sent"}
    assert sent_ids <= delivered, "a message recorded as sent never reached the sink"
    assert delivered <= set(messages), "the sink got a message the outbox does not know"
    assert delivered - sent_ids <= {k for k, v in messages.items() if v == "unknown"}


@pytest.mark.postgres
def test_three_daemons_on_postgresql_survive_a_kill(
    pg_database: str, tmp_path: Path, sink: tuple[Sink, int]
) -> None:
    """3 daemons share 450 due steps through SKIP LOCKED claims; one is SIGKILLed mid-run
    and restarted; nothing is sent twice and nothing is lost."""
    engine = make_engine(pg_database)
    names = ", ".join(model.__tablename__ for model in reversed(TABLES))
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    try:
        run_and_kill(engine, pg_database, tmp_path, sink, daemons=3, steps=FULL or 450)
    finally:
        engine.dispose()


def test_one_daemon_on_sqlite_survives_a_kill(tmp_path: Path, sink: tuple[Sink, int]) -> None:
    """The single SQLite daemon is SIGKILLed mid-run; its successor takes the lock over at once
    and finishes; nothing is sent twice and nothing is lost."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    try:
        run_and_kill(engine, url, tmp_path, sink, daemons=1, steps=FULL or 240)
    finally:
        engine.dispose()
