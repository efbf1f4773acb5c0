"""A send chunk's writes as few statements as the database allows: the outbox rows inserted and
then set `sent`, each in one statement per chunk on PostgreSQL.

Why one statement: every write to `message` fires PostgreSQL's statement-level change-tracking
trigger (migration 0008), which plans and runs an UPDATE of the plan fingerprints; one
statement per message paid that, and a round trip, a hundred times per chunk. The rows travel
as one JSON parameter (`json_populate_recordset`), so the statement text stays short and the
same for every chunk (the driver and the server parse and plan it once; a multi-row VALUES list
is new text for every chunk size and cost the driver more to parse than the rows cost to send,
and arrays per column cost it more to encode than the standard library's JSON encoder). SQLite
runs its triggers per row whatever the statement, and its statements cost no round trip: there
the rows go as an executemany.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ColumnElement, Connection, Table, any_, bindparam, text, update
from sqlalchemy.dialects import postgresql

from engine.store import tables as t

M = t.Message.__table__  # type: ignore[attr-defined]


def among(
    conn: Connection, column: ColumnElement[Any], values: Iterable[Any]
) -> ColumnElement[bool]:
    """`column IN (values)`; on PostgreSQL `column = ANY(array)`, one parameter whatever the
    count, so the statement's text is the same for every batch (a placeholder per value made
    new text each time, for SQLAlchemy to expand and the driver to parse)."""
    if conn.dialect.name == "postgresql":
        array = bindparam(None, list(values), type_=postgresql.ARRAY(column.type))
        return column == any_(array)
    return column.in_(list(values))


@functools.cache
def _insert_sql(table: Table, columns: tuple[str, ...]) -> str:
    """INSERT INTO table (columns) SELECT them from a JSON array of row objects."""
    names = ", ".join(columns)
    return (
        f"INSERT INTO {table.name} ({names}) SELECT {names}"
        f" FROM json_populate_recordset(NULL::{table.name}, CAST(:rows AS json))"
    )


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot send {type(value).__name__} {value!r} as JSON")


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
    # each value as its column's type would bind it (a naive datetime is refused as always);
    # JSON columns travel as JSON inside the rows' JSON
    processors = [
        (name, column_type.bind_processor(conn.dialect))
        for name in columns
        if not isinstance(column_type := table.c[name].type, JSON)
    ]
    if any(process is not None for _, process in processors):
        rows = [dict(row) for row in rows]
        for row in rows:
            for name, process in processors:
                if process is not None and row[name] is not None:
                    row[name] = process(row[name])  # type: ignore[index]
    payload = json.dumps(rows, default=_json_value, separators=(",", ":"))
    conn.execute(text(_insert_sql(table, columns)), {"rows": payload})


#: A chunk's outbox rows set to `sent`, one JSON object per message.
_SENT_PG = (
    "UPDATE message AS m SET status = 'sent', sent_at = :now, sending_until = NULL,"
    " last_error = NULL, provider_message_id = v.provider_id, status_history = v.history"
    " FROM json_to_recordset(CAST(:rows AS json)) AS v(k text, provider_id text, history json)"
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
            {"now": now, "rows": json.dumps(messages, separators=(",", ":"))},
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
