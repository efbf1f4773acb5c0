"""`payjourney simulate` as a user types it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_fit_on_a_store_without_history_says_what_to_do(tmp_path: Path) -> None:
    """--fit on a store with no sent messages stops before simulating, saying how to fix it."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            "--db",
            f"sqlite:///{tmp_path / 'empty.db'}",
            "simulate",
            "--fit",
            "--days",
            "3",
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "--fit found no sent messages" in result.stdout
    assert "payjourney import" in result.stdout
    assert not (tmp_path / "out" / "report.html").exists()


def test_simulating_without_the_templates_stops_at_once_saying_where_it_looked(
    tmp_path: Path,
) -> None:
    """Run from a folder without templates/, the simulation refuses to start (rather than
    reporting a run in which every message failed to render) and names the fix."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            "--rules",
            str(ROOT / "rules"),
            "simulate",
            "--days",
            "3",
            "--debtors",
            "10",
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        timeout=120,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "templates directory templates does not exist" in result.stdout
    assert "--templates DIR or set PAYJOURNEY_TEMPLATES" in result.stdout
    assert not (tmp_path / "out" / "report.html").exists()
