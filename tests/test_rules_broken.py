"""Every broken rule file in tests/rules_broken gets its own error at the right line and column."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from engine.rules.rulespec import read_rule_dir, validate_sources

BROKEN = sorted((Path(__file__).parent / "rules_broken").glob("*.yaml"))
_EXPECT = re.compile(r"^# expect: (?P<line>\d+):(?P<col>\d+): (?P<problem>.+)$")


def test_the_corpus_has_at_least_thirty_broken_files() -> None:
    """The corpus covers at least 30 distinct mistakes."""
    assert len(BROKEN) >= 30


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_broken_file_reports_its_error_at_its_line(path: Path) -> None:
    """The first error names the file, the line, the column and the specific problem."""
    m = _EXPECT.match(path.read_text().splitlines()[0])
    assert m, f"{path.name} must start with '# expect: LINE:COL: problem'"
    spec, problems = validate_sources(read_rule_dir(path))
    assert spec is None
    errors = [p for p in problems if p.severity == "error"]
    first = errors[0]
    assert (first.path, first.line, first.column, first.problem) == (
        str(path),
        int(m["line"]),
        int(m["col"]),
        m["problem"],
    )
    assert str(first).startswith(f"{path}:{m['line']}:{m['col']}: error: {m['problem']}")


def test_every_broken_file_has_a_hint_or_names_the_key() -> None:
    """Each error tells where (key path) or how to fix (hint)."""
    for path in BROKEN:
        _, problems = validate_sources(read_rule_dir(path))
        first = next(p for p in problems if p.severity == "error")
        assert first.hint or first.key_path, path.name


@pytest.mark.parametrize("path", BROKEN[:3], ids=[p.stem for p in BROKEN[:3]])
def test_validate_command_exits_1_and_prints_file_line(path: Path) -> None:
    """`payjourney validate` on a broken file exits 1 and prints file:line:col."""
    result = subprocess.run(
        [sys.executable, "-m", "engine", "validate", str(path), "--templates", "/nonexistent"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    m = _EXPECT.match(path.read_text().splitlines()[0])
    assert m
    assert f"{path}:{m['line']}:{m['col']}: error:" in result.stdout
