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
