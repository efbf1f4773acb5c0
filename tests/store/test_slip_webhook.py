"""Barzahlen webhooks: a paid slip is booked and settles the debtor; an expired one recorded."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select

from engine.banking.slips import WebhookRejected, WebhookRequest, record_slip_webhook
from engine.messages.payments.barzahlen import bz_signature
from engine.messages.payments.options import payment_reference
from engine.store import tables as t
from tests.daemon.harness import rules
from tests.store.builders import NOW, customer, load

KEY = "de74310368a4718a48e0e244fbf3e22e2ae117f2"
P = t.Payment.__table__  # type: ignore[attr-defined]
S = t.ScheduledStep.__table__  # type: ignore[attr-defined]
EV = t.Event.__table__  # type: ignore[attr-defined]


def webhook(event: str, *, amount: str = "75.00", key: str = KEY) -> WebhookRequest:
    body = json.dumps(
        {
            "event": event,
            "event_occurred_at": "2026-11-23T16:41:07Z",
            "affected_transaction_id": "4729294329",
            "slip": {
                "id": "slp-0001",
                "slip_type": "payment",
                "division_id": "12345",
                "reference_key": payment_reference("C-7", ["I-7001"]),
                "expires_at": "2026-12-24T09:00:00Z",
                "customer": {"key": "C-7", "language": "de-DE"},
                "metadata": {
                    "reference": payment_reference("C-7", ["I-7001"]),
                    "customer_id": "C-7",
                },
                "transactions": [
                    {"id": "4729294329", "currency": "EUR", "amount": amount, "state": event}
                ],
            },
        }
    ).encode()
    date = "Mon, 23 Nov 2026 16:41:08 GMT"
    fields: dict[str, Any] = {"host": "payjourney.example.de", "path": "/v1/webhooks/barzahlen"}
    signature = bz_signature(
        key,
        host=f"{fields['host']}:443",
        method="POST",
        path=fields["path"],
        query="",
        date=date,
        idempotency_key="",
        body=body,
    )
    return WebhookRequest(
        signature_header=f"BZ1-HMAC-SHA256 {signature}", date=date, body=body, **fields
    )


def debtor(store: Engine, tmp_path: Path) -> None:
    invoice = {
        "id": "I-7001",
        "customer_id": "C-7",
        "amount": "75.00",
        "issue_date": "2026-10-01",
        "due_date": "2026-10-31",
    }
    load(store, tmp_path, customers=[customer("C-7", country="DE")], invoices=[invoice])
    with store.begin() as conn:
        conn.execute(
            insert(S).values(
                customer_id="C-7",
                journey="p",
                step=1,
                steps=2,
                ruleset_version="v",
                action="send",
                send_at=NOW + dt.timedelta(days=2),
            )
        )


def test_a_paid_slip_is_a_payment_that_cancels_the_reminder(store: Engine, tmp_path: Path) -> None:
    """The verified paid webhook books 75 EUR on I-7001 by our RF reference, method barzahlen,
    and the scheduled reminder is cancelled; the same webhook again changes nothing."""
    debtor(store, tmp_path)
    outcome = record_slip_webhook(store, KEY, webhook("paid"), rules=rules(), now=NOW)
    assert outcome.booked is not None and dict(outcome.booked.matched) == {"rf_reference": 1}
    assert outcome.booked.steps_cancelled == 1
    record_slip_webhook(store, KEY, webhook("paid"), rules=rules(), now=NOW)
    with store.connect() as conn:
        rows = conn.execute(select(P.c.invoice_id, P.c.amount, P.c.method)).all()
        assert rows == [("I-7001", Decimal("75.00"), "barzahlen")]
        assert conn.execute(select(S.c.status)).scalar() == "cancelled"
        assert conn.execute(select(EV.c.kind)).scalars().all() == ["paid"]


def test_an_expired_slip_is_recorded_as_an_event(store: Engine, tmp_path: Path) -> None:
    """expired: no payment, an `expired` event for the debtor, the reminder stays."""
    debtor(store, tmp_path)
    outcome = record_slip_webhook(store, KEY, webhook("expired"), rules=rules(), now=NOW)
    assert outcome.event == "expired" and outcome.booked is None
    with store.connect() as conn:
        assert conn.execute(select(EV.c.kind, EV.c.customer_id)).all() == [("expired", "C-7")]
        assert conn.execute(select(S.c.status)).scalar() == "scheduled"


def test_a_webhook_signed_with_another_key_is_rejected(store: Engine, tmp_path: Path) -> None:
    """A forged paid webhook books nothing and the error says what to check."""
    debtor(store, tmp_path)
    with pytest.raises(WebhookRejected, match="PAYJOURNEY_BARZAHLEN_PAYMENT_KEY"):
        record_slip_webhook(store, KEY, webhook("paid", key="0" * 40), rules=rules(), now=NOW)
    with store.connect() as conn:
        assert conn.execute(select(P.c.id)).all() == []
