"""Daemon fixtures: the store on SQLite and PostgreSQL, a controlled clock, a small rule pack."""

from __future__ import annotations

from tests.store.conftest import db_url, pg_database, store

__all__ = ["db_url", "pg_database", "store"]
