"""Cells as people type them in Excel: decimal commas and day-first dates, read where unambiguous.

A cell that is not clear is never guessed: the problem names the value and the format expected.
"""

from __future__ import annotations

import datetime as dt
import re
import typing
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

AMOUNT_FORMAT = "1234.56 or 1.234,56 (decimal comma)"
DATE_FORMAT = "YYYY-MM-DD or DD-MM-YYYY"
TIME_FORMAT = "YYYY-MM-DDTHH:MM, DD-MM-YYYY HH:MM or YYYY-MM-DD"

_DAY_FIRST = re.compile(r"^(\d{1,2})([-./])(\d{1,2})\2(\d{4})(?:[ T](\d{1,2}:\d{2}(?::\d{2})?))?$")
_GROUPED = re.compile(r"^\d{1,3}(?:[.,' ]\d{3})+$")


class CellError(ValueError):
    """A cell that cannot be read unambiguously; the message says what to write instead."""


def amount(text: str) -> str:
    """'1.210,00', '1210,5', '1,210.00', '€ 12' -> '1210.00', '1210.5', '1210.00', '12'."""
    value = text.strip().replace("€", "").replace("\u00a0", "").replace(" ", "")
    sign = ""
    if value.startswith("-"):
        sign, value = "-", value[1:]
    if not value or not re.fullmatch(r"[\d.,']+", value):
        raise CellError(f"'{text}' is not an amount; expected {AMOUNT_FORMAT}")
    dots, commas = value.count("."), value.count(",")
    if dots and commas:  # the last separator is the decimal one
        decimal_sep = "," if value.rfind(",") > value.rfind(".") else "."
        whole, _, cents = value.rpartition(decimal_sep)
        if not _GROUPED.match(whole) and not whole.isdigit():
            raise CellError(f"'{text}' is not an amount; expected {AMOUNT_FORMAT}")
        return sign + re.sub(r"\D", "", whole) + "." + cents
    sep = "," if commas else "." if dots else ""
    if not sep:
        return sign + value.replace("'", "")
    if value.count(sep) > 1:  # 1.234.567 or 1,234,567: thousands only
        if not _GROUPED.match(value):
            raise CellError(f"'{text}' is not an amount; expected {AMOUNT_FORMAT}")
        return sign + re.sub(r"\D", "", value)
    whole, cents = value.split(sep)
    if len(cents) == 3 and whole and whole != "0":
        thousands, small = f"{whole}{cents}", format(Decimal(f"{whole}.{cents}").normalize(), "f")
        raise CellError(
            f"'{text}' is ambiguous ({thousands} or {small}?); write two decimals, e.g."
            f" {thousands},00 or {thousands}.00 (expected {AMOUNT_FORMAT})"
        )
    return sign + (whole or "0") + "." + cents


def _day_first(text: str, expected: str) -> tuple[dt.date, str | None] | None:
    m = _DAY_FIRST.match(text.strip())
    if not m:
        return None
    first, sep, second, year, clock = m.groups()
    day, month = int(first), int(second)
    if sep == "/" and day <= 12 and month <= 12 and day != month:
        raise CellError(
            f"'{text}' is ambiguous: day/month or month/day? write {year}-{month:02d}-{day:02d}"
            f" or {day:02d}-{month:02d}-{year} (expected {expected})"
        )
    if month > 12:
        raise CellError(
            f"'{text}' reads month first; write the day first ({second}-{first}-{year}) or as"
            f" {year}-{day:02d}-{month:02d} (expected {expected})"
        )
    try:
        return dt.date(int(year), month, day), clock
    except ValueError as exc:
        raise CellError(f"'{text}' is not a date: {exc} (expected {expected})") from exc


def date(text: str) -> str:
    """'21-11-2026', '21.11.2026', '21/11/2026', '2026-11-21' -> '2026-11-21'."""
    value = text.strip()
    found = _day_first(value, DATE_FORMAT)
    if found is not None:
        day, clock = found
        if clock is not None:
            raise CellError(f"'{text}' has a time; a date is expected ({DATE_FORMAT})")
        return day.isoformat()
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    try:  # a date cell exported with midnight: 2026-11-21 00:00:00
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise CellError(f"'{text}' is not a date; expected {DATE_FORMAT}") from None
    if moment.time() != dt.time(0):
        raise CellError(f"'{text}' has a time; a date is expected ({DATE_FORMAT})")
    return moment.date().isoformat()


def moment(text: str) -> str:
    """'21-11-2026 14:30' -> '2026-11-21T14:30'; ISO 8601 (with or without offset) as it is."""
    value = text.strip()
    found = _day_first(value, TIME_FORMAT)
    if found is not None:
        day, clock = found
        return day.isoformat() + ("T" + clock.zfill(5) if clock else "T00:00")
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        raise CellError(f"'{text}' is not a time; expected {TIME_FORMAT}") from None
    return value


def _reader(annotation: Any) -> Any:
    """The cell reader for a field's type (amount, date or time), if any."""
    kinds = set(typing.get_args(annotation)) | {annotation}
    if Decimal in kinds:
        return amount
    if dt.datetime in kinds:
        return moment
    if dt.date in kinds:
        return date
    return None


def readers(model: type[BaseModel]) -> Mapping[str, Any]:
    """Column name -> cell reader, for the amount, date and time columns of a row model."""
    out = {}
    for name, info in model.model_fields.items():
        reader = _reader(info.annotation)
        if reader is not None:
            out[info.alias or name] = reader
    return out


def normalise(
    raw: Mapping[str, Any], columns: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The row with its amount and date cells in canonical form, and each unreadable cell's problem."""
    row = dict(raw)
    problems: dict[str, str] = {}
    for column, reader in columns.items():
        value = row.get(column)
        if not isinstance(value, str) or not value.strip():
            continue
        try:
            row[column] = reader(value)
        except CellError as exc:
            problems[column] = str(exc)
    return row, problems
