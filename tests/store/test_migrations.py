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
from engine.store.migrate import ensure_ready, head_revision, upgrade
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


def test_an_empty_database_asks_for_db_upgrade(tmp_path: Path) -> None:
    """Using a store that was never upgraded says which command to run."""
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(DatabaseNotReady, match=r"payjourney --db .* db upgrade"):
        ensure_ready(engine)
    engine.dispose()


def test_a_wrong_database_url_says_what_urls_look_like() -> None:
    """An unsupported scheme is refused with examples of good URLs."""
    with pytest.raises(DatabaseUnreachable, match="postgresql\\+psycopg://"):
        make_engine("mysql://x@localhost/db")


def test_every_table_is_known_to_the_models() -> None:
    """The table list used for loading order and cleanup covers the whole metadata."""
    assert {m.__tablename__ for m in TABLES} == set(SQLModel.metadata.tables)
