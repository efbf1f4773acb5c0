"""The store commands through the real `payjourney` CLI, as a subprocess on a SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.store.builders import write_files
from tests.store.test_import import CONTACTS, CUSTOMERS, INVOICES, PAYMENTS

ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-11-23T09:00:00+01:00"


def cli(db: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYJOURNEY_")}
    env.update(PAYJOURNEY_DB=f"sqlite:///{db}", PAYJOURNEY_RULES=str(ROOT / "rules"))
    done = subprocess.run(
        [sys.executable, "-c", "from engine.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    if check and done.returncode != 0:
        pytest.fail(f"payjourney {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return done


def test_import_facts_explain_plan_forget_end_to_end(tmp_path: Path) -> None:
    """A credit manager loads files, reads a customer's facts, explains, plans twice, forgets."""
    db = tmp_path / "pj.db"
    assert "revision" in cli(db, "db", "upgrade").stdout
    files = write_files(
        tmp_path / "in",
        {
            "customers.csv": CUSTOMERS,
            "contacts.csv": CONTACTS,
            "invoices.csv": INVOICES,
            "payments.json": PAYMENTS,
        },
    )
    assert "invoices: 2 row(s)" in cli(db, "import", str(files)).stdout

    facts = json.loads(cli(db, "facts", "C-1", "--json", "--now", NOW).stdout)
    assert facts["balance"]["open_amount"] == "1000.00"
    assert facts["customer"]["payer_role"] == "controller"
    sheet = tmp_path / "c1.json"
    sheet.write_text(json.dumps(facts))
    from_file = json.loads(cli(db, "explain", str(sheet), "--json", "--now", NOW).stdout)
    stored = json.loads(cli(db, "explain", "--customer", "C-1", "--json", "--now", NOW).stdout)
    assert from_file == stored

    first = cli(db, "plan", "--now", NOW).stdout
    assert "Debtors per persona" in first
    assert "0 step(s) newly scheduled" not in first
    assert "0 step(s) newly scheduled" in cli(db, "plan", "--now", NOW).stdout

    assert "forgot C-1" in cli(db, "forget", "C-1", "--yes").stdout
    gone = cli(db, "facts", "C-1", check=False)
    assert gone.returncode == 1
    assert "no customer 'C-1'" in gone.stderr


def test_a_bad_import_exits_1_naming_file_and_row(tmp_path: Path) -> None:
    """A negative amount in row 2 of invoices.csv is reported; nothing is loaded."""
    db = tmp_path / "pj.db"
    cli(db, "db", "upgrade")
    bad = [INVOICES[0], {**INVOICES[1], "amount": "-5"}]
    files = write_files(tmp_path / "in", {"customers.csv": CUSTOMERS, "invoices.csv": bad})
    done = cli(db, "import", str(files), check=False)
    assert done.returncode == 1
    assert "invoices.csv:2: amount: amount must be positive" in done.stderr
    assert "nothing was imported" in done.stderr
    assert cli(db, "facts", "C-1", check=False).returncode == 1


def test_a_failed_first_command_leaves_no_database_file_behind(tmp_path: Path) -> None:
    """`facts C-1` on a fresh directory says the customer is unknown and leaves no empty file."""
    db = tmp_path / "new.db"
    done = cli(db, "facts", "C-1", check=False)
    assert done.returncode == 1
    assert "no customer 'C-1'" in done.stderr
    assert "db upgrade" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_generate_then_dry_run_plan_prints_the_summary(tmp_path: Path) -> None:
    """`generate` fills the store; `plan --dry-run` shows tables by persona, channel and step."""
    db = tmp_path / "pj.db"  # no `db upgrade`: a SQLite file is migrated on first use
    assert "customer: 120" in cli(db, "generate", "--debtors", "120", "--seed", "3").stdout
    out = cli(db, "plan", "--dry-run", "--now", NOW).stdout
    for title in (
        "Debtors per persona",
        "Open balance by age",
        "Sends per channel",
        "Debtors per journey step",
    ):
        assert title in out
    assert "open EUR" in out and "61-90" in out
    assert "dry run: 120 debtors decided, nothing written" in out
