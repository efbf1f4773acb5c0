"""Import files as people make them: CSV in any delimiter Excel writes, JSON, and .xlsx workbooks.

Each source yields raw rows (column -> cell text) with their row numbers; a workbook's sheets are
sources of their own, the sheet name standing in for the file name.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.store.errors import ImportFileError
from engine.store.rows import ROW_KINDS

SUFFIXES = (".csv", ".json", ".xlsx")
#: Delimiters a CSV may use: Dutch and German Excel write ';', others ',' or a tab.
DELIMITERS = ",;\t|"


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceFile:
    """One file (or one sheet of a workbook) to import and which kind of rows it holds."""

    path: Path
    kind: str
    sheet: str | None = None

    @property
    def name(self) -> str:
        """How problems name it: `invoices.csv`, or `book.xlsx[invoices]`."""
        return f"{self.path}[{self.sheet}]" if self.sheet is not None else str(self.path)


@dataclass(frozen=True, slots=True, kw_only=True)
class RawRow:
    """One data row as read: its number, cells by column, and cells that have no header."""

    number: int
    values: dict[str, Any]
    headerless: tuple[str, ...] = ()


def _kind(name: str) -> str | None:
    stem = name.lower()
    for kind in ROW_KINDS:
        if kind in stem or kind.rstrip("s") in stem:
            return kind
    return None


def kind_of(path: Path) -> str:
    """The row kind a file holds, from its name (`customers.csv`, `2026-11_invoices.json`)."""
    kind = _kind(path.stem)
    if kind is None:
        raise ImportFileError(
            f"{path}: cannot tell what the file holds from its name; name it after one of"
            f" {', '.join(ROW_KINDS)} (e.g. customers.csv, invoices.json)"
        )
    return kind


def _open_workbook(path: Path) -> Any:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (OSError, InvalidFileException, KeyError, ValueError) as exc:
        raise ImportFileError(f"{path}: cannot read the workbook: {exc}") from exc


def _sheets(path: Path) -> list[SourceFile]:
    """A workbook's sheets; a sheet's name says what it holds (a lone sheet may leave it to the file)."""
    book = _open_workbook(path)
    try:
        names = list(book.sheetnames)
    finally:
        book.close()
    found = []
    for sheet in names:
        kind = _kind(sheet) or (_kind(path.stem) if len(names) == 1 else None)
        if kind is None:
            raise ImportFileError(
                f"{path}[{sheet}]: cannot tell what the sheet holds from its name; name each sheet"
                f" after one of {', '.join(ROW_KINDS)} (e.g. invoices), or remove it"
            )
        found.append(SourceFile(path=path, kind=kind, sheet=sheet))
    return found


def discover(path: Path) -> list[SourceFile]:
    """The sources under `path` (a file or a directory), parents first."""
    if not path.exists():
        raise ImportFileError(f"{path}: no such file or directory")
    paths = (
        sorted(
            p
            for p in path.iterdir()
            if p.suffix.lower() in SUFFIXES and not p.name.startswith("~$")  # Excel's lock files
        )
        if path.is_dir()
        else [path]
    )
    if not paths:
        raise ImportFileError(f"{path}: no .csv, .json or .xlsx files in this directory")
    found: list[SourceFile] = []
    for p in paths:
        suffix = p.suffix.lower()
        if suffix not in SUFFIXES:
            hint = "; save it as .xlsx (Excel Workbook)" if suffix in (".xls", ".ods") else ""
            raise ImportFileError(f"{p}: import reads .csv, .json or .xlsx files only{hint}")
        if suffix == ".xlsx":
            found.extend(_sheets(p))
        else:
            found.append(SourceFile(path=p, kind=kind_of(p)))
    order = list(ROW_KINDS)
    return sorted(found, key=lambda f: (order.index(f.kind), f.name))


def sniff_delimiter(header: str) -> str:
    """The delimiter of a CSV, from its header line: the candidate that splits it most."""
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _csv_rows(path: Path) -> Iterator[RawRow]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        delimiter = sniff_delimiter(handle.readline())
        handle.seek(0)
        reader = csv.reader(handle, delimiter=delimiter)
        header = [h.strip() for h in next(reader, [])]
        yield from _table_rows(header, reader, first=1)


def _table_rows(header: list[str], rows: Any, *, first: int) -> Iterator[RawRow]:
    """Rows of cells under a header; blank rows skipped, cells beyond the header reported."""
    for number, cells in enumerate(rows, start=first):
        texts = ["" if c is None else c if isinstance(c, str) else _cell_text(c) for c in cells]
        if not any(t.strip() for t in texts):
            continue
        values: dict[str, Any] = {}
        headerless: list[str] = []
        for i, text in enumerate(texts):
            name = header[i] if i < len(header) else ""
            if name:
                values[name] = text
            elif text.strip():
                headerless.append(text)
        yield RawRow(number=number, values=values, headerless=tuple(headerless))


def _cell_text(value: Any) -> str:
    """A workbook cell as the text a CSV would hold."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _sheet_rows(source: SourceFile) -> Iterator[RawRow]:
    """A sheet's rows; numbered as Excel shows them (the header is row 1)."""
    book = _open_workbook(source.path)
    try:
        rows = book[source.sheet].iter_rows(values_only=True)
        header = [_cell_text(c).strip() if c is not None else "" for c in next(rows, ())]
        yield from _table_rows(header, rows, first=2)
    finally:
        book.close()


def read_rows(source: SourceFile) -> Iterator[RawRow]:
    """The raw rows of a source: CSV rows count from 1 after the header, JSON items from 1,
    workbook rows as Excel numbers them."""
    path = source.path
    try:
        if source.sheet is not None:
            yield from _sheet_rows(source)
            return
        if path.suffix.lower() == ".csv":
            yield from _csv_rows(path)
            return
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ImportFileError(f"{source.name}: cannot read: {exc}") from exc
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
        yield RawRow(number=number, values=raw)
