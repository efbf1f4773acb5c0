"""Who may run (`engine.daemon.lock`): one daemon per SQLite file, jobs once across daemons.

In-process: `flock` locks belong to an open file, so a second lock object in the same process
is refused exactly as a second daemon process is (test_operations.py runs that end to end).
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from engine.daemon.lock import (
    DaemonAlreadyRunning,
    SingleDaemonLock,
    advisory_key,
    once_across_daemons,
    sqlite_path,
)
from engine.store.db import make_engine


def test_the_lock_file_sits_beside_the_database_and_names_its_holder(tmp_path: Path) -> None:
    """`<db>.daemon-lock` says which daemon holds it, its pid, host and start time."""
    lock = SingleDaemonLock(tmp_path / "pj.db", "daemon-a")
    lock.acquire()
    try:
        assert lock.path == tmp_path / "pj.db.daemon-lock"
        text = lock.path.read_text(encoding="utf-8")
        assert text.startswith(f"daemon daemon-a, pid {os.getpid()} on {socket.gethostname()},")
        assert text.endswith("\n") and text.count("\n") == 1
        since = text.split(" since ")[1].strip()
        assert len(since) == len("2026-11-23T09:00:00+00:00") and since.endswith("+00:00")
    finally:
        lock.release()


def test_a_second_daemon_is_refused_naming_the_first_and_its_lock(tmp_path: Path) -> None:
    """The refusal names the holder as its file says and the lock file; the holder's text is
    left as it was."""
    first = SingleDaemonLock(tmp_path / "pj.db", "daemon-a")
    first.acquire()
    try:
        written = first.path.read_text(encoding="utf-8")
        with pytest.raises(DaemonAlreadyRunning) as refused:
            SingleDaemonLock(tmp_path / "pj.db", "daemon-b").acquire()
        assert refused.value.holder == written.strip()
        assert refused.value.lock_path == first.path
        message = str(refused.value)
        assert f"({written.strip()}; lock {first.path})" in message
        assert message == (
            f"another payjourney daemon already runs on this SQLite database ({written.strip()};"
            f" lock {first.path}). SQLite allows one daemon: stop that one first (SIGTERM), or"
            " move to PostgreSQL (--db postgresql+psycopg://...) to run several"
        )
        assert first.path.read_text(encoding="utf-8") == written
    finally:
        first.release()


def test_a_lock_held_by_a_process_that_wrote_nothing_is_refused_all_the_same(
    tmp_path: Path,
) -> None:
    path = tmp_path / "pj.db.daemon-lock"
    with open(path, "a+", encoding="utf-8") as other:
        fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(DaemonAlreadyRunning) as refused:
            SingleDaemonLock(tmp_path / "pj.db", "daemon-b").acquire()
    assert refused.value.holder == "a process that did not say who it is"


def test_a_released_lock_is_empty_and_free_for_the_next_daemon(tmp_path: Path) -> None:
    """Release empties the file and frees the lock (twice is harmless); the next daemon's text
    replaces the last one's, never appends to it."""
    first = SingleDaemonLock(tmp_path / "pj.db", "daemon-a")
    first.release()  # never acquired: nothing to give back
    first.acquire()
    first.release()
    first.release()
    assert first.path.read_text(encoding="utf-8") == ""
    first.path.write_text("left over from a crash\n", encoding="utf-8")
    after = SingleDaemonLock(tmp_path / "pj.db", "daemon-b")
    after.acquire()
    try:
        assert after.path.read_text(encoding="utf-8").startswith("daemon daemon-b, pid")
        assert "left over" not in after.path.read_text(encoding="utf-8")
    finally:
        after.release()
    # free: a plain flock from here succeeds at once
    with open(after.path, encoding="utf-8") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_only_a_sqlite_file_has_a_lock_path(tmp_path: Path) -> None:
    """A SQLite file gets its absolute path; in-memory SQLite and PostgreSQL get none."""
    here = Path.cwd()
    os.chdir(tmp_path)
    try:
        engine = create_engine("sqlite:///relative.db")
        assert sqlite_path(engine) == tmp_path.resolve() / "relative.db"
    finally:
        os.chdir(here)
    assert sqlite_path(create_engine("sqlite://")) is None
    assert sqlite_path(create_engine("sqlite:///:memory:")) is None
    assert sqlite_path(create_engine("postgresql+psycopg://postgres@127.0.0.1/x")) is None


def test_a_job_lock_key_is_the_same_in_every_release() -> None:
    """Daemons of two releases side by side (a rolling upgrade) must exclude each other: the key
    of a job name never changes. Different jobs get different keys."""
    assert advisory_key("plan") == 353184740  # crc32 of "payjourney:plan", as released
    assert advisory_key("plan") != advisory_key("expire")
    assert 0 <= advisory_key("expire") < 2**32


def test_on_sqlite_every_job_runs_in_the_one_daemon(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'pj.db'}")
    with once_across_daemons(engine, "plan") as mine:
        assert mine is True
    engine.dispose()


@pytest.mark.postgres
@pytest.mark.mutation_postgres
def test_on_postgresql_a_job_runs_in_one_daemon_at_a_time(pg_database: str) -> None:
    """The daemon holding a job's lock runs it; another skips that turn; once it is done, the
    next turn goes to whoever asks."""
    first, second = make_engine(pg_database), make_engine(pg_database)
    try:
        with once_across_daemons(first, "plan") as mine:
            assert mine is True
            with once_across_daemons(second, "plan") as theirs:
                assert theirs is False
            with once_across_daemons(second, "other job") as other:
                assert other is True
        with once_across_daemons(second, "plan") as theirs:
            assert theirs is True
    finally:
        first.dispose()
        second.dispose()
