"""`payjourney import`: good files load and reload idempotently; a bad row loads nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from engine.store import tables as t
from engine.store.errors import ImportFileError, ImportRejected
from engine.store.facts_sql import fact_sheet_for
from engine.store.importer import import_path
from tests.store.builders import NOW, write_files

CUSTOMERS = [
    {"id": "C-1", "name": "Bakker B.V.", "kind": "business", "country": "NL", "employees": 12},
    {
        "id": "C-2",
        "name": "Jonas Weber",
        "kind": "consumer",
        "country": "de",
        "timezone": "Europe/Berlin",
        "tags": "vip;newsletter",
    },
]
CONTACTS = [
    {
        "id": "K-1",
        "customer_id": "C-1",
        "role": "controller",
        "decision_authority": "true",
        "email": "ap@bakker.example",
        "phone": "+31612345678",
        "consent_whatsapp": "true",
        "preferred_channel": "whatsapp",
    }
]
INVOICES = [
    {
        "id": "I-1",
        "customer_id": "C-1",
        "amount": "1234.50",
        "currency": "EUR",
        "issue_date": "2026-10-01",
        "due_date": "2026-10-31",
    },
    {
        "id": "I-2",
        "customer_id": "C-2",
        "amount": "89.95",
        "issue_date": "2026-11-01",
        "due_date": "2026-11-15",
    },
]
PAYMENTS = [
    {
        "id": "P-1",
        "customer_id": "C-1",
        "invoice_id": "I-1",
        "amount": "234.50",
        "paid_at": "2026-11-03T10:15:00+01:00",
    }
]
EVENTS = [
    {
        "id": "E-1",
        "customer_id": "C-1",
        "kind": "opened",
        "channel": "email",
        "occurred_at": "2026-11-02T08:00:00Z",
    }
]


def good_files(directory: Path) -> Path:
    return write_files(
        directory,
        {
            "customers.csv": CUSTOMERS,
            "contacts.csv": CONTACTS,
            "invoices.json": INVOICES,
            "payments.json": PAYMENTS,
            "events.json": EVENTS,
        },
    )


def count(engine: Engine, model: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model.__table__)).scalar_one())


def test_a_directory_of_csv_and_json_files_loads_every_kind(store: Engine, tmp_path: Path) -> None:
    """Customers, contacts, invoices, payments and events from one directory all arrive."""
    report = import_path(store, good_files(tmp_path / "in"))
    assert report.rows == {
        "customers": 2,
        "contacts": 1,
        "invoices": 2,
        "payments": 1,
        "events": 1,
    }
    sheet = fact_sheet_for(store, "C-1", NOW)
    assert sheet["balance.open_amount"] == Decimal("1000.00")
    assert sheet["customer.payer_role"] == "controller"
    assert sheet["customer.preferred_channel"] == "whatsapp"
    assert fact_sheet_for(store, "C-2", NOW)["customer.tags"] == ("vip", "newsletter")


def test_importing_the_same_files_twice_changes_nothing(store: Engine, tmp_path: Path) -> None:
    """Rows are upserted by external id: a second import adds no rows."""
    files = good_files(tmp_path / "in")
    import_path(store, files)
    before = {model.__tablename__: count(store, model) for model in t.TABLES}
    import_path(store, files)
    assert {model.__tablename__: count(store, model) for model in t.TABLES} == before


def test_a_changed_row_updates_the_stored_one(store: Engine, tmp_path: Path) -> None:
    """Re-importing an invoice with a corrected amount changes the open balance."""
    import_path(store, good_files(tmp_path / "in"))
    corrected = [{**INVOICES[0], "amount": "2000.00"}]
    import_path(store, write_files(tmp_path / "fix", {"invoices.json": corrected}))
    assert fact_sheet_for(store, "C-1", NOW)["balance.open_amount"] == Decimal("1765.50")


def test_payment_times_keep_the_local_pay_hour(store: Engine, tmp_path: Path) -> None:
    """A payment at 10:15 Amsterdam time is a 10 o'clock payment, whatever UTC says."""
    import_path(store, good_files(tmp_path / "in"))
    with store.connect() as conn:
        payment = conn.execute(select(t.Payment.__table__)).one()
    assert payment.local_hour == 10
    assert payment.paid_at == dt.datetime(2026, 11, 3, 9, 15, tzinfo=dt.UTC)


