"""Date arithmetic that compiles to the same meaning on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Date, Float, Integer
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class days_between(FunctionElement[int]):
    """Whole days from the second date to the first (`later - earlier`)."""

    type = Integer()
    inherit_cache = True
    name = "days_between"


class hours_between(FunctionElement[float]):
    """Hours (fractional) from the second timestamp to the first."""

    type = Float()
    inherit_cache = True
    name = "hours_between"


class utc_date(FunctionElement[Any]):
    """The UTC calendar date of a timestamp (the store keeps timestamps in UTC)."""

    type = Date()
    inherit_cache = True
    name = "utc_date"


def _args(compiler: SQLCompiler, element: FunctionElement[Any], **kw: Any) -> list[str]:
    return [compiler.process(arg, **kw) for arg in element.clauses]


@compiles(days_between)
def _days_pg(element: days_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = _args(compiler, element, **kw)
    return f"(CAST({later} AS DATE) - CAST({earlier} AS DATE))"


@compiles(days_between, "sqlite")
def _days_sqlite(element: days_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = _args(compiler, element, **kw)
    return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"


@compiles(hours_between)
def _hours_pg(element: hours_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = _args(compiler, element, **kw)
    return f"(EXTRACT(EPOCH FROM ({later} - {earlier})) / 3600.0)"


@compiles(hours_between, "sqlite")
def _hours_sqlite(element: hours_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = _args(compiler, element, **kw)
    return f"((julianday({later}) - julianday({earlier})) * 24.0)"


@compiles(utc_date)
def _date_pg(element: utc_date, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _args(compiler, element, **kw)
    return f"CAST({value} AS DATE)"


@compiles(utc_date, "sqlite")
def _date_sqlite(element: utc_date, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _args(compiler, element, **kw)
    return f"date({value})"
