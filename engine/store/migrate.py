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
    """Raise DatabaseNotReady (run `payjourney db upgrade`) unless the schema is current."""
    found = current_revision(engine)
    expected = head_revision()
    if found != expected:
        raise DatabaseNotReady(engine.url.render_as_string(hide_password=True), found, expected)
