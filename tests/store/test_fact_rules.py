"""The fact rules a credit manager would apply, as worked examples on SQLite and PostgreSQL:
local calendar days, one currency per debtor, consistent balances, reactions from any source,
unknown lateness without history, credit notes netted against the invoice they correct."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from engine.store.errors import ImportRejected
from engine.store.facts_sql import fact_sheet_for
from tests.store.builders import NOW, customer, load


def invoice(iid: str, amount: str, due: str, **extra: Any) -> dict[str, Any]:
    """An invoice of customer C-1 issued 30 days before it falls due."""
    issued = dt.date.fromisoformat(due) - dt.timedelta(days=30)
    return {
        "id": iid,
        "customer_id": "C-1",
        "amount": amount,
        "issue_date": issued.isoformat(),
        "due_date": due,
        **extra,
    }


def payment(pid: str, amount: str, paid_at: str, invoice_id: str | None = None) -> dict[str, Any]:
    return {
        "id": pid,
        "customer_id": "C-1",
        "invoice_id": invoice_id,
        "amount": amount,
        "paid_at": paid_at,
    }


def message(mid: str, sent_at: str) -> dict[str, Any]:
    return {"id": mid, "customer_id": "C-1", "channel": "email", "sent_at": sent_at}


# --- the customer's calendar day -------------------------------------------------------


def test_a_payment_at_half_past_midnight_in_amsterdam_after_the_due_date_is_a_day_late(
    store: Engine, tmp_path: Path
) -> None:
    """Paid at 00:30 Amsterdam time (23:30 UTC the evening before) the day after the due date:
    one day late on the customer's calendar, not on time."""
    load(
        store,
        tmp_path,
        customers=[customer("C-1")],
        invoices=[invoice("I-1", "100.00", "2026-10-15")],
        payments=[payment("P-1", "100.00", "2026-10-16T00:30:00+02:00", "I-1")],
    )
    sheet = fact_sheet_for(store, "C-1", NOW)
    assert sheet["behaviour.avg_days_late"] == 1
    assert sheet["behaviour.on_time_ratio"] == 0


def test_a_payment_late_in_the_evening_on_the_due_date_is_on_time_in_new_york(
    store: Engine, tmp_path: Path
) -> None:
    """A New York customer paying at 21:00 local on the due date (01:00 UTC next day) paid on
    time."""
    load(
        store,
        tmp_path,
        customers=[customer("C-1", timezone="America/New_York")],
        invoices=[invoice("I-1", "100.00", "2026-10-15")],
        payments=[payment("P-1", "100.00", "2026-10-15T21:00:00-04:00", "I-1")],
    )
    sheet = fact_sheet_for(store, "C-1", NOW)
    assert sheet["behaviour.avg_days_late"] == 0
    assert sheet["behaviour.on_time_ratio"] == 1


def test_days_overdue_count_on_the_customers_calendar(store: Engine, tmp_path: Path) -> None:
    """At 23:30 UTC on 23 November it is already 24 November in Berlin: an invoice due on
    23 November is one day overdue there, and its amount is overdue."""
    load(
        store,
        tmp_path,
        customers=[customer("C-1", country="DE")],
        invoices=[invoice("I-1", "80.00", "2026-11-23")],
    )
    late_evening = dt.datetime(2026, 11, 23, 23, 30, tzinfo=dt.UTC)
    sheet = fact_sheet_for(store, "C-1", late_evening)
    assert sheet["balance.max_days_overdue"] == 1
    assert sheet["balance.overdue_amount"] == Decimal("80.00")
    earlier = fact_sheet_for(store, "C-1", dt.datetime(2026, 11, 23, 22, 30, tzinfo=dt.UTC))
    assert earlier["balance.max_days_overdue"] == 0
    assert earlier["balance.overdue_amount"] == 0


