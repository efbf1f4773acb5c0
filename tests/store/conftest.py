"""Store fixtures: every store test runs on a SQLite file and on the machine's PostgreSQL.

PostgreSQL gets one fresh database per test run (`pj_test_<random>`), dropped at the end, so
parallel runs never collide; between tests its tables are truncated. When the server is
unreachable the PostgreSQL cases skip locally, and fail under CI=true.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from engine.store.db import make_engine
from engine.store.migrate import upgrade
from engine.store.tables import TABLES

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


#: Read once at import: the autouse `clean_environ` fixture removes PAYJOURNEY_* before tests.
PG_SERVER_URL = os.environ.get("PAYJOURNEY_TEST_PG", PG_SERVER)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test run."""
    server = make_url(PG_SERVER_URL)
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        admin.dispose()
        reason = f"PostgreSQL at {server.render_as_string()} is unreachable: {exc}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{reason} (CI=true: store tests must run on PostgreSQL)")
        pytest.skip(f"{reason}; start it or set PAYJOURNEY_TEST_PG")
    name = f"pj_test_{os.getpid()}_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated store: a SQLite file, or the run's PostgreSQL database emptied."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        return url
    url: str = request.getfixturevalue("pg_database")
    engine = make_engine(url)
    names = ", ".join(model.__tablename__ for model in reversed(TABLES))
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def store(db_url: str) -> Iterator[Engine]:
    """An engine on the empty store."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()
