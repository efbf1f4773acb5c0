"""`payjourney schedule` shows what goes out when; `payjourney record` takes what a debtor did."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from tests.store.builders import write_files
from tests.store.test_cli import cli

NOW = "2026-11-23T10:00:00+01:00"
CUSTOMERS = [
    {"id": "C-1", "name": "Bakker B.V.", "kind": "business", "country": "NL", "employees": 12},
    {"id": "C-2", "name": "Jonas Weber", "kind": "consumer", "country": "DE"},
]
CONTACTS = [
    {
        "id": "K-1",
        "customer_id": "C-1",
        "email": "ap@bakker.example",
        "street": "Dorpsstraat 1",
        "postal_code": "1234 AB",
        "city": "Utrecht",
    },
    {
        "id": "K-2",
        "customer_id": "C-2",
        "email": "jonas@weber.example",
        "street": "Hauptstr. 2",
        "postal_code": "10115",
        "city": "Berlin",
    },
]
INVOICES = [
    {
        "id": "I-1",
        "customer_id": "C-1",
        "amount": "1210.00",
        "issue_date": "2026-09-01",
        "due_date": "2026-10-01",
    },
    {
        "id": "I-2",
        "customer_id": "C-2",
        "amount": "89.95",
        "issue_date": "2026-11-01",
        "due_date": "2026-11-15",
    },
]


def planned(tmp_path: Path) -> Path:
    db = tmp_path / "pj.db"
    files = write_files(
        tmp_path / "in",
        {"customers.csv": CUSTOMERS, "contacts.csv": CONTACTS, "invoices.csv": INVOICES},
    )
    cli(db, "import", str(files))
    cli(db, "plan", "--now", NOW)
    return db


def test_the_schedule_lists_steps_with_amounts_by_persona_and_age_and_as_csv(
    tmp_path: Path,
) -> None:
    """Both debtors appear with their open EUR, the totals by persona and ageing bucket, and the
    same rows come out as CSV for Excel."""
    db = planned(tmp_path)
    out = cli(db, "schedule").stdout
    assert "C-1" in out and "C-2" in out
    assert "1,210.00" in out and "89.95" in out
    assert "Per persona" in out and "By age" in out
    for bucket in ("not due", "1-30", "31-60", "61-90", "90+"):
        assert bucket in out
    rows = list(csv.DictReader(io.StringIO(cli(db, "schedule", "--csv").stdout)))
    assert {r["customer_id"] for r in rows} == {"C-1", "C-2"}
    assert {r["amount"] for r in rows} == {"1210.00", "89.95"}


def test_the_schedule_filters_by_day_and_channel(tmp_path: Path) -> None:
    """A day with nothing planned says so and how to plan; --channel narrows to that channel."""
    db = planned(tmp_path)
    empty = cli(db, "schedule", "--date", "2020-01-01").stdout
    assert "nothing planned" in empty
    rows = list(
        csv.DictReader(io.StringIO(cli(db, "schedule", "--channel", "email", "--csv").stdout))
    )
    assert rows and all(r["channel"] == "email" for r in rows)
    bad = cli(db, "schedule", "--channel", "pigeon", check=False)
    assert bad.returncode == 2 and "unknown channel 'pigeon'" in bad.stderr


def test_recording_a_payment_promise_and_dispute_updates_facts_and_schedule(
    tmp_path: Path,
) -> None:
    """A payment lowers the balance; a promise pauses the journey and schedules its confirmation;
    a dispute pauses the journey: the daemon's life cycle, at once."""
    db = planned(tmp_path)
    paid = cli(db, "record", "payment", "C-1", "--amount", "210,00", "--invoice", "I-1").stdout
    assert "open balance 1,000.00 EUR" in paid
    promised = cli(db, "record", "promise", "C-1", "--amount", "1.000,00", "--until", "31-12-2099")
    assert "promised until 2099-12-31" in promised.stdout
    assert "journey of C-1: paused" in promised.stdout
    disputed = cli(db, "record", "dispute", "C-2", "--reason", "nie bestellt").stdout
    assert "1 open dispute(s)" in disputed
    assert "journey of C-2: paused" in disputed
    planned_now = list(csv.DictReader(io.StringIO(cli(db, "schedule", "--csv").stdout)))
    assert [(r["customer_id"], r["template"]) for r in planned_now] == [
        ("C-1", "promise-confirmation")
    ]


def test_recording_for_an_unknown_customer_or_an_unclear_amount_is_refused(tmp_path: Path) -> None:
    """Nothing is stored; the message says what to fix."""
    db = planned(tmp_path)
    unknown = cli(db, "record", "payment", "C-9", "--amount", "5", check=False)
    assert unknown.returncode == 1 and "no customer 'C-9'" in unknown.stderr
    unclear = cli(db, "record", "payment", "C-1", "--amount", "1.000", check=False)
    assert unclear.returncode == 2 and "ambiguous" in unclear.stderr
