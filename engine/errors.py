"""The one exception root of payjourney, and the errors of the decision core."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class PayjourneyError(Exception):
    """Root of every error payjourney raises on purpose; the message says what to do."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleProblem:
    """One problem in a rule file, as `file:line:col: error: what — how to fix`."""

    path: str
    line: int
    column: int
    key_path: str
    problem: str
    hint: str = ""
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        where = f" in {self.key_path}" if self.key_path else ""
        text = f"{self.path}:{self.line}:{self.column}: {self.severity}: {self.problem}{where}"
        if self.hint:
            text += f"\n  {self.hint}"
        return text

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "key_path": self.key_path,
            "problem": self.problem,
            "hint": self.hint,
            "severity": self.severity,
        }


class RuleError(PayjourneyError):
    """The rule files have errors; `problems` lists every one found in one pass."""

    def __init__(self, problems: Iterable[RuleProblem]) -> None:
        self.problems: tuple[RuleProblem, ...] = tuple(problems)
        errors = [p for p in self.problems if p.severity == "error"]
        head = f"{len(errors)} error(s) in the rule files; fix them and run `payjourney validate`"
        super().__init__("\n".join([head, *map(str, errors)]))


class FactSheetError(PayjourneyError):
    """A fact sheet has unknown facts or values of the wrong type."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(
            "the fact sheet is invalid (see docs/rules.md#facts for names and types):\n  "
            + "\n  ".join(self.problems)
        )


class EngineError(PayjourneyError):
    """The rule engine (durable_rules) failed in a way the rules cannot explain."""
