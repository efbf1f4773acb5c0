"""Errors of the store; each message says what to do about it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.errors import PayjourneyError


class StoreError(PayjourneyError):
    """Root of the store's errors."""


class DatabaseNotReady(StoreError):
    """The database has no payjourney tables, or an older schema than this code."""

    def __init__(self, url: str, found: str | None, expected: str) -> None:
        self.url, self.found, self.expected = url, found, expected
        state = "has no payjourney tables" if found is None else f"is at revision {found}"
        super().__init__(
            f"the database {url} {state}, this payjourney needs revision {expected};"
            f" run `payjourney --db {url} db upgrade` (PostgreSQL is migrated only on purpose,"
            " as several processes share it; a SQLite file is migrated on first use)"
        )


class DatabaseUnreachable(StoreError):
    """The database URL is wrong or the server does not answer."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(
            f"cannot open the database {url}: {reason}\n"
            "  check --db (or PAYJOURNEY_DB), e.g. sqlite:///payjourney.db or"
            " postgresql+psycopg://user@host:5432/dbname"
        )


class CustomerNotFound(StoreError):
    """No stored customer has this id."""

    def __init__(self, customer_id: str) -> None:
        self.customer_id = customer_id
        super().__init__(
            f"no customer '{customer_id}' in the store (or it was forgotten);"
            " check the id, or load it with `payjourney import PATH`"
        )


class MixedCurrencies(StoreError):
    """A debtor's open invoices are in more than one currency (stored before imports refused
    that): no single amount can be demanded."""

    def __init__(self, customer_id: str) -> None:
        self.customer_id = customer_id
        super().__init__(
            f"customer '{customer_id}' has open invoices in more than one currency; payjourney "
            "duns one currency per debtor: re-import the other currency's invoices and payments "
            "under a separate customer id (the import now refuses mixed currencies)"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RowProblem:
    """One bad row of an import file: `file:row: column: problem`."""

    path: str
    row: int  # 1-based data row (CSV: the header is row 0), or JSON list position + 1
    column: str
    problem: str

    def __str__(self) -> str:
        where = f" {self.column}:" if self.column else ""
        return f"{self.path}:{self.row}:{where} {self.problem}"


class ImportRejected(StoreError):
    """An import found bad rows; nothing of the files was loaded."""

    def __init__(self, problems: Sequence[RowProblem]) -> None:
        self.problems = tuple(problems)
        shown = [str(p) for p in self.problems[:50]]
        more = len(self.problems) - len(shown)
        if more > 0:
            shown.append(f"... and {more} more")
        rows = len({(p.path, p.row) for p in self.problems})
        count = f"{rows} bad row(s)" + (
            f" ({len(self.problems)} problems)" if len(self.problems) != rows else ""
        )
        super().__init__(
            f"{count}; nothing was imported."
            " Fix the rows and import again:\n  " + "\n  ".join(shown)
        )


class ImportFileError(StoreError):
    """An import path that cannot be read as customers, contacts, invoices, ... at all."""
