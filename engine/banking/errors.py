"""Errors of reading and booking bank statements; each says where and what to do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.errors import PayjourneyError


class BankingError(PayjourneyError):
    """Root of the errors of payments in."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryProblem:
    """One broken entry of a statement file: `file: entry N (line L): problem`."""

    path: str
    position: int  # 1-based entry (CAMT: Ntry, MT940: :61:) in the file
    problem: str
    line: int | None = None

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line else ""
        return f"{self.path}: entry {self.position}{where}: {self.problem}"


class BrokenStatement(BankingError):
    """A statement file with broken entries, or no statement at all; nothing of it was loaded."""

    def __init__(self, problems: Sequence[EntryProblem]) -> None:
        self.problems = tuple(problems)
        shown = [str(p) for p in self.problems[:50]]
        if len(self.problems) > len(shown):
            shown.append(f"... and {len(self.problems) - len(shown)} more")
        super().__init__(
            f"{len(self.problems)} broken entr{'y' if len(self.problems) == 1 else 'ies'};"
            " nothing of the file was loaded. Ask the bank for a corrected export, or fix"
            " the entries and import again:\n  " + "\n  ".join(shown)
        )


class UnknownStatementFormat(BankingError):
    """A file that is neither CAMT.053 XML nor MT940."""

    def __init__(self, path: str, seen: str) -> None:
        super().__init__(
            f"{path}: not a bank statement payjourney reads ({seen}); export CAMT.053"
            " (ISO 20022 XML, camt.053.001.02 or later) or MT940 from the bank"
        )
