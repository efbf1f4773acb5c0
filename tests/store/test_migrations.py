"""Migrations: `db upgrade` builds exactly the tables the models describe, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine
from sqlmodel import SQLModel

from engine.store.db import make_engine
from engine.store.errors import DatabaseNotReady, DatabaseUnreachable
from engine.store.migrate import current_revision, ensure_ready, head_revision, upgrade
from engine.store.tables import TABLES


def test_the_migrated_schema_matches_the_models(store: Engine) -> None:
    """Alembic finds no difference between the upgraded database and the SQLModel tables."""
    with store.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []
    ensure_ready(store)


def test_upgrade_twice_is_harmless(store: Engine) -> None:
    """Running `db upgrade` on a current database changes nothing."""
    assert upgrade(store) == head_revision()


def test_an_empty_sqlite_file_is_migrated_on_first_use(tmp_path: Path) -> None:
    """The embedded default needs no set-up step: first use creates the current schema."""
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    ensure_ready(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()


@pytest.mark.postgres
def test_an_empty_postgresql_database_asks_for_db_upgrade(pg_database: str) -> None:
    """PostgreSQL is migrated only on purpose; an empty one says which command to run and why."""
    from sqlalchemy import text

    engine = make_engine(pg_database)
    with engine.begin() as conn:
        conn.execute(text("CREATE SCHEMA IF NOT EXISTS pj_empty"))
    engine.dispose()
    empty = make_engine(pg_database, connect_args={"options": "-csearch_path=pj_empty"})
    try:
        with pytest.raises(DatabaseNotReady, match=r"payjourney --db .* db upgrade.*PostgreSQL"):
            ensure_ready(empty)
    finally:
        empty.dispose()


def test_a_wrong_database_url_says_what_urls_look_like() -> None:
    """An unsupported scheme is refused with examples of good URLs."""
    with pytest.raises(DatabaseUnreachable, match="postgresql\\+psycopg://"):
        make_engine("mysql://x@localhost/db")


def test_every_table_is_known_to_the_models() -> None:
    """The table list used for loading order and cleanup covers the whole metadata."""
    assert {m.__tablename__ for m in TABLES} == set(SQLModel.metadata.tables)
