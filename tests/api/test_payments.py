"""Payments in over HTTP: the unmatched list, a person's assignment (credits and returns), the
Barzahlen and DSN webhooks; and a payment from a statement behaves as one sent to /v1/events."""

from __future__ import annotations

import datetime as dt
import functools
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from channels.dsn import dsn_secret, sign_forwarded
from engine.api import create_app
from engine.banking.book import book_entries
from engine.banking.entry import StatementEntry
from engine.decision.decide import decide
from engine.messages.payments.barzahlen import bz_signature
from engine.messages.payments.options import payment_reference
from engine.rules.rulebook import RuleBook
from engine.store import tables as t
from engine.store.db import make_engine
from engine.store.facts_sql import fact_sheet_for
from engine.store.importer import import_rows
from engine.store.planner import plan
from tests.api.conftest import bearer, config
from tests.channels.conftest import dsn_for
from tests.channels.test_dsn import original

S = t.ScheduledStep.__table__  # type: ignore[attr-defined]
J = t.Journey.__table__  # type: ignore[attr-defined]
P = t.Payment.__table__  # type: ignore[attr-defined]
BZ_KEY = "de74310368a4718a48e0e244fbf3e22e2ae117f2"
HOOK = "https://payjourney.example.de/v1/webhooks/barzahlen"
DSN_SECRET = "whsec_" + "c2VjcmV0LWZvci1kc24tZm9yd2FyZGluZy0zMmJ5dGVz"


def credit(ref: str, amount: str, **fields: Any) -> StatementEntry:
    values: dict[str, Any] = {
        "statement_id": "STMT-1",
        "reference": ref,
        "position": 1,
        "account_iban": "NL91ABNA0417164300",
        "booked_on": dt.datetime.now(dt.UTC).date(),
        "amount": Decimal(amount),
        "currency": "EUR",
        "direction": "credit",
        **fields,
    }
    return StatementEntry(**values)


@pytest.fixture
def world(sqlite_url: str, rulebook: RuleBook) -> Iterator[tuple[TestClient, Engine, RuleBook]]:
    """The API on the NL/DE store with both debtors planned, and an engine on the same file."""
    settings = config(
        sqlite_url,
        barzahlen_payment_key=BZ_KEY,
        barzahlen_hook_url=HOOK,
        channel_env={"PAYJOURNEY_DSN_WEBHOOK_SECRET": DSN_SECRET},
    )
    engine = make_engine(sqlite_url)
    plan(engine, functools.partial(decide, rulebook.current), dt.datetime.now(dt.UTC))
    with TestClient(create_app(settings, rulebook=rulebook)) as client:
        yield client, engine, rulebook
    engine.dispose()


def book(engine: Engine, rulebook: RuleBook, *entries: StatementEntry) -> None:
    book_entries(engine, [("stmt.xml", "camt053", e) for e in entries], rules=rulebook.current)


def unmatched(client: TestClient) -> list[dict[str, Any]]:
    answer = client.get("/v1/payments?unmatched=true", headers=bearer("preview"))
    assert answer.status_code == 200, answer.text
    entries: list[dict[str, Any]] = answer.json()["entries"]
    return entries


def states(engine: Engine, customer: str) -> tuple[str | None, list[str]]:
    with engine.connect() as conn:
        journey = conn.execute(select(J.c.state).where(J.c.customer_id == customer)).scalar()
        steps = conn.execute(select(S.c.status).where(S.c.customer_id == customer)).scalars()
        return journey, sorted(steps)


