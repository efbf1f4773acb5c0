"""Who may run: one daemon per SQLite file (a file lock naming its holder), many on PostgreSQL.

The SQLite lock is an OS lock (`flock`) on `<database>.daemon-lock`: the kernel drops it when the
process dies, even by SIGKILL, so a crash never leaves a stale lock behind. The file's text names
the holder, and a second daemon is refused with that name.

On PostgreSQL, jobs that must run once across all daemons (the nightly plan) take a session
advisory lock with `pg_try_advisory_lock`: whoever gets it runs, the others skip that turn.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import socket
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from sqlalchemy import Engine, text

from engine.errors import PayjourneyError


class DaemonAlreadyRunning(PayjourneyError):
    """A second daemon on a SQLite store: refused, naming the one that runs."""

    def __init__(self, lock_path: Path, holder: str) -> None:
        self.lock_path, self.holder = lock_path, holder
        super().__init__(
            f"another payjourney daemon already runs on this SQLite database ({holder};"
            f" lock {lock_path}). SQLite allows one daemon: stop that one first (SIGTERM), or"
            " move to PostgreSQL (--db postgresql+psycopg://...) to run several"
        )


def sqlite_path(engine: Engine) -> Path | None:
    """The database file of a SQLite engine (None for PostgreSQL or in-memory SQLite)."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:":
        return None
    return Path(database).resolve()


class SingleDaemonLock:
    """Holds `<db>.daemon-lock` for as long as the daemon runs."""

    def __init__(self, database: Path, daemon_id: str) -> None:
        self.path = database.with_name(database.name + ".daemon-lock")
        self.daemon_id = daemon_id
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.seek(0)
            holder = handle.read().strip() or "a process that did not say who it is"
            handle.close()
            raise DaemonAlreadyRunning(self.path, holder) from exc
        handle.seek(0)
        handle.truncate()
        started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        handle.write(
            f"daemon {self.daemon_id}, pid {os.getpid()} on {socket.gethostname()},"
            f" since {started}\n"
        )
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.seek(0)
            self._handle.truncate()
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def advisory_key(name: str) -> int:
    """A stable 32-bit advisory lock key for a job name."""
    return zlib.crc32(f"payjourney:{name}".encode())


@contextmanager
def once_across_daemons(engine: Engine, name: str) -> Iterator[bool]:
    """Yields True in the one daemon that got the job's lock (always True on SQLite, where one
    daemon runs), False in the others."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    key = advisory_key(name)
    with engine.connect() as conn:
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        conn.commit()
        try:
            yield got
        finally:
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
