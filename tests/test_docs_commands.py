"""Every command in README.md and docs/*.md runs as written on a fresh directory.

A fresh directory holds what a checkout has (rules/, templates/, examples/) and no database. The
commands of each document run in order, in their own directory: every line of a fenced block
that starts with `payjourney` or `.venv/bin/payjourney` (the `make` targets have their own
tests). A line may say what it should exit with in its comment (`# exits 1`); otherwise it must
exit 0.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"```[^\n]*\n(.*?)```", re.S)
PROGRAMS = ("payjourney", ".venv/bin/payjourney")


def commands(document: Path) -> list[tuple[str, int]]:
    """(command line, expected exit code) for each command in the document's fenced blocks."""
    found = []
    for block in FENCE.findall(document.read_text(encoding="utf-8")):
        for line in block.splitlines():
            if line.split(" ", 1)[0] in PROGRAMS:
                expected = re.search(r"#.*\bexits (\d)", line)
                found.append((line, int(expected.group(1)) if expected else 0))
    return found


def fresh_directory(tmp_path: Path) -> Path:
    for name in ("rules", "templates", "examples"):
        (tmp_path / name).symlink_to(ROOT / name, target_is_directory=True)
    return tmp_path


def test_the_readme_and_the_store_guide_show_commands() -> None:
    """The check below has something to check."""
    assert len(commands(ROOT / "README.md")) >= 8
    assert len(commands(ROOT / "docs" / "store.md")) >= 10


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_every_command_in_the_document_runs_as_written(document: Path, tmp_path: Path) -> None:
    """Run in order on a fresh directory, each command exits 0 (or as its comment says)."""
    folder = fresh_directory(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYJOURNEY_")}
    env["COLUMNS"] = "160"
    for line, expected in commands(document):
        argv = shlex.split(line, comments=True)
        done = subprocess.run(
            [sys.executable, "-m", "engine", *argv[1:]],
            capture_output=True,
            text=True,
            cwd=folder,
            env=env,
            timeout=300,
            check=False,
        )
        assert done.returncode == expected, (
            f"{document.name}: `{line}` exited {done.returncode}, expected {expected}\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
