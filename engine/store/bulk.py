"""Set-based writes: multi-row INSERT with ON CONFLICT, on SQLite and PostgreSQL alike.

On PostgreSQL a large batch goes through COPY into a temporary table and one
INSERT ... SELECT ... ON CONFLICT, which skips rendering thousands of parameters in Python.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import islice
from typing import Any

from sqlalchemy import Column, Connection, MetaData, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

#: Rows per statement: big enough to amortise the round trip, small enough for SQLite's limits.
CHUNK = 2000
#: From this many rows a PostgreSQL upsert goes through COPY.
COPY_MIN = 200

#: Builds the SET clause from the `excluded` pseudo-table (for updates that are not plain copies).
SetClause = Callable[[Any], Mapping[str, Any]]


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


def _on_conflict(
    stmt: Any,
    key: Sequence[str],
    columns: Sequence[str],
    set_: SetClause | None,
    only_where: ColumnElement[bool] | None,
) -> Any:
    if set_ is not None:
        changes = dict(set_(stmt.excluded))
    else:
        changes = {c: stmt.excluded[c] for c in columns}
    if not changes:
        return stmt.on_conflict_do_nothing(index_elements=list(key))
    return stmt.on_conflict_do_update(index_elements=list(key), set_=changes, where=only_where)


@functools.cache
def _temp_table(table: Table, names: tuple[str, ...]) -> Table:
    """The temporary table a batch of `table` rows with these columns is copied into: one name
    and one Table object per shape, so the INSERT ... SELECT from it is compiled once per
    process (a fresh name per batch made SQLAlchemy compile the statement anew each time)."""
    digest = hashlib.blake2b(",".join(names).encode(), digest_size=4).hexdigest()
    return Table(
        f"pj_copy_{table.name}_{digest}",
        MetaData(),
        *[Column(name, table.c[name].type) for name in names],
    )


def _copy_into(
    conn: Connection, table: Table, target: str, batch: Sequence[Mapping[str, Any]]
) -> None:
    """COPY the rows (bind-processed like any parameter, with the columns of the first row)
    into the table named `target`, which has `table`'s columns."""
    names = tuple(batch[0])
    cols = ", ".join(f'"{name}"' for name in names)
    processors = [table.c[name].type._cached_bind_processor(conn.dialect) for name in names]
    driver = conn.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(f'COPY "{target}" ({cols}) FROM STDIN') as copy:
        for row in batch:
            if len(row) != len(names):
                raise ValueError(f"rows for {table.name} differ in their columns: {sorted(row)}")
            copy.write_row(
                [
                    proc(row[name]) if proc is not None else row[name]
                    for name, proc in zip(names, processors, strict=True)
                ]
            )


def _copy_to_temp(conn: Connection, table: Table, batch: Sequence[Mapping[str, Any]]) -> Table:
    """COPY the rows into a fresh temporary table (dropped by the caller once read, or at the
    end of the transaction)."""
    names = tuple(batch[0])
    temp = _temp_table(table, names)
    cols = ", ".join(f'"{name}"' for name in names)
    conn.exec_driver_sql(
        f'CREATE TEMP TABLE "{temp.name}" ON COMMIT DROP AS'
        f' SELECT {cols} FROM "{table.name}" WITH NO DATA'
    )
    _copy_into(conn, table, temp.name, batch)
    return temp


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert new rows (a duplicate key fails, as a plain INSERT does); on PostgreSQL a large
    batch goes by COPY: one statement, so a statement-level trigger (the change tracking of
    migration 0008) runs once for the batch, not once per row as for an executemany INSERT."""
    if not rows:
        return
    if conn.dialect.name == "postgresql" and len(rows) >= COPY_MIN:
        for batch in chunks(rows, 50_000):
            _copy_into(conn, table, table.name, _with_defaults(table, batch))
        return
    conn.execute(table.insert(), list(rows))


def _with_defaults(table: Table, rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The rows with the Python-side column defaults an INSERT would have filled in (COPY
    knows only the server's)."""
    given = set(rows[0])
    missing = [c for c in table.columns if c.name not in given and c.default is not None]
    if not missing:
        return list(rows)
    filled: list[Mapping[str, Any]] = []
    for row in rows:
        values = dict(row)
        for column in missing:
            default = column.default
            values[column.name] = default.arg(None) if default.is_callable else default.arg  # type: ignore[union-attr]
        filled.append(values)
    return filled


def upsert(
    conn: Connection,
    table: Table,
    rows: Iterable[Mapping[str, Any]],
    *,
    key: Sequence[str] = ("id",),
    update: Sequence[str] | None = None,
    keep: Sequence[str] = (),
    set_: SetClause | None = None,
    only_where: ColumnElement[bool] | None = None,
) -> int:
    """Insert rows; a row whose `key` exists updates the `update` columns (default: every column
    given, except the key and `keep`), or what `set_` says. `only_where` limits which existing
    rows may change. Returns the number of rows given."""
    written = 0
    for batch in chunks(rows):
        columns = update if update is not None else [c for c in batch[0] if c not in key]
        columns = [c for c in columns if c not in keep]
        if conn.dialect.name == "postgresql" and len(batch) >= COPY_MIN:
            temp = _copy_to_temp(conn, table, batch)
            names = list(batch[0])
            stmt = postgresql.insert(table).from_select(names, select(*temp.c))
            conn.execute(_on_conflict(stmt, key, columns, set_, only_where))
            conn.exec_driver_sql(f'DROP TABLE "{temp.name}"')  # its name serves the next batch
        else:
            stmt = _on_conflict(dialect_insert(conn, table), key, columns, set_, only_where)
            conn.execute(stmt, list(batch))
        written += len(batch)
    return written


def insert_new(
    conn: Connection, table: Table, rows: Iterable[Mapping[str, Any]], *, key: Sequence[str]
) -> int:
    """Insert rows whose `key` is not there yet; existing rows stay untouched."""
    return upsert(conn, table, rows, key=key, update=[])
