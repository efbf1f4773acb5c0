"""A stored debtor's message gets its open invoices and postal address from the store."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine

from engine.store.message_data import message_data
from tests.store.builders import NOW, customer, load


def test_open_invoices_net_of_partial_payments_and_the_primary_address(
    store: Engine, tmp_path: Path
) -> None:
    """Paid invoices are left out, a partly paid one shows what is still open, and the letter
    window gets the contact's name, street and postcode with city."""
    due = (NOW - dt.timedelta(days=20)).date()
    invoices = [
        {
            "id": f"I-{k}",
            "customer_id": "C-1",
            "number": f"2026-{k}",
            "amount": "100.00",
            "currency": "EUR",
            "issue_date": (due - dt.timedelta(days=30)).isoformat(),
            "due_date": (due + dt.timedelta(days=k)).isoformat(),
        }
        for k in range(3)
    ]
    payments = [
        {
            "id": "P-0",
            "customer_id": "C-1",
            "invoice_id": "I-0",
            "amount": "100.00",
            "currency": "EUR",
            "paid_at": (NOW - dt.timedelta(days=5)).isoformat(),
        },
        {
            "id": "P-1",
            "customer_id": "C-1",
            "invoice_id": "I-1",
            "amount": "40.00",
            "currency": "EUR",
            "paid_at": (NOW - dt.timedelta(days=5)).isoformat(),
        },
    ]
    contacts = [
        {
            "id": "K-1",
            "customer_id": "C-1",
            "is_primary": True,
            "name": "Sanne de Vries",
            "street": "Keizersgracht 1",
            "postal_code": "1015 AA",
            "city": "Amsterdam",
        },
    ]
    load(
        store,
        tmp_path,
        customers=[customer("C-1")],
        contacts=contacts,
        invoices=invoices,
        payments=payments,
    )
    data = message_data(store, "C-1", NOW)
    assert [(i["id"], i["amount"]) for i in data.invoices] == [
        ("2026-1", Decimal("60.00")),
        ("2026-2", Decimal("100.00")),
    ]
    assert data.address == ("Sanne de Vries", "Keizersgracht 1", "1015 AA Amsterdam")
