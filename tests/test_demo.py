"""`payjourney demo` (what `make demo` runs) works end to end on a small portfolio."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_the_demo_validates_explains_generates_plans_and_previews(tmp_path: Path) -> None:
    """The demo runs clean and shows each of its four parts."""
    database = tmp_path / "demo.db"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            "demo",
            "--debtors",
            "300",
            "--file",
            str(database),
            "--now",
            "2026-11-23T10:00:00+01:00",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for part in ("1. Validate", "2. Explain", "3. Generate", "4. Preview"):
        assert part in out
    assert "structurally-late-smb" in out
    assert "planned 300 debtors" in out
    assert database.exists()
