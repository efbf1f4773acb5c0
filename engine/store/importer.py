"""`payjourney import`: load customers, contacts, invoices, payments, ... from CSV, JSON or .xlsx.

Every row is validated first; any bad row (with its file and row number) rejects the whole
import and nothing is loaded. Good rows are upserted by their external id, so importing the same
files twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, Table, select

from engine.store import tables as t
from engine.store.bulk import upsert
from engine.store.cells import normalise, readers
from engine.store.currencies import ParsedRows, check_currencies
from engine.store.errors import ImportFileError, ImportRejected, RowProblem
from engine.store.rows import ROW_KINDS, Row
from engine.store.sources import RawRow, SourceFile, discover, read_rows

__all__ = ["ImportReport", "SourceFile", "discover", "import_path", "parse", "read_rows"]

_TABLES: Mapping[str, Any] = {
    "customers": t.Customer,
    "contacts": t.Contact,
    "invoices": t.Invoice,
    "payments": t.Payment,
    "promises": t.PromiseToPay,
    "disputes": t.Dispute,
    "messages": t.Message,
    "events": t.Event,
}


@dataclass(slots=True)
class ImportReport:
    """Rows written per kind."""

    rows: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


def _problems(path: str, number: int, exc: ValidationError) -> list[RowProblem]:
    out = []
    for err in exc.errors():
        column = ".".join(str(part) for part in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown column; remove it or check its spelling"
        elif err["type"] == "missing":
            message = "required column is missing or empty"
        out.append(RowProblem(path=path, row=number, column=column, problem=message))
    return out


@dataclass(slots=True)
class _Parsed:
    source: SourceFile
    rows: list[tuple[int, Row]]
    rejected_ids: set[str] = field(default_factory=set)  # ids of bad rows: no follow-on errors


def _existing(engine: Engine, table: Table, ids: set[str], column: str = "id") -> set[str]:
    if not ids:
        return set()
    found: set[str] = set()
    col = table.c[column]
    wanted = sorted(ids)
    with engine.connect() as conn:
        for i in range(0, len(wanted), 5000):
            part = wanted[i : i + 5000]
            found.update(conn.execute(select(col).where(col.in_(part))).scalars())
    return found


def _zones(engine: Engine, parsed: Sequence[_Parsed]) -> dict[str, str]:
    """Each customer's time zone: from this import, else from the store."""
    zones: dict[str, str] = {}
    for part in parsed:
        if part.source.kind == "customers":
            for _, row in part.rows:
                zones[row.id] = row.timezone  # type: ignore[attr-defined]
    wanted = {getattr(row, "customer_id", None) for part in parsed for _, row in part.rows}
    missing = sorted(c for c in wanted if isinstance(c, str) and c not in zones)
    customer = t.Customer.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        for i in range(0, len(missing), 5000):
            part_ids = missing[i : i + 5000]
            for cid, zone in conn.execute(
                select(customer.c.id, customer.c.timezone).where(customer.c.id.in_(part_ids))
            ):
                zones[cid] = zone
    return zones


def _references(kind: str, row: Row) -> list[tuple[str, str, str]]:
    """(column, kind referred to, id) for each customer or invoice the row points at."""
    found = []
    if customer_id := getattr(row, "customer_id", None):
        found.append(("customer_id", "customers", customer_id))
    if kind == "payments" and (invoice_id := getattr(row, "invoice_id", None)):
        found.append(("invoice_id", "invoices", invoice_id))
    if kind == "invoices" and (corrected := getattr(row, "corrects_invoice_id", None)):
        found.append(("corrects_invoice_id", "invoices", corrected))
    return found


def _check_references(engine: Engine, parsed: Sequence[_Parsed]) -> list[RowProblem]:
    """Rows pointing at customers or invoices that neither this import nor the store has."""
    known: dict[str, set[str]] = {"customers": set(), "invoices": set()}
    for part in parsed:
        if part.source.kind in known:
            known[part.source.kind].update(row.id for _, row in part.rows)
            known[part.source.kind].update(part.rejected_ids)
    refs = {"customers": set[str](), "invoices": set[str]()}
    for part in parsed:
        for _, row in part.rows:
            for _column, kind, ref in _references(part.source.kind, row):
                refs[kind].add(ref)
    stored = {
        kind: _existing(engine, _TABLES[kind].__table__, refs[kind] - known[kind]) for kind in refs
    }
    problems = []
    for part in parsed:
        path = part.source.name
        for number, row in part.rows:
            for column, kind, ref in _references(part.source.kind, row):
                if ref not in known[kind] and ref not in stored[kind]:
                    hint = "; import it first or in the same run" if kind == "customers" else ""
                    problem = f"unknown {kind.rstrip('s')} '{ref}'{hint}"
                    problems.append(
                        RowProblem(path=path, row=number, column=column, problem=problem)
                    )
    return problems


