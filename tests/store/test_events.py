"""An event arriving for one debtor is stored once and that debtor's facts are recomputed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from engine.store import tables as t
from engine.store.errors import CustomerNotFound, StoreError
from engine.store.events import record_event
from engine.store.rows import EventRow
from tests.store.builders import NOW, customer, load


def event(**fields: object) -> EventRow:
    return EventRow.model_validate({"customer_id": "C-1", "occurred_at": NOW.isoformat(), **fields})


def test_a_promise_to_pay_event_sets_promised_until(store: Engine, tmp_path: Path) -> None:
    """`promised` with amount and date becomes a promise the facts show at once."""
    load(store, tmp_path, customers=[customer("C-1")])
    data = {"amount": "120.00", "until": "2026-12-01"}
    sheet = record_event(store, event(id="E-1", kind="promised", data=data), now=NOW)
    assert sheet["journey.promised_until"] == dt.date(2026, 12, 1)


def test_the_same_event_twice_is_stored_once(store: Engine, tmp_path: Path) -> None:
    """Events are idempotent by id: a retried webhook changes nothing."""
    load(store, tmp_path, customers=[customer("C-1")])
    for _ in range(2):
        record_event(store, event(id="E-1", kind="disputed", data={"reason": "te hoog"}), now=NOW)
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.Event.__table__)).scalar() == 1
        assert conn.execute(select(func.count()).select_from(t.Dispute.__table__)).scalar() == 1


def test_a_dispute_event_opens_a_dispute(store: Engine, tmp_path: Path) -> None:
    """After a `disputed` event the debtor has one open dispute."""
    load(store, tmp_path, customers=[customer("C-1")])
    sheet = record_event(store, event(id="E-9", kind="disputed"), now=NOW)
    assert sheet["behaviour.open_disputes"] == 1


def test_a_click_after_the_last_message_makes_the_debtor_reacted(
    store: Engine, tmp_path: Path
) -> None:
    """A click on yesterday's reminder sets journey.reacted."""
    sent = (NOW - dt.timedelta(days=1)).isoformat()
    message = {"id": "M-1", "customer_id": "C-1", "channel": "email", "sent_at": sent}
    load(store, tmp_path, customers=[customer("C-1")], messages=[message])
    sheet = record_event(store, event(id="E-2", kind="clicked", message_id="M-1"), now=NOW)
    assert sheet["journey.reacted"] is True


def test_an_event_for_an_unknown_customer_is_refused(store: Engine) -> None:
    """Nothing is stored for a customer the store does not know."""
    with pytest.raises(CustomerNotFound):
        record_event(store, event(id="E-1", kind="opened"), now=NOW)


def test_a_paid_event_with_an_amount_becomes_a_payment_that_lowers_the_balance(
    store: Engine, tmp_path: Path
) -> None:
    """`paid` with data.amount against an invoice leaves only the rest open."""
    invoice = {
        "id": "I-1",
        "customer_id": "C-1",
        "amount": "100.00",
        "issue_date": "2026-10-01",
        "due_date": "2026-10-31",
    }
    load(store, tmp_path, customers=[customer("C-1")], invoices=[invoice])
    paid = event(id="E-3", kind="paid", invoice_id="I-1", data={"amount": "40.00"})
    for _ in range(2):  # idempotent: the same payment twice is one payment
        sheet = record_event(store, paid, now=NOW)
    assert str(sheet["balance.open_amount"]) == "60.00"


def test_a_paid_event_for_an_unknown_invoice_says_which(store: Engine, tmp_path: Path) -> None:
    """The invoice id is named; nothing is stored."""
    load(store, tmp_path, customers=[customer("C-1")])
    paid = event(id="E-4", kind="paid", invoice_id="I-404", data={"amount": "40.00"})
    with pytest.raises(StoreError, match="unknown invoice 'I-404'"):
        record_event(store, paid, now=NOW)