def test_invoices_not_yet_due_are_open_but_not_overdue(store: Engine, tmp_path: Path) -> None:
    """39.95 overdue since October and 500.00 falling due in December: 539.95 open, 39.95
    overdue."""
    load(
        store,
        tmp_path,
        customers=[customer("C-1")],
        invoices=[
            invoice("I-1", "39.95", "2026-10-20"),
            invoice("I-2", "500.00", "2026-12-18", issue_date="2026-11-18"),
        ],
    )
    sheet = fact_sheet_for(store, "C-1", NOW)
    assert sheet["balance.open_amount"] == Decimal("539.95")
    assert sheet["balance.overdue_amount"] == Decimal("39.95")
    assert sheet["balance.open_invoices"] == 2
    assert sheet["balance.oldest_due_date"] == dt.date(2026, 10, 20)


# --- one currency per debtor -----------------------------------------------------------


def test_an_import_mixing_currencies_for_one_debtor_is_refused(
    store: Engine, tmp_path: Path
) -> None:
    """A USD invoice for a debtor who owes in EUR is refused with what to do; nothing loads."""
    with pytest.raises(ImportRejected) as caught:
        load(
            store,
            tmp_path,
            customers=[customer("C-1")],
            invoices=[
                invoice("I-1", "100.00", "2026-10-15"),
                invoice("I-2", "50.00", "2026-10-20", currency="USD"),
            ],
        )
    text = str(caught.value)
    assert "invoices.json:2: currency: customer 'C-1' already has amounts in EUR" in text
    assert "separate customer id per currency" in text


def test_a_second_currency_is_refused_against_what_is_stored(store: Engine, tmp_path: Path) -> None:
    """A later import cannot add a GBP invoice to a debtor stored with EUR invoices."""
    load(
        store,
        tmp_path,
        customers=[customer("C-1")],
        invoices=[invoice("I-1", "100.00", "2026-10-15")],
    )
    with pytest.raises(ImportRejected, match=r"already has amounts in EUR \(stored row I-1\)"):
        load(store, tmp_path, invoices=[invoice("I-2", "50.00", "2026-10-20", currency="GBP")])


def test_a_payment_never_settles_an_invoice_in_another_currency(
    store: Engine, tmp_path: Path
) -> None:
    """A CHF payment against a EUR invoice is refused and says to book it in EUR."""
    load(
        store,
        tmp_path,
        customers=[customer("C-1")],
        invoices=[invoice("I-1", "100.00", "2026-10-15")],
    )
    paid = {**payment("P-1", "100.00", "2026-10-20T10:00:00Z", "I-1"), "currency": "CHF"}
    with pytest.raises(ImportRejected) as caught:
        load(store, tmp_path, payments=[paid])
    assert "CHF against invoice 'I-1' in EUR; book it in EUR" in str(caught.value)
    assert fact_sheet_for(store, "C-1", NOW)["balance.open_amount"] == Decimal("100.00")


def test_a_debtor_in_one_foreign_currency_is_dunned_in_it(store: Engine, tmp_path: Path) -> None:
    """A debtor who owes only in CHF has a CHF balance."""
    load(
        store,
        tmp_path,
        customers=[customer("C-1")],
        invoices=[invoice("I-1", "70.00", "2026-10-15", currency="CHF")],
    )
    sheet = fact_sheet_for(store, "C-1", NOW)
    assert (sheet["balance.currency"], sheet["balance.open_amount"]) == ("CHF", Decimal("70.00"))


# --- balances that agree ---------------------------------------------------------------


def test_money_on_account_covering_everything_leaves_nothing_open(
    store: Engine, tmp_path: Path
) -> None:
    """300 paid on account against two invoices of 100 and 150: no open invoice, 0.00 open, no
    oldest due date, nothing overdue."""
    load(
        store,
        tmp_path,
        customers=[customer("C-1")],
        invoices=[invoice("I-1", "100.00", "2026-10-01"), invoice("I-2", "150.00", "2026-10-15")],
        payments=[payment("P-1", "300.00", "2026-10-20T10:00:00Z")],
    )
    sheet = fact_sheet_for(store, "C-1", NOW)
    assert sheet["balance.open_invoices"] == 0
    assert sheet["balance.open_amount"] == 0
    assert sheet["balance.oldest_due_date"] is None
    assert sheet["balance.overdue_amount"] == 0


