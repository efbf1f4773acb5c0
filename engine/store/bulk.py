"""Set-based writes: multi-row INSERT with ON CONFLICT, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import islice
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

#: Rows per statement: big enough to amortise the round trip, small enough for SQLite's limits.
CHUNK = 2000


def dialect_insert(conn: Connection, table: Table) -> Any:
    """INSERT with the dialect's ON CONFLICT support (SQLite or PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def chunks(
    rows: Iterable[Mapping[str, Any]], size: int = CHUNK
) -> Iterable[list[Mapping[str, Any]]]:
    """The rows in lists of at most `size`."""
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def upsert(
    conn: Connection,
    table: Table,
    rows: Iterable[Mapping[str, Any]],
    *,
    key: Sequence[str] = ("id",),
    update: Sequence[str] | None = None,
    keep: Sequence[str] = (),
    only_where: ColumnElement[bool] | None = None,
) -> int:
    """Insert rows; a row whose `key` exists updates the `update` columns (default: every column
    given, except the key and `keep`). `only_where` limits which existing rows may change.
    Returns the number of rows written."""
    written = 0
    for batch in chunks(rows):
        columns = update if update is not None else [c for c in batch[0] if c not in key]
        columns = [c for c in columns if c not in keep]
        stmt = dialect_insert(conn, table)
        if columns:
            stmt = stmt.on_conflict_do_update(
                index_elements=list(key),
                set_={c: stmt.excluded[c] for c in columns},
                where=only_where,
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(key))
        conn.execute(stmt, list(batch))
        written += len(batch)
    return written


def insert_new(
    conn: Connection, table: Table, rows: Iterable[Mapping[str, Any]], *, key: Sequence[str]
) -> int:
    """Insert rows whose `key` is not there yet; existing rows stay untouched."""
    return upsert(conn, table, rows, key=key, update=[])
