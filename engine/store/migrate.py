"""Schema migrations: `payjourney db upgrade`, and the check every other command makes first."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from engine.store.db import check_reachable
from engine.store.errors import DatabaseNotReady

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(engine: Engine) -> Config:
    """An Alembic config for our migrations directory and this engine (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option(
        "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
    )
    return config


def head_revision() -> str:
    """The newest revision this code knows."""
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None, "engine/store/migrations/versions has no revision"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, None when it has never been upgraded."""
    check_reachable(engine)
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> str:
    """Bring the database schema to `revision`; returns the revision reached."""
    check_reachable(engine)
    config = alembic_config(engine)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    found = current_revision(engine)
    assert found is not None
    return found


def ensure_ready(engine: Engine) -> None:
    """Make sure the schema is current before a command uses it.

    The embedded SQLite file is created and migrated on first use: a credit manager trying
    payjourney needs no set-up step. PostgreSQL is shared by several processes and is migrated
    only on purpose (`payjourney db upgrade`); an old or empty one raises DatabaseNotReady.
    """
    found = current_revision(engine)
    expected = head_revision()
    if found == expected:
        return
    if engine.url.get_backend_name() == "sqlite":
        upgrade(engine)
        return
    raise DatabaseNotReady(engine.url.render_as_string(hide_password=True), found, expected)


def sqlite_file(url: str) -> Path | None:
    """The file behind a SQLite URL (None for PostgreSQL or an in-memory database)."""
    from sqlalchemy.engine import make_url

    from engine.store.db import normalise_url

    try:
        parsed = make_url(normalise_url(url))
    except Exception:  # a bad URL is reported by make_engine with its fix
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def remove_sqlite_file(path: Path) -> None:
    """Delete a SQLite file and its journal files (WAL, shared memory, rollback journal)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
