"""`payjourney import`: load customers, contacts, invoices, payments, ... from CSV or JSON files.

Every row is validated first; any bad row (with its file and row number) rejects the whole
import and nothing is loaded. Good rows are upserted by their external id, so importing the same
files twice changes nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, Table, select

from engine.store import tables as t
from engine.store.bulk import upsert
from engine.store.currencies import ParsedRows, check_currencies
from engine.store.errors import ImportFileError, ImportRejected, RowProblem
from engine.store.rows import ROW_KINDS, Row

SUFFIXES = (".csv", ".json")
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


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceFile:
    """One file to import and which kind of rows it holds."""

    path: Path
    kind: str


@dataclass(slots=True)
class ImportReport:
    """Rows written per kind."""

    rows: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


def kind_of(path: Path) -> str:
    """The row kind a file holds, from its name (`customers.csv`, `2026-11_invoices.json`)."""
    stem = path.stem.lower()
    for kind in ROW_KINDS:
        if kind in stem or kind.rstrip("s") in stem:
            return kind
    raise ImportFileError(
        f"{path}: cannot tell what the file holds from its name; name it after one of"
        f" {', '.join(ROW_KINDS)} (e.g. customers.csv, invoices.json)"
    )


def discover(path: Path) -> list[SourceFile]:
    """The files under `path` (a file or a directory), parents first."""
    if not path.exists():
        raise ImportFileError(f"{path}: no such file or directory")
    paths = (
        sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES)
        if path.is_dir()
        else [path]
    )
    if not paths:
        raise ImportFileError(f"{path}: no .csv or .json files in this directory")
    for p in paths:
        if p.suffix.lower() not in SUFFIXES:
            raise ImportFileError(f"{p}: import reads .csv or .json files only")
    order = list(ROW_KINDS)
    found = [SourceFile(path=p, kind=kind_of(p)) for p in paths]
    return sorted(found, key=lambda f: (order.index(f.kind), str(f.path)))


def read_rows(source: SourceFile) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number, raw row) pairs; CSV rows count from 1 after the header, JSON items from 1."""
    path = source.path
    try:
        if path.suffix.lower() == ".csv":
            with path.open(newline="", encoding="utf-8-sig") as handle:
                for number, raw in enumerate(csv.DictReader(handle), start=1):
                    yield number, {k: v for k, v in raw.items() if k is not None}
            return
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ImportFileError(f"{path}: cannot read: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ImportFileError(
            f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}"
        ) from exc
    if isinstance(data, dict) and source.kind in data:
        data = data[source.kind]
    if not isinstance(data, list):
        raise ImportFileError(
            f"{path}: expected a JSON list of {source.kind} objects"
            f" (or an object with a '{source.kind}' list)"
        )
    for number, raw in enumerate(data, start=1):
        if not isinstance(raw, dict):
            raise ImportFileError(f"{path}: item {number} is not an object")
        yield number, raw


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
        path = str(part.source.path)
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
    parsed: list[_Parsed] = []
    problems: list[RowProblem] = []
    for source in sources:
        model = ROW_KINDS[source.kind]
        rows: list[tuple[int, Row]] = []
        rejected: set[str] = set()
        seen: dict[str, int] = {}
        for number, raw in read_rows(source):
            try:
                row = model.model_validate(raw)
            except ValidationError as exc:
                problems.extend(_problems(str(source.path), number, exc))
                if isinstance(raw.get("id"), str):
                    rejected.add(raw["id"])
                continue
            if row.id in seen:
                problems.append(
                    RowProblem(
                        path=str(source.path),
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
    now = now or dt.datetime.now(dt.UTC)
    sources = discover(path)
    parsed, problems = parse(sources)
    problems += _check_references(engine, parsed)
    problems += check_currencies(
        engine,
        [ParsedRows(kind=p.source.kind, path=str(p.source.path), rows=p.rows) for p in parsed],
    )
    if problems:
        raise ImportRejected(problems)
    zones = _zones(engine, parsed)
    report = ImportReport(files=[str(s.path) for s in sources])
    with engine.begin() as conn:
        for part in parsed:
            table = _TABLES[part.source.kind].__table__
            records = [_record(row, zones, now) for _, row in part.rows]
            if records:
                upsert(conn, table, records)
            report.rows[part.source.kind] = report.rows.get(part.source.kind, 0) + len(records)
    return report