def test_money_on_account_settles_the_oldest_invoice_first(store: Engine, tmp_path: Path) -> None:
    """120 on account against 100 (due 1 Oct) and 150 (due 15 Oct): the October 1 invoice is
    settled, 130 of the second is open, and that one is now the oldest open invoice."""
    load(
        store,
        tmp_path,
        customers=[customer("C-1")],
        invoices=[invoice("I-1", "100.00", "2026-10-01"), invoice("I-2", "150.00", "2026-10-15")],
        payments=[payment("P-1", "120.00", "2026-10-20T10:00:00Z")],
    )
    sheet = fact_sheet_for(store, "C-1", NOW)
    assert sheet["balance.open_invoices"] == 1
    assert sheet["balance.open_amount"] == Decimal("130.00")
    assert sheet["balance.oldest_due_date"] == dt.date(2026, 10, 15)
    assert sheet["balance.max_days_overdue"] == 39


# --- reactions from any source ---------------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    ["payments", "promises", "disputes"],
)
def test_a_payment_promise_or_dispute_imported_after_the_last_message_is_a_reaction(
    store: Engine, tmp_path: Path, kind: str
) -> None:
    """A reminder on 10 November, then a payment, promise or dispute from its own import file on
    12 November: the debtor reacted. Before it arrived (at 11 November) they had not."""
    rows: dict[str, list[dict[str, Any]]] = {
        "payments": [payment("X-1", "10.00", "2026-11-12T10:00:00Z", "I-1")],
        "promises": [
            {
                "id": "X-1",
                "customer_id": "C-1",
                "amount": "100.00",
                "promised_at": "2026-11-12T10:00:00Z",
                "promised_until": "2026-11-30",
            }
        ],
        "disputes": [{"id": "X-1", "customer_id": "C-1", "opened_at": "2026-11-12T10:00:00Z"}],
    }
    load(
        store,
        tmp_path,
        customers=[customer("C-1")],
        invoices=[invoice("I-1", "100.00", "2026-11-01")],
        messages=[message("M-1", "2026-11-10T09:00:00Z")],
        **{kind: rows[kind]},
    )
    assert fact_sheet_for(store, "C-1", NOW)["journey.reacted"] is True
    before = dt.datetime(2026, 11, 11, 12, tzinfo=dt.UTC)
    assert fact_sheet_for(store, "C-1", before)["journey.reacted"] is False


def test_a_payment_before_the_last_message_is_no_reaction_to_it(
    store: Engine, tmp_path: Path
) -> None:
    """A partial payment on 5 November, then a reminder on 10 November: no reaction yet."""
    load(
        store,
        tmp_path,
        customers=[customer("C-1")],
        invoices=[invoice("I-1", "100.00", "2026-11-01")],
        payments=[payment("P-1", "10.00", "2026-11-05T10:00:00Z", "I-1")],
        messages=[message("M-1", "2026-11-10T09:00:00Z")],
    )
    assert fact_sheet_for(store, "C-1", NOW)["journey.reacted"] is False


# --- lateness without history ----------------------------------------------------------


def test_a_debtor_with_no_paid_invoice_has_unknown_lateness(store: Engine, tmp_path: Path) -> None:
    """No invoice paid yet: avg_days_late and on_time_ratio are unknown, not a perfect 0."""
    load(
        store,
        tmp_path,
        customers=[customer("C-1")],
        invoices=[invoice("I-1", "100.00", "2026-11-01")],
    )
    sheet = fact_sheet_for(store, "C-1", NOW)
    assert sheet["behaviour.avg_days_late"] is None
    assert sheet["behaviour.on_time_ratio"] is None


# --- credit notes ----------------------------------------------------------------------


def test_a_credit_note_is_netted_against_the_invoice_it_corrects(
    store: Engine, tmp_path: Path
) -> None:
    """Invoice 350.00 corrected by a credit note of -315.00: 35.00 open on that invoice."""
    load(
        store,
        tmp_path,
        customers=[customer("C-1")],
        invoices=[
            invoice("I-1", "350.00", "2026-10-20"),
            invoice("CN-1", "-315.00", "2026-10-25", corrects_invoice_id="I-1"),
        ],
    )
    sheet = fact_sheet_for(store, "C-1", NOW)
    assert sheet["balance.open_amount"] == Decimal("35.00")
    assert sheet["balance.open_invoices"] == 1
    assert sheet["balance.oldest_due_date"] == dt.date(2026, 10, 20)


