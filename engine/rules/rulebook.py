"""The rules in force: load, validate and compile a rules directory; a bad reload keeps the last good rules."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.errors import RuleError, RuleProblem
from engine.rules.compile import CompiledRules, compile_rules
from engine.rules.rulespec import read_rule_dir, validate_partly
from engine.rules.spec import RuleSpec

SpecCheck = Callable[[RuleSpec], list[RuleProblem]]
"""A check of a valid spec against something outside the rule language (the templates it names)."""


def validate_dir(
    rules_dir: Path, checks: Sequence[SpecCheck] = ()
) -> tuple[RuleSpec | None, list[RuleProblem]]:
    """Validate the rule files, then run each further check (say, the templates they name).

    Returns the spec (None when there is any error) and every problem found, warnings included.
    The checks are passed in so that the rule language never imports the layers that use it.
    """
    only: str | None = None
    try:
        if rules_dir.is_file():  # one file, checked with the other files of its directory
            only = str(rules_dir)
            sources = [s for s in read_rule_dir(rules_dir.parent) if s.name != only]
            sources = sorted([*sources, *read_rule_dir(rules_dir)], key=lambda s: s.name)
        else:
            sources = read_rule_dir(rules_dir)
    except RuleError as exc:
        return None, list(exc.problems)
    spec, problems = validate_partly(sources)
    rule_errors = any(p.severity == "error" for p in problems)
    for check in checks:
        try:
            problems.extend(check(spec))
        except Exception:  # a partial spec may trip a check; the rule errors say why
            if not rule_errors:
                raise
    problems = list(dict.fromkeys(problems))  # a template missing for several channels: once
    if only is not None:
        problems = _only_in(only, rules_dir.parent, problems)
    if any(p.severity == "error" for p in problems):
        return None, problems
    return spec, problems


def _only_in(name: str, folder: Path, problems: list[RuleProblem]) -> list[RuleProblem]:
    """The problems of one file; the other files' errors summed up in one line."""
    mine = [p for p in problems if p.path == name]
    others = [p for p in problems if p.path != name and p.severity == "error"]
    if others:
        mine.append(
            RuleProblem(
                path=str(folder),
                line=1,
                column=1,
                key_path="",
                problem=f"{len(others)} error(s) in the other rule files of {folder}",
                hint=f"run `payjourney validate {folder}` to see them",
            )
        )
    return mine


@dataclass(frozen=True, slots=True, kw_only=True)
class Reload:
    """What a reload did."""

    changed: bool  # new rules are in force
    version: str  # the version in force after the reload
    problems: tuple[RuleProblem, ...]  # why the new files were refused, or their warnings


class RuleBook:
    """Holds the compiled rules a long-running process decides with.

    `reload()` reads the directory again; rules that do not validate are refused with their
    problems and the last good rules stay in force, so a typo pushed to git never stops sending.
    """

    def __init__(self, rules_dir: Path, checks: Sequence[SpecCheck] = ()) -> None:
        self.rules_dir = rules_dir
        self.checks = tuple(checks)
        self._lock = threading.Lock()
        spec, problems = validate_dir(rules_dir, self.checks)
        if spec is None:  # at start there is nothing to fall back to: fail loudly
            raise RuleError(problems)
        self._current = compile_rules(spec)
        self.warnings = tuple(problems)

    @property
    def current(self) -> CompiledRules:
        return self._current

    def reload(self) -> Reload:
        """Validate the directory again and switch to it when it is valid and different."""
        spec, problems = validate_dir(self.rules_dir, self.checks)
        with self._lock:
            if spec is None:
                return Reload(
                    changed=False, version=self._current.version, problems=tuple(problems)
                )
            if spec.version == self._current.version:
                return Reload(changed=False, version=spec.version, problems=tuple(problems))
            try:
                self._current = compile_rules(spec)
            except RuleError as exc:  # a condition durable_rules cannot hold
                return Reload(
                    changed=False,
                    version=self._current.version,
                    problems=(*problems, *exc.problems),
                )
            self.warnings = tuple(problems)
            return Reload(changed=True, version=spec.version, problems=tuple(problems))
