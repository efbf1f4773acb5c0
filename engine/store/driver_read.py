"""Hot reads on the driver's cursor: a SELECT compiled once per dialect, its rows as plain dicts.

A preview reads one debtor's facts and open invoices: the database answers in a few tenths of
a millisecond, and SQLAlchemy's execution around it (expanding the IN lists of every CTE,
building the parameters, typing each value, making Row objects) took three times as long.
`DriverSelect` does that work once per dialect and number of ids: the SQL text, where each
positional value comes from and the bind and result processors of each column; a call then
fills in the values, runs the text on the connection's DBAPI cursor (in the caller's
transaction) and applies the same processors SQLAlchemy would. A test holds its rows equal to
`Connection.execute`'s on SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

Processor = Callable[[Any], Any]


class _Slot:
    """Stands for a caller's value (or one item of a list value) while the statement is
    expanded, so each parameter of the expanded text can be traced back to it."""

    __slots__ = ("index", "name")

    def __init__(self, name: str, index: int) -> None:
        self.name, self.index = name, index


@dataclass(frozen=True, slots=True)
class _Shape:
    """The statement for one dialect and one length of each list parameter."""

    sql: str
    positional: bool
    #: per parameter of the text (positional order, or the dict's keys): (caller's name, item
    #: index or -1 for the whole value) or (None, the constant, already processed)
    sources: tuple[tuple[str | None, Any], ...]
    names: tuple[str, ...]
    #: the caller's parameters: name, whether it is a list spread over an IN, bind processor
    inputs: tuple[tuple[str, bool, Processor | None], ...]


class DriverSelect:
    """`statement` with the caller binding `params` (a list value for an expanding IN)."""

    def __init__(self, statement: Select[Any], params: Sequence[str]) -> None:
        self.statement = statement
        self.params = tuple(params)
        self._shapes: dict[tuple[int, tuple[int, ...]], _Shape] = {}
        #: per shape: the column keys and result processors (known from the first cursor)
        self._results: dict[tuple[int, tuple[int, ...]], tuple[list[str], list[Any]]] = {}
        self._lock = threading.Lock()
        self._dialects: dict[int, Dialect] = {}  # keeps each keyed dialect alive

    def rows(
        self, conn: Connection, values: Mapping[str, Any], *, before: str | None = None
    ) -> list[dict[str, Any]]:
        """The result rows as dicts keyed like `Row._asdict()`, read on `conn` in its
        transaction (begun as `conn.execute` would). `before`: a statement without parameters
        run first on the same cursor (a session setting)."""
        dialect = conn.dialect
        lengths = tuple(
            len(values[name]) if isinstance(values[name], list | tuple) else -1
            for name in self.params
        )
        key = (id(dialect), lengths)
        shape = self._shapes.get(key)
        if shape is None:
            shape = self._shape(dialect, values, key)
        processed: dict[str, Any] = {}
        for name, expanding, processor in shape.inputs:
            value = values[name]
            if processor is None:
                processed[name] = value
            elif expanding:
                processed[name] = [processor(item) for item in value]
            else:
                processed[name] = processor(value)
        ordered = [
            index
            if source is None
            else processed[source][index]
            if index >= 0
            else processed[source]
            for source, index in shape.sources
        ]
        parameters: Any = (
            tuple(ordered) if shape.positional else dict(zip(shape.names, ordered, strict=True))
        )
        if not conn.in_transaction():
            conn.begin()  # what conn.execute does first: the caller commits or rolls back
        raw = conn.connection.dbapi_connection
        assert raw is not None  # a Connection in use holds one
        dbapi_error = dialect.loaded_dbapi.Error
        cursor = raw.cursor()
        try:
            if before is not None:
                cursor.execute(before)
            cursor.execute(shape.sql, parameters)
            found = cursor.fetchall()
            description = cursor.description
        except dbapi_error as exc:
            if dialect.is_disconnect(exc, raw, cursor):
                conn.invalidate(exc)
            raise DBAPIError.instance(shape.sql, parameters, exc, dbapi_error) from exc
        finally:
            cursor.close()
        result = self._results.get(key)
        if result is None:
            result = self._result(dialect, description, key)
        keys, processors = result
        return [
            {
                k: (p(v) if p is not None else v)
                for k, p, v in zip(keys, processors, row, strict=True)
            }
            for row in found
        ]

    def _shape(
        self, dialect: Dialect, values: Mapping[str, Any], key: tuple[int, tuple[int, ...]]
    ) -> _Shape:
        compiled = self.statement.compile(dialect=dialect)
        probe: dict[str, Any] = {}
        inputs: list[tuple[str, bool, Processor | None]] = []
        for name in self.params:
            bind = compiled.binds[name]
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            inputs.append((name, bool(bind.expanding), processor))
            if bind.expanding:
                probe[name] = [_Slot(name, i) for i in range(len(values[name]))]
            else:
                probe[name] = _Slot(name, -1)
        state = compiled.construct_expanded_state(probe)
        origin = {
            expanded: original
            for original, names in state.parameter_expansion.items()
            for expanded in names
        }
        names = tuple(state.positiontup or state.parameters)
        sources: list[tuple[str | None, Any]] = []
        for name in names:
            value = state.parameters[name]
            if isinstance(value, _Slot):
                sources.append((value.name, value.index))
                continue
            # a value fixed in the statement (an IN list of statuses, a literal): processed once
            bind = compiled.binds[origin.get(name, name)]
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            sources.append((None, processor(value) if processor is not None else value))
        shape = _Shape(
            sql=state.statement,
            positional=bool(compiled.positional),
            sources=tuple(sources),
            names=names,
            inputs=tuple(inputs),
        )
        with self._lock:
            self._dialects[id(dialect)] = dialect
            self._shapes[key] = shape
        return shape

    def _result(
        self, dialect: Dialect, description: Any, key: tuple[int, tuple[int, ...]]
    ) -> tuple[list[str], list[Any]]:
        columns = list(self.statement.selected_columns)
        if len(columns) != len(description):
            raise RuntimeError(
                f"the driver returned {len(description)} columns for a SELECT of {len(columns)}"
            )
        keys = [str(column.key) for column in columns]
        processors: list[Any] = [
            column.type.dialect_impl(dialect).result_processor(dialect, described[1])
            for column, described in zip(columns, description, strict=True)
        ]
        with self._lock:
            self._results[key] = (keys, processors)
        return keys, processors