def test_a_credit_note_for_the_whole_invoice_closes_it_without_a_payment(
    store: Engine, tmp_path: Path
) -> None:
    """A full credit closes the invoice; it is not counted as paid (no lateness from it)."""
    load(
        store,
        tmp_path,
        customers=[customer("C-1")],
        invoices=[
            invoice("I-1", "120.00", "2026-10-20"),
            invoice("I-2", "80.00", "2026-11-10"),
            invoice("CN-1", "-120.00", "2026-10-25", corrects_invoice_id="I-1"),
        ],
    )
    sheet = fact_sheet_for(store, "C-1", NOW)
    assert sheet["balance.open_amount"] == Decimal("80.00")
    assert sheet["balance.open_invoices"] == 1
    assert sheet["balance.oldest_due_date"] == dt.date(2026, 11, 10)
    assert sheet["behaviour.avg_days_late"] is None


def test_a_credit_note_and_a_payment_together_settle_an_invoice(
    store: Engine, tmp_path: Path
) -> None:
    """200.00 invoiced, 50.00 credited, 150.00 paid three days late: settled, 3 days late."""
    load(
        store,
        tmp_path,
        customers=[customer("C-1")],
        invoices=[
            invoice("I-1", "200.00", "2026-10-20"),
            invoice("CN-1", "-50.00", "2026-10-21", corrects_invoice_id="I-1"),
        ],
        payments=[payment("P-1", "150.00", "2026-10-23T12:00:00+02:00", "I-1")],
    )
    sheet = fact_sheet_for(store, "C-1", NOW)
    assert sheet["balance.open_amount"] == 0
    assert sheet["balance.open_invoices"] == 0
    assert sheet["behaviour.avg_days_late"] == 3


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        pytest.param(
            {"amount": "-20.00"},
            "amount must be positive, got -20.00 (a credit note is negative and names",
            id="negative-without-target",
        ),
        pytest.param(
            {"amount": "20.00", "corrects_invoice_id": "I-1"},
            "corrects_invoice_id is set but amount 20.00 is not negative",
            id="positive-credit-note",
        ),
        pytest.param(
            {"amount": "-20.00", "corrects_invoice_id": "I-404"},
            "corrects_invoice_id: unknown invoice 'I-404'",
            id="unknown-invoice",
        ),
        pytest.param(
            {"amount": "-20.00", "corrects_invoice_id": "I-1", "currency": "USD"},
            "USD against invoice 'I-1' in EUR",
            id="other-currency",
        ),
    ],
)
def test_a_credit_note_that_cannot_be_netted_is_refused(
    store: Engine, tmp_path: Path, row: dict[str, Any], problem: str
) -> None:
    """A credit note must be negative, name a known invoice and share its currency."""
    load(
        store,
        tmp_path,
        customers=[customer("C-1")],
        invoices=[invoice("I-1", "100.00", "2026-10-20")],
    )
    with pytest.raises(ImportRejected) as caught:
        load(store, tmp_path, invoices=[{**invoice("CN-1", "0", "2026-10-25"), **row}])
    assert problem in str(caught.value)


# --- reminders really received ---------------------------------------------------------


def test_reminders_sent_counts_only_messages_after_the_due_date(
    store: Engine, tmp_path: Path
) -> None:
    """A nudge before the due date and one reminder after: one reminder received."""
    load(
        store,
        tmp_path,
        customers=[customer("C-1")],
        invoices=[invoice("I-1", "100.00", "2026-11-10")],
        messages=[message("M-1", "2026-11-08T09:00:00Z"), message("M-2", "2026-11-13T09:00:00Z")],
    )
    sheet = fact_sheet_for(store, "C-1", NOW)
    assert sheet["journey.messages_sent"] == 2
    assert sheet["journey.reminders_sent"] == 1