def parse(sources: Iterable[SourceFile]) -> tuple[list[_Parsed], list[RowProblem]]:
    """Validate every row of every file; collect every problem in one pass."""
    return _parse((source, read_rows(source)) for source in sources)


def _parse(
    sources: Iterable[tuple[SourceFile, Iterable[RawRow]]],
) -> tuple[list[_Parsed], list[RowProblem]]:
    parsed: list[_Parsed] = []
    problems: list[RowProblem] = []
    for source, numbered in sources:
        model = ROW_KINDS[source.kind]
        cell_readers = readers(model)
        name = source.name
        rows: list[tuple[int, Row]] = []
        rejected: set[str] = set()
        seen: dict[str, int] = {}
        for read in numbered:
            number = read.number
            raw, unreadable = normalise(read.values, cell_readers)
            found = [
                RowProblem(path=name, row=number, column=column, problem=problem)
                for column, problem in unreadable.items()
            ]
            if read.headerless:
                cells = ", ".join(repr(c) for c in read.headerless)
                found.append(
                    RowProblem(
                        path=name,
                        row=number,
                        column="",
                        problem=f"cell(s) without a column name in the header: {cells}; name"
                        " the column in the header row or remove the cell",
                    )
                )
            try:
                row = model.model_validate(raw)
            except ValidationError as exc:
                found.extend(p for p in _problems(name, number, exc) if p.column not in unreadable)
            if found:
                problems.extend(found)
                if isinstance(raw.get("id"), str):
                    rejected.add(raw["id"])
                continue
            if row.id in seen:
                problems.append(
                    RowProblem(
                        path=name,
                        row=number,
                        column="id",
                        problem=f"duplicate id '{row.id}' (also row {seen[row.id]})",
                    )
                )
                continue
            seen[row.id] = number
            rows.append((number, row))
        parsed.append(_Parsed(source=source, rows=rows, rejected_ids=rejected))
    return parsed, problems


def _record(row: Row, zones: Mapping[str, str], now: dt.datetime) -> dict[str, Any]:
    zone = zones.get(getattr(row, "customer_id", ""), "Europe/Amsterdam")
    record_in = getattr(row, "record_in", None)
    record: dict[str, Any] = record_in(zone) if record_in else row.to_record()
    if row.kind in ("customers", "contacts", "invoices"):
        record["updated_at"] = now
    return record


def import_path(engine: Engine, path: Path, *, now: dt.datetime | None = None) -> ImportReport:
    """Import all files under `path` in one transaction, or raise ImportRejected (load nothing)."""
    sources = discover(path)
    parsed, problems = parse(sources)
    return _load(engine, parsed, problems, [s.name for s in sources], now)


def import_rows(
    engine: Engine,
    rows: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    now: dt.datetime | None = None,
) -> ImportReport:
    """Import rows given as data (`{"customers": [...], "invoices": [...]}`) exactly as files
    are imported: the same row models, reference checks and records. A problem names the kind
    and the 1-based item (`invoices:2: amount: ...`); any problem loads nothing."""
    unknown = [kind for kind in rows if kind not in ROW_KINDS]
    if unknown:
        raise ImportFileError(
            f"unknown row kind(s) {', '.join(map(repr, unknown))}; use {', '.join(ROW_KINDS)}"
        )
    order = list(ROW_KINDS)
    given = sorted(rows.items(), key=lambda item: order.index(item[0]))
    parsed, problems = _parse(
        (
            SourceFile(path=Path(kind), kind=kind),
            (RawRow(number=n, values=dict(item)) for n, item in enumerate(items, start=1)),
        )
        for kind, items in given
    )
    return _load(engine, parsed, problems, [kind for kind, _ in given], now)


def _load(
    engine: Engine,
    parsed: list[_Parsed],
    problems: list[RowProblem],
    files: list[str],
    now: dt.datetime | None,
) -> ImportReport:
    now = now or dt.datetime.now(dt.UTC)
    problems += _check_references(engine, parsed)
    problems += check_currencies(
        engine,
        [ParsedRows(kind=p.source.kind, path=p.source.name, rows=p.rows) for p in parsed],
    )
    if problems:
        raise ImportRejected(problems)
    zones = _zones(engine, parsed)
    report = ImportReport(files=files)
    with engine.begin() as conn:
        for part in parsed:
            table = _TABLES[part.source.kind].__table__
            records = [_record(row, zones, now) for _, row in part.rows]
            if records:
                upsert(conn, table, records)
            report.rows[part.source.kind] = report.rows.get(part.source.kind, 0) + len(records)
    return report