BAD_ROWS = [
    pytest.param("invoices", {"due_date": "2026-13-01"}, "due_date", id="wrong-date"),
    pytest.param("invoices", {"amount": "-10.00"}, "amount must be positive", id="negative"),
    pytest.param(
        "invoices", {"customer_id": "C-404"}, "unknown customer 'C-404'", id="unknown-customer"
    ),
    pytest.param("invoices", {"currency": "XYZ"}, "unknown currency 'XYZ'", id="currency"),
    pytest.param("payments", {"amount": "0"}, "amount must be positive", id="zero-payment"),
    pytest.param("invoices", {"amount": "1.0051"}, "more than two decimals", id="sub-cent"),
]


@pytest.mark.parametrize(("kind", "change", "message"), BAD_ROWS)
def test_a_bad_row_is_reported_with_file_and_row_and_nothing_is_loaded(
    store: Engine, tmp_path: Path, kind: str, change: dict[str, str], message: str
) -> None:
    """The second data row is bad: the error names the file and row 2, and no table has rows."""
    rows = {"invoices": [INVOICES[0], {**INVOICES[1], **change}], "payments": PAYMENTS * 2}
    rows["payments"] = [PAYMENTS[0], {**PAYMENTS[0], "id": "P-2", **change}]
    files = {
        "customers.csv": CUSTOMERS,
        "invoices.csv": rows["invoices"] if kind == "invoices" else INVOICES,
        "payments.json": rows["payments"] if kind == "payments" else PAYMENTS,
    }
    directory = write_files(tmp_path / "in", files)
    with pytest.raises(ImportRejected) as caught:
        import_path(store, directory)
    suffix = ".csv" if kind == "invoices" else ".json"
    assert f"{kind}{suffix}:2:" in str(caught.value)
    assert message in str(caught.value)
    assert all(count(store, model) == 0 for model in t.TABLES)


def test_every_bad_row_is_reported_in_one_pass(store: Engine, tmp_path: Path) -> None:
    """Three bad rows in two files give three problems, each with its own row number."""
    invoices = [
        {**INVOICES[0], "amount": "-1"},
        INVOICES[1],
        {**INVOICES[1], "id": "I-3", "issue_date": "yesterday"},
    ]
    payments = [{**PAYMENTS[0], "invoice_id": "I-404"}]
    directory = write_files(
        tmp_path / "in",
        {"customers.json": CUSTOMERS, "invoices.csv": invoices, "payments.csv": payments},
    )
    with pytest.raises(ImportRejected) as caught:
        import_path(store, directory)
    where = sorted((Path(p.path).name, p.row, p.column) for p in caught.value.problems)
    assert where == [
        ("invoices.csv", 1, "amount"),
        ("invoices.csv", 3, "issue_date"),
        ("payments.csv", 1, "invoice_id"),
    ]


def test_an_unknown_column_is_a_row_error_that_says_so(store: Engine, tmp_path: Path) -> None:
    """A misspelt column is not silently ignored."""
    directory = write_files(tmp_path / "in", {"customers.csv": [{**CUSTOMERS[0], "contry": "NL"}]})
    with pytest.raises(ImportRejected, match="contry: unknown column"):
        import_path(store, directory)


def test_a_file_named_after_nothing_known_is_refused_with_the_names_to_use(tmp_path: Path) -> None:
    """`stuff.csv` cannot be imported: the error lists the file names that can."""
    from engine.store.importer import discover

    (tmp_path / "stuff.csv").write_text("id\n1\n")
    with pytest.raises(ImportFileError, match="customers, contacts, invoices"):
        discover(tmp_path / "stuff.csv")


def test_a_customer_without_a_time_zone_gets_its_countrys(store: Engine, tmp_path: Path) -> None:
    """A German debtor imported without a time zone lives in Europe/Berlin."""
    row = {"id": "C-9", "kind": "consumer", "country": "DE"}
    import_path(store, write_files(tmp_path / "in", {"customers.csv": [row]}))
    assert fact_sheet_for(store, "C-9", NOW)["customer.timezone"] == "Europe/Berlin"
