"""A send chunk's writes as few statements as the database allows: the outbox rows inserted and
then set `sent`, each in one statement per chunk on PostgreSQL.

Why one statement: every write to `message` fires PostgreSQL's statement-level change-tracking
trigger (migration 0008), which plans and runs an UPDATE of the plan fingerprints; one
statement per message paid that, and a round trip, a hundred times per chunk. The rows travel
as one array per column (`unnest`), so the statement text stays short and the same for every
chunk (the driver and the server parse and plan it once; a multi-row VALUES list is new text
for every chunk size and costs the driver more to parse than the rows cost to send). SQLite
runs its triggers per row whatever the statement, and its statements cost no round trip: there
the rows go as an executemany.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, Connection, Table, bindparam, text, update
from sqlalchemy.dialects import postgresql

from engine.store import tables as t

M = t.Message.__table__  # type: ignore[attr-defined]


@functools.cache
def _insert_sql(table: Table, columns: tuple[str, ...]) -> str:
    """INSERT INTO table (columns) SELECT FROM unnest of one typed array parameter per column."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    arrays = ", ".join(
        f"CAST(:{name} AS {table.c[name].type.compile(dialect=dialect)}[])" for name in columns
    )
    return f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM unnest({arrays})"


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert `rows` (each naming the same columns, every column the table has a default for
    included): one statement on PostgreSQL, an executemany elsewhere."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(table.insert(), list(rows))
        return
    columns = tuple(rows[0])
    if any(tuple(row) != columns for row in rows):
        raise ValueError(f"rows for {table.name} name different columns; give each the same keys")
    missing = [c.name for c in table.c if c.name not in columns and c.default is not None]
    if missing:
        raise ValueError(f"rows for {table.name} lack {missing}: give their values")
    params: dict[str, list[Any]] = {}
    for name in columns:
        column_type = table.c[name].type
        process: Callable[[Any], Any] | None = column_type.bind_processor(conn.dialect)
        if isinstance(column_type, JSON):  # the driver wraps JSON itself, not inside arrays
            process = getattr(conn.dialect, "_json_serializer", None) or json.dumps
        values = [row[name] for row in rows]
        params[name] = [None if v is None else process(v) for v in values] if process else values
    conn.execute(text(_insert_sql(table, columns)), params)


#: A chunk's outbox rows set to `sent`, one row per message from arrays.
_SENT_PG = (
    "UPDATE message AS m SET status = 'sent', sent_at = :now, sending_until = NULL,"
    " last_error = NULL, provider_message_id = v.provider_id, status_history = v.history::json"
    " FROM unnest(CAST(:keys AS text[]), CAST(:provider_ids AS text[]),"
    " CAST(:histories AS text[])) AS v(k, provider_id, history)"
    " WHERE m.id = v.k"
)


def messages_sent(conn: Connection, messages: Sequence[dict[str, Any]], now: dt.datetime) -> None:
    """Outbox rows `sent`, each with its provider's id and its status history (`k`,
    `provider_id`, `history`)."""
    if not messages:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(
            text(_SENT_PG).bindparams(bindparam("now", type_=M.c.sent_at.type)),
            {
                "now": now,
                "keys": [m["k"] for m in messages],
                "provider_ids": [m["provider_id"] for m in messages],
                "histories": [json.dumps(m["history"]) for m in messages],
            },
        )
        return
    conn.execute(
        update(M)
        .where(M.c.id == bindparam("k"))
        .values(
            status="sent",
            sent_at=now,
            sending_until=None,
            last_error=None,
            provider_message_id=bindparam("provider_id"),
            status_history=bindparam("history"),
        ),
        list(messages),
    )
