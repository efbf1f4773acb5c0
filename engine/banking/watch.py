"""The daemon's statement folder: each CAMT.053/MT940 file dropped in is imported once.

A file is claimed by renaming it into `.importing/` (atomic on one file system, so of several
daemons sharing the folder one takes it), imported with `import_statements` (matched, booked, the
debtors settled through the daemon's life cycle) and moved to `imported/`. A file that is not a
readable statement goes to `failed/` beside a `<name>.error.txt` saying which entry is broken and
why; nothing of it is booked. When the database fails instead, the file goes back to be tried
on the next turn. Importing is idempotent by statement id and entry reference, so the same file
dropped twice (or a claim left behind by a killed daemon and taken again) books nothing twice.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog
from sqlalchemy import Engine

from engine.banking.book import ImportReport, import_statements
from engine.banking.errors import BankingError
from engine.rules.compile import CompiledRules

log = structlog.get_logger("payjourney.statements")
CLAIMED, IMPORTED, FAILED = ".importing", "imported", "failed"
#: Names a transfer is still writing (rsync, scp, browsers): never taken.
_PARTIAL = (".part", ".tmp", ".partial", ".crdownload", "~")


class StatementFolderError(BankingError):
    """The statement folder cannot be used; raised when the daemon starts."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FileOutcome:
    """One file's fate: `imported` (with the report), `failed` (with the error; moved to
    `failed/`) or `retried` (the database failed: the file is back for the next turn)."""

    name: str
    status: str
    report: ImportReport | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FolderState:
    """What lies in a statement folder: files not taken yet, claims being imported, and the
    files refused (in `failed/`, each beside its `.error.txt`) that wait for a person."""

    waiting: int
    importing: int
    failed: tuple[str, ...]


def folder_state(root: Path) -> FolderState:
    """Count a statement folder's files without touching them (for `payjourney status` and
    the daemon's metrics); an unreadable or missing folder counts as empty."""

    def files(folder: Path) -> list[Path]:
        try:
            return [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
        except OSError:
            return []

    waiting = [p for p in files(root) if not p.name.endswith(_PARTIAL)]
    failed = sorted(p.name for p in files(root / FAILED) if not p.name.endswith(".error.txt"))
    return FolderState(
        waiting=len(waiting), importing=len(files(root / CLAIMED)), failed=tuple(failed)
    )


class StatementFolder:
    """Watches `root` for statement files; `__call__` imports what arrived since last time.

    `quiet` is how long a file must be unchanged before it is taken (a file still being copied
    in is left alone; writing it under a dot-name or `.part` and renaming it in is better).
    `stale` is when a claim left in `.importing/` by a daemon that died is taken again.
    """

    def __init__(
        self,
        root: Path,
        *,
        engine: Engine,
        rules: Callable[[], CompiledRules],
        clock: Callable[[], dt.datetime],
        grace: dt.timedelta,
        quiet: dt.timedelta = dt.timedelta(seconds=10),
        stale: dt.timedelta = dt.timedelta(minutes=15),
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.root, self.engine, self.rules, self.clock = root, engine, rules, clock
        self.grace, self.quiet, self.stale, self.wall = grace, quiet, stale, wall

    def prepare(self) -> None:
        """Check the folder and create its sub-folders; StatementFolderError says the fix."""
        if not self.root.is_dir():
            raise StatementFolderError(
                f"statement folder {self.root} does not exist; create it, or fix --statements"
                " (PAYJOURNEY_STATEMENTS_DIR)"
            )
        try:
            for name in (CLAIMED, IMPORTED, FAILED):
                (self.root / name).mkdir(exist_ok=True)
        except OSError as exc:
            raise StatementFolderError(
                f"statement folder {self.root}: cannot create {name}/ ({exc.strerror}); the"
                " daemon moves each file it imported there: give it write access"
            ) from exc

    def waiting(self) -> list[Path]:
        """Files ready to import: not hidden, not partial, unchanged for `quiet`; and claims
        older than `stale`, given back by a daemon that died."""
        now = self.wall()
        ready = []
        for path in sorted(self.root.iterdir()):
            if not path.is_file() or path.name.startswith(".") or path.name.endswith(_PARTIAL):
                continue
            try:
                if now - path.stat().st_mtime >= self.quiet.total_seconds():
                    ready.append(path)
            except FileNotFoundError:  # taken by another daemon meanwhile
                continue
        for claim in sorted((self.root / CLAIMED).glob("*")):
            try:
                if now - claim.stat().st_mtime >= self.stale.total_seconds():
                    os.replace(claim, self.root / claim.name)
                    log.warning("statement claim left by a stopped daemon taken again", file=claim.name)  # fmt: skip
            except FileNotFoundError:
                continue
        return ready

    def __call__(self) -> list[FileOutcome]:
        outcomes = []
        for path in self.waiting():
            claimed = self.root / CLAIMED / path.name
            try:
                os.replace(path, claimed)
            except FileNotFoundError:  # another daemon claimed it first
                continue
            os.utime(claimed)  # the claim's age, for `stale`
            outcomes.append(self._import(claimed))
        return outcomes

    def _import(self, claimed: Path) -> FileOutcome:
        try:
            report = import_statements(
                self.engine, [claimed], rules=self.rules(), now=self.clock(), grace=self.grace
            )
        except BankingError as exc:  # not a readable statement: aside, with the reason
            target = _free(self.root / FAILED, claimed.name)
            os.replace(claimed, target)
            target.with_name(target.name + ".error.txt").write_text(f"{exc}\n", encoding="utf-8")
            log.error("statement file refused; nothing of it was booked", file=claimed.name,
                      moved_to=str(target), error=str(exc))  # fmt: skip
            return FileOutcome(name=claimed.name, status="failed", error=str(exc))
        except Exception:  # the database, most likely: try again next turn
            os.replace(claimed, self.root / claimed.name)
            log.exception("statement import failed; the file is tried again", file=claimed.name)
            return FileOutcome(name=claimed.name, status="retried", error="see the log")
        target = _free(self.root / IMPORTED, claimed.name)
        os.replace(claimed, target)
        log.info(
            "statement imported",
            file=claimed.name,
            entries=report.entries,
            already_imported=report.already_imported,
            matched=sum(report.matched.values()),
            unmatched=report.unmatched,
            returns=report.returns,
            steps_cancelled=report.steps_cancelled,
            journeys_done=report.journeys_done,
        )
        return FileOutcome(name=claimed.name, status="imported", report=report)


def _free(folder: Path, name: str) -> Path:
    """`folder/name`, or `name.2`, `name.3`... when a file of that name is there already (the
    same statement dropped twice keeps both copies)."""
    target, n = folder / name, 1
    while target.exists():
        n += 1
        target = folder / f"{name}.{n}"
    return target