def test_a_person_assigns_an_unmatched_credit_and_the_reminder_stops(
    world: tuple[TestClient, Engine, RuleBook],
) -> None:
    """The gift from J. de Vries waits on the list with the account holder's name; assigned to
    C-NL it pays INV-NL-1, the journey is done and the scheduled reminder cancelled; the entry
    is off the list, and assigning it again is a 409."""
    client, engine, rulebook = world
    book(
        engine,
        rulebook,
        credit("N1", "120.00", payer_name="J. de Vries", payer_iban="NL20INGB0001234567",
               remittance="bedankt"),
    )  # fmt: skip
    assert client.get("/v1/payments?unmatched=true").status_code == 401
    assert client.get("/v1/payments?unmatched=true", headers=bearer("events")).status_code == 403
    [line] = unmatched(client)
    assert (line["payer_name"], line["payer_iban"], line["amount"]) == (
        "J. de Vries",
        "NL20INGB0001234567",
        "120.00",
    )
    assert line["reason"] == "no reference, no invoice number, unknown payer"
    assert states(engine, "C-NL") == ("active", ["scheduled"])
    path = f"/v1/payments/{line['id']}/assign"
    assert client.post(path, json={"customer_id": "C-NL"}, headers=bearer("preview")).status_code == 403  # fmt: skip
    answer = client.post(path, json={"customer_id": "C-NL", "by": "anna"}, headers=bearer("events"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["allocations"] == [{"invoice_id": "INV-NL-1", "amount": "120.00"}]
    assert (body["rule"], body["reason"], body["journey"]) == ("manual", "assigned by anna", "done")
    assert states(engine, "C-NL") == ("done", ["cancelled"])
    assert unmatched(client) == []
    again = client.post(path, json={"customer_id": "C-NL"}, headers=bearer("events"))
    assert (again.status_code, again.json()["error"]["code"]) == (409, "entry_not_open")


def test_a_wrong_assignment_is_refused_and_changes_nothing(
    world: tuple[TestClient, Engine, RuleBook],
) -> None:
    """An unknown entry is 404; an unknown customer or another customer's invoice is 422 saying
    what to fix; the entry stays on the list."""
    client, engine, rulebook = world
    book(engine, rulebook, credit("N1", "50.00", remittance="?"))
    [line] = unmatched(client)
    events = bearer("events")
    missing = client.post("/v1/payments/999/assign", json={"customer_id": "C-NL"}, headers=events)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "entry_not_found")
    path = f"/v1/payments/{line['id']}/assign"
    nobody = client.post(path, json={"customer_id": "C-404"}, headers=events)
    assert nobody.status_code == 422 and "no customer 'C-404'" in nobody.json()["error"]["message"]
    foreign = client.post(
        path, json={"customer_id": "C-NL", "invoice_ids": ["INV-DE-1"]}, headers=events
    )
    assert foreign.status_code == 422
    assert "INV-DE-1 is no open invoice of C-NL" in foreign.json()["error"]["message"]
    bad = client.post(path, json={"customer_id": "C-NL", "amount": 3}, headers=events)
    assert bad.status_code == 422
    assert [e["id"] for e in unmatched(client)] == [line["id"]]
    with engine.connect() as conn:
        assert conn.execute(select(P.c.id)).all() == []


def test_an_unlinked_return_assigned_by_hand_reopens_the_invoice(
    world: tuple[TestClient, Engine, RuleBook],
) -> None:
    """C-DE's 80 EUR arrived with our RF reference (journey done); the bank's return comes with
    another end-to-end id and account, so it waits on the list; assigned to C-DE it undoes that
    credit: the invoice is open again and the journey active."""
    client, engine, rulebook = world
    rf = payment_reference("C-DE", ["INV-DE-1"])
    book(engine, rulebook, credit("N1", "80.00", creditor_reference=rf))
    assert states(engine, "C-DE")[0] == "done"
    returned = credit(
        "N2", "80.00", direction="return", return_reason="MD06", payer_name="Max Müller",
        payer_iban="DE89370400440532013000", end_to_end_id="BANK-E2E-1",
    )  # fmt: skip
    book(engine, rulebook, returned)
    [line] = unmatched(client)
    assert (line["direction"], line["return_reason"]) == ("return", "MD06")
    answer = client.post(
        f"/v1/payments/{line['id']}/assign", json={"customer_id": "C-DE"}, headers=bearer("events")
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["direction"] == "return" and body["reverses"] is not None
    assert len(body["payments_undone"]) == 1 and body["journey"] == "active"
    facts = fact_sheet_for(engine, "C-DE", dt.datetime.now(dt.UTC))
    assert facts["balance.open_amount"] == Decimal("80.00")
    listed = client.get("/v1/payments", headers=bearer("preview")).json()["entries"]
    assert [e["status"] for e in listed] == ["reversed", "return"]


@pytest.mark.parametrize("amount", ["300.00", "120.00"], ids=["paid-in-full", "partial"])
def test_a_payment_from_the_statement_does_what_the_same_payment_sent_as_an_event_does(
    world: tuple[TestClient, Engine, RuleBook], amount: str
) -> None:
    """Two identical debtors: C-A's payment comes to POST /v1/events, C-B's the same amount on
    the bank statement with our RF reference. Afterwards their journeys, steps (status, step,
    channel, template, amount asked) and open balances are the same: one life cycle."""
    client, engine, rulebook = world
    now = dt.datetime.now(dt.UTC)
    twins = {
        "customers": [
            {"id": c, "kind": "consumer", "country": "NL", "name": "Jan Jansen"} for c in "AB"
        ],
        "contacts": [
            {"id": f"K-{c}", "customer_id": c, "email": f"{c.lower()}@example.nl",
             "street": "Dorpsstraat 1", "postal_code": "3511 AB", "city": "Utrecht"}
            for c in "AB"
        ],
        "invoices": [
            {"id": f"I-{c}", "customer_id": c, "amount": "300.00", "currency": "EUR",
             "issue_date": "2026-09-01", "due_date": "2026-10-01"}
            for c in "AB"
        ],
    }  # fmt: skip
    import_rows(engine, twins, now=now)
    plan(engine, functools.partial(decide, rulebook.current), now, customer_ids=["A", "B"])
    assert states(engine, "A") == states(engine, "B") == ("active", ["scheduled"])
    event = {
        "id": "erp-pay-A",
        "customer_id": "A",
        "kind": "paid",
        "invoice_id": "I-A",
        "occurred_at": (now - dt.timedelta(minutes=1)).isoformat(),
        "data": {"amount": amount, "currency": "EUR"},
    }
    assert client.post("/v1/events", json=event, headers=bearer("events")).status_code == 201
    book(engine, rulebook, credit("N1", amount, creditor_reference=payment_reference("B", ["I-B"])))

    def outcome(customer: str) -> tuple[Any, ...]:
        with engine.connect() as conn:
            steps = conn.execute(
                select(S.c.status, S.c.step, S.c.channel, S.c.template, S.c.amount_due)
                .where(S.c.customer_id == customer)
                .order_by(S.c.id)
            ).all()
        facts = fact_sheet_for(engine, customer, dt.datetime.now(dt.UTC))
        return states(engine, customer)[0], steps, facts["balance.open_amount"]

    assert outcome("A") == outcome("B")
    expected = "done" if amount == "300.00" else "active"
    assert outcome("B")[0] == expected


def barzahlen_hook(event: str, *, key: str = BZ_KEY, body: bytes | None = None) -> dict[str, Any]:
    """A Barzahlen v2 webhook for C-DE's invoice, signed over our public hook URL."""
    reference = payment_reference("C-DE", ["INV-DE-1"])
    body = (
        body
        or json.dumps(
            {
                "event": event,
                "event_occurred_at": "2026-11-23T16:41:07Z",
                "affected_transaction_id": "4729294329",
                "slip": {
                    "id": "slp-0001",
                    "reference_key": reference,
                    "customer": {"key": "C-DE"},
                    "metadata": {"reference": reference, "customer_id": "C-DE"},
                    "transactions": [
                        {"id": "4729294329", "currency": "EUR", "amount": "80.00", "state": event}
                    ],
                },
            }
        ).encode()
    )
    date = "Mon, 23 Nov 2026 16:41:08 GMT"
    signature = bz_signature(
        key, host="payjourney.example.de:443", method="POST", path="/v1/webhooks/barzahlen",
        query="", date=date, idempotency_key="", body=body,
    )  # fmt: skip
    return {
        "content": body,
        "headers": {"Bz-Signature": f"BZ1-HMAC-SHA256 {signature}", "Date": date},
    }


def test_a_paid_barzahlen_slip_is_booked_once_and_a_forged_one_not_at_all(
    world: tuple[TestClient, Engine, RuleBook],
) -> None:
    """The signed `paid` webhook books 80 EUR on INV-DE-1 and ends C-DE's journey; the same
    webhook again records nothing; one signed with another key is 401; a signed body that is no
    slip event is 422."""
    client, engine, _ = world
    forged = client.post("/v1/webhooks/barzahlen", **barzahlen_hook("paid", key="0" * 40))
    assert (forged.status_code, forged.json()["error"]["code"]) == (401, "forged_webhook")
    assert "PAYJOURNEY_BARZAHLEN_PAYMENT_KEY" in forged.json()["error"]["message"]
    first = client.post("/v1/webhooks/barzahlen", **barzahlen_hook("paid"))
    assert first.status_code == 200, first.text
    assert first.json() == {"provider": "barzahlen", "events": 1, "recorded": 1}
    again = client.post("/v1/webhooks/barzahlen", **barzahlen_hook("paid"))
    assert again.json()["recorded"] == 0
    with engine.connect() as conn:
        assert conn.execute(select(P.c.invoice_id, P.c.amount, P.c.method)).all() == [
            ("INV-DE-1", Decimal("80.00"), "barzahlen")
        ]
    assert states(engine, "C-DE") == ("done", ["cancelled"])
    junk = client.post("/v1/webhooks/barzahlen", **barzahlen_hook("paid", body=b'{"event": 1}'))
    assert (junk.status_code, junk.json()["error"]["code"]) == (422, "unusable_webhook")


def forwarded(raw: bytes, *, secret: str = DSN_SECRET, at: float | None = None) -> dict[str, Any]:
    stamp = int(at if at is not None else time.time())
    signature = sign_forwarded(dsn_secret(secret), "msg_2", stamp, raw)
    return {
        "content": raw,
        "headers": {
            "webhook-id": "msg_2",
            "webhook-timestamp": str(stamp),
            "webhook-signature": signature,
        },
    }


def test_a_forwarded_dsn_needs_a_fresh_valid_signature(
    world: tuple[TestClient, Engine, RuleBook],
) -> None:
    """Unsigned, signed with another secret, or ten minutes old: 401. Correctly signed but about
    a message we never sent, or an auto-reply that is no bounce: 200 with no event (logged,
    never guessed onto a debtor)."""
    client, _, _ = world
    raw = dsn_for(original())
    assert client.post("/v1/webhooks/dsn", content=raw).status_code == 401
    other = "whsec_" + "b3RoZXItc2VjcmV0LW9mLXRoaXJ0eS10d28tYnl0ZXM="
    assert client.post("/v1/webhooks/dsn", **forwarded(raw, secret=other)).status_code == 401
    stale = client.post("/v1/webhooks/dsn", **forwarded(raw, at=time.time() - 600))
    assert stale.status_code == 401 and "5 minutes" in stale.json()["error"]["message"]
    fresh = client.post("/v1/webhooks/dsn", **forwarded(raw))
    assert fresh.status_code == 200, fresh.text
    assert fresh.json() == {"provider": "dsn", "events": 0, "recorded": 0}
    auto_reply = b"Subject: Out of office\r\nAuto-Submitted: auto-replied\r\n\r\nBack on Monday"
    ignored = client.post("/v1/webhooks/dsn", **forwarded(auto_reply))
    assert ignored.json() == {"provider": "dsn", "events": 0, "recorded": 0}


def test_the_forwarding_signature_is_the_standard_webhooks_one() -> None:
    """What `sign_forwarded` makes, the Standard Webhooks reference library verifies."""
    import standardwebhooks

    raw = dsn_for(original())
    stamp = int(time.time())
    signature = sign_forwarded(dsn_secret(DSN_SECRET), "msg_3", stamp, raw)
    headers = {"webhook-id": "msg_3", "webhook-timestamp": str(stamp), "webhook-signature": signature}  # fmt: skip
    standardwebhooks.Webhook(DSN_SECRET).verify(raw, headers, json_parse=False)
