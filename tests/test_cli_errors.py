"""Every error a user can cause from the command line ends in a clear message and a non-zero
exit, never in a Python traceback: each command run with bad input through the console
script's entry point (`engine.cli.main`, in-process for speed; one case as a real subprocess)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main
from tests.conftest import ROOT

EXAMPLE = str(ROOT / "examples" / "facts" / "smb-late-nl.json")
NOW = "2026-11-24T09:00:00+01:00"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the default rules, a template the sandbox refuses, broken input files
    and an upgraded empty store."""
    root = tmp_path_factory.mktemp("cli-errors")
    shutil.copytree(ROOT / "rules", root / "rules")
    shutil.copytree(ROOT / "templates", root / "refused")
    sms = root / "refused" / "nl" / "reminder-1.u.j2"
    sms.write_text(
        sms.read_text().replace("{% block sms %}", "{% block sms %}{{ amount.__class__ }}"),
        encoding="utf-8",
    )
    (root / "broken-rules").mkdir()
    (root / "broken-rules" / "personas.yaml").write_text("personas: [\n", encoding="utf-8")
    (root / "not-json.json").write_text("{customer: nope", encoding="utf-8")
    (root / "in").mkdir()
    (root / "in" / "invoices.csv").write_text(
        "id,customer_id,amount,issue_date,due_date\nI-1,C-404,12.00,2026-13-01,2026-11-01\n",
        encoding="utf-8",
    )
    (root / "in" / "weird.txt").write_text("x", encoding="utf-8")
    assert run("--db", "sqlite:///store.db", "db", "upgrade", cwd=root).returncode == 0
    return root


CASES = {
    "explain --render with a refused template": (
        ["explain", EXAMPLE, "--render", "--templates", "refused", "--now", NOW],
        "nl/reminder-1.u.j2: refused",
    ),
    "explain a missing facts file": (["explain", "missing.json"], "missing.json"),
    "explain a file that is not JSON": (["explain", "not-json.json"], "not-json.json"),
    "explain with a bad --now": (["explain", EXAMPLE, "--now", "yesterday"], "yesterday"),
    "explain an unknown stored customer": (["explain", "--customer", "C-404"], "C-404"),
    "validate a folder that does not exist": (["validate", "no-such-rules"], "no-such-rules"),
    "validate broken rules": (["validate", "broken-rules"], "personas.yaml"),
    "explain with broken rules": (["--rules", "broken-rules", "explain", EXAMPLE], "personas.yaml"),
    "import a path that does not exist": (["import", "nowhere"], "nowhere"),
    "import a bad row": (["import", "in/invoices.csv"], "invoices.csv:1"),
    "import a file of unknown kind": (["import", "in/weird.txt"], "weird.txt"),
    "facts of an unknown customer": (["facts", "C-404"], "C-404"),
    "facts with a bad --now": (["facts", "C-1", "--now", "soon"], "soon"),
    "plan with a bad --now": (["plan", "--now", "later"], "later"),
    "forget an unknown customer": (["forget", "C-404", "--yes"], "C-404"),
    "generate with a bad --today": (
        ["generate", "--debtors", "3", "--today", "tomorrow"],
        "tomorrow",
    ),
    "a database URL of the wrong kind": (
        ["--db", "mysql://x@localhost/db", "facts", "C-1"],
        "mysql",
    ),
    # a new SQLite file is created and migrated on first use: the customer is what is missing
    "a customer in a fresh store": (
        ["--db", "sqlite:///fresh.db", "facts", "C-1"],
        "no customer 'C-1'",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_user_error_ends_in_a_clear_message_not_a_traceback(
    workdir: Path, case: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command exits non-zero and names what is wrong; any exception escaping `main`
    (what would print a traceback) fails the test."""
    args, names = CASES[case]
    if not args[0].startswith("--"):
        args = ["--db", "sqlite:///store.db", *args]
    monkeypatch.chdir(workdir)
    monkeypatch.setattr(sys, "argv", ["payjourney", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    output = "".join(capsys.readouterr())
    assert exited.value.code not in (0, None), output
    assert "Traceback" not in output, output
    assert names in " ".join(output.split()), output


def test_a_refused_template_in_the_real_cli_prints_one_line_and_no_traceback(
    workdir: Path,
) -> None:
    """As a subprocess: `explain --render` with a template the sandbox refuses names the
    template and exits 1."""
    done = run("explain", EXAMPLE, "--render", "--templates", "refused", "--now", NOW, cwd=workdir)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stderr.startswith("error: nl/reminder-1.u.j2: refused")
