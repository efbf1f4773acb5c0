"""Barzahlen slips: BZ1-HMAC-SHA256 signatures, slips created against a local API server."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from engine.messages.payments.barzahlen import bz_signature, parse_webhook, verify_webhook
from engine.messages.payments.barzahlen_api import BarzahlenProvider
from engine.messages.payments.base import PaymentProvider, PaymentRequest, ProviderError
from engine.messages.payments.chain import ProviderChain
from engine.messages.payments.offline import NotConfiguredProvider

#: The webhook example the official Ruby SDK publishes (viafintech/Barzahlen-Ruby, README
#: "Webhook Handling" and spec/barzahlen_spec.rb): its payment key, request and signature.
SDK_KEY = "6b3fb3abef828c7d10b5a905a49c988105621395"
SDK_SIGNATURE = "BZ1-HMAC-SHA256 eb22cda264a5cf5a138e8ac13f0aa8da2daf28c687d9db46872cf777f0decc04"
SDK_BODY = (
    Path(__file__).parents[1] / "banking" / "fixtures" / "barzahlen_sdk_paid_webhook.json"
).read_bytes()
SDK_REQUEST: dict[str, Any] = {
    "host": "callback.example.com",
    "port": 443,
    "path": "/barzahlen/callback",
    "date": "Fri, 01 Apr 2016 09:20:06 GMT",
    "method": "POST",
}
KEY = "de74310368a4718a48e0e244fbf3e22e2ae117f2"


def test_the_sdk_published_webhook_signature_verifies() -> None:
    """Our BZ1-HMAC-SHA256 reproduces the signature of the Ruby SDK's published example."""
    assert verify_webhook(SDK_KEY, signature_header=SDK_SIGNATURE, body=SDK_BODY, **SDK_REQUEST)


@pytest.mark.parametrize(
    "change",
    [{"host": "Unknown"}, {"path": "/other"}, {"port": 8443}, {"body": SDK_BODY + b" "}],
)
def test_a_webhook_signed_over_anything_else_is_refused(change: dict[str, Any]) -> None:
    """Another host, path, port or body: the SDK's signature no longer matches."""
    fields = {**SDK_REQUEST, "body": SDK_BODY, **change}
    assert not verify_webhook(SDK_KEY, signature_header=SDK_SIGNATURE, **fields)
    assert not verify_webhook(KEY, signature_header=SDK_SIGNATURE, body=SDK_BODY, **SDK_REQUEST)


def test_the_webhook_body_becomes_a_slip_event() -> None:
    """paid, the slip, the transaction's amount and when it happened."""
    event = parse_webhook(SDK_BODY)
    assert (event.event, event.slip_id, event.amount) == (
        "paid",
        "slp-d90ab05c-69f2-4e87-9972-97b3275a0ccd",
        Decimal("123.34"),
    )
    assert event.occurred_at == dt.datetime(2016, 1, 6, 12, 34, 56, tzinfo=dt.UTC)
    assert event.reference == "O64737X"  # no metadata.reference: the slip's reference_key


class FakeBarzahlen(BaseHTTPRequestHandler):
    """Plays POST /v2/slips: checks the BZ1 signature as the API does, answers a slip."""

    requests: ClassVar[list[dict[str, Any]]] = []
    answers: ClassVar[list[tuple[int, dict[str, Any]]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        auth = self.headers.get("Authorization", "")
        found = re.fullmatch(r"BZ1-HMAC-SHA256 DivisionId=(\w+), Signature=([0-9a-f]{64})", auth)
        host, port = self.headers["Host"].split(":")
        expected = bz_signature(
            KEY,
            host=f"{host}:{port}",
            method="POST",
            path=self.path,
            query="",
            date=self.headers["Date"],
            idempotency_key=self.headers.get("Idempotency-Key", ""),
            body=body,
        )
        record = {"path": self.path, "headers": dict(self.headers), "body": json.loads(body)}
        type(self).requests.append(record)
        if found is None or found.group(2) != expected:
            status, answer = (
                401,
                {
                    "error_class": "auth",
                    "error_code": "invalid_signature",
                    "message": "signature mismatch",
                    "request_id": "r1",
                },
            )
        elif type(self).answers:
            status, answer = type(self).answers.pop(0)
        else:
            sent = record["body"]
            status, answer = (
                201,
                {
                    "id": "slp-"
                    + hashlib.sha256(self.headers["Idempotency-Key"].encode()).hexdigest()[:8],
                    "slip_type": "payment",
                    "division_id": found.group(1),
                    "checkout_token": "djF8Y2hrdHxzbHAtMTM",
                    "expires_at": sent["expires_at"],
                    "customer": sent["customer"],
                    "metadata": sent["metadata"],
                    "transactions": [{**sent["transactions"][0], "id": "4729", "state": "pending"}],
                },
            )
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def barzahlen() -> Iterator[tuple[BarzahlenProvider, type[FakeBarzahlen]]]:
    FakeBarzahlen.requests = []
    FakeBarzahlen.answers = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeBarzahlen)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    provider = BarzahlenProvider(
        "12345",
        KEY,
        slip_url="https://pay.example.de/barzahlen/{checkout_token}",
        base_url=f"http://{host!s}:{port}/v2",
        hook_url="https://payjourney.example.de/v1/webhooks/barzahlen",
        timeout=5,
    )
    try:
        yield provider, FakeBarzahlen
    finally:
        provider.close()
        server.shutdown()
        server.server_close()
        thread.join()


def slip_request(amount: str = "123.45") -> PaymentRequest:
    return PaymentRequest(
        method="barzahlen",
        amount=Decimal(amount),
        currency="EUR",
        reference="RF67C7",
        description="Beispiel GmbH",
        expires_at=dt.datetime(2026, 12, 24, 9, tzinfo=dt.UTC),
        customer_id="C-7",
        locale="de_DE",
    )


def test_a_signed_slip_is_created_with_amount_reference_and_expiry(
    barzahlen: tuple[BarzahlenProvider, type[FakeBarzahlen]],
) -> None:
    """The API accepts our signature; the slip carries amount, expiry, our reference, the
    hook URL, and the message gets the slip page link."""
    provider, server = barzahlen
    link = provider.create_link(slip_request())
    assert link.created and link.url == "https://pay.example.de/barzahlen/djF8Y2hrdHxzbHAtMTM"
    assert link.expires_at == dt.datetime(2026, 12, 24, 9, tzinfo=dt.UTC)
    sent = server.requests[0]
    assert sent["path"] == "/v2/slips"
    assert sent["body"]["transactions"] == [{"currency": "EUR", "amount": "123.45"}]
    assert sent["body"]["expires_at"] == "2026-12-24T09:00:00Z"
    assert sent["body"]["metadata"] == {"reference": "RF67C7", "customer_id": "C-7"}
    assert sent["body"]["hook_url"].endswith("/v1/webhooks/barzahlen")
    assert re.fullmatch(r"[0-9a-f]{32}", sent["headers"]["Idempotency-Key"])


def test_the_same_message_twice_asks_for_the_same_slip(
    barzahlen: tuple[BarzahlenProvider, type[FakeBarzahlen]],
) -> None:
    """A retried send reuses the idempotency key, so Barzahlen returns the one slip."""
    provider, server = barzahlen
    first, again = provider.create_link(slip_request()), provider.create_link(slip_request())
    keys = {r["headers"]["Idempotency-Key"] for r in server.requests}
    assert len(keys) == 1 and first.id == again.id
    provider.create_link(slip_request("99.00"))
    assert len({r["headers"]["Idempotency-Key"] for r in server.requests}) == 2


def test_a_message_s_own_idempotency_key_is_the_slip_request_s_key(
    barzahlen: tuple[BarzahlenProvider, type[FakeBarzahlen]],
) -> None:
    """A request that carries the message's key sends that key (signed with the request)."""
    provider, server = barzahlen
    keyed = PaymentRequest(**{**_fields(slip_request()), "idempotency_key": "pj-9-email-barzahlen"})
    assert provider.create_link(keyed).created
    assert server.requests[0]["headers"]["Idempotency-Key"] == "pj-9-email-barzahlen"


def test_an_amount_above_the_slip_limit_is_refused_before_any_request(
    barzahlen: tuple[BarzahlenProvider, type[FakeBarzahlen]],
) -> None:
    """1000 EUR does not fit one slip: a provider error, and the API is not called."""
    provider, server = barzahlen
    with pytest.raises(ProviderError, match=r"above the 999\.99 limit"):
        provider.create_link(slip_request("1000.00"))
    assert server.requests == []


def test_an_api_error_says_its_class_code_and_request_id(
    barzahlen: tuple[BarzahlenProvider, type[FakeBarzahlen]],
) -> None:
    """A 400 with an API v2 error body becomes a ProviderError naming what it said."""
    provider, server = barzahlen
    server.answers.append(
        (
            400,
            {
                "error_class": "invalid_parameter",
                "error_code": "invalid_expires_at",
                "message": "expires_at too far in the future",
                "request_id": "abc",
            },
        )
    )
    with pytest.raises(ProviderError, match="invalid_parameter/invalid_expires_at: expires_at"):
        provider.create_link(slip_request())


def test_an_unreachable_api_becomes_a_provider_error() -> None:
    """Connection refused is translated at the boundary."""
    provider = BarzahlenProvider(
        "1", KEY, slip_url="{id}", base_url="http://127.0.0.1:9/v2", timeout=1
    )
    with pytest.raises(ProviderError, match="request failed"):
        provider.create_link(slip_request())
    provider.close()


def test_a_chain_sends_slips_to_barzahlen_and_the_rest_elsewhere(
    barzahlen: tuple[BarzahlenProvider, type[FakeBarzahlen]],
) -> None:
    """Mollie-like links and Barzahlen slips behind one provider seam."""
    provider, _ = barzahlen
    chain = ProviderChain([provider, NotConfiguredProvider()])
    assert isinstance(chain, PaymentProvider)
    assert chain.create_link(slip_request()).provider == "barzahlen"
    ideal = PaymentRequest(**{**_fields(slip_request()), "method": "ideal"})
    assert chain.create_link(ideal).provider == "none"


def _fields(request: PaymentRequest) -> dict[str, Any]:
    return {name: getattr(request, name) for name in request.__dataclass_fields__}


def test_the_slip_link_is_in_the_german_message(
    barzahlen: tuple[BarzahlenProvider, type[FakeBarzahlen]],
) -> None:
    """A German reminder offering Barzahlen carries the created slip's link in its text."""
    from engine.decision.model import Action, Decision, FactSheet, Money
    from engine.messages.render import render_preview

    provider, server = barzahlen
    facts = FactSheet.build(
        {
            "customer.id": "C-7",
            "customer.name": "Erika Musterfrau",
            "customer.kind": "consumer",
            "customer.country": "DE",
            "balance.open_amount": Decimal("75.00"),
            "balance.open_invoices": 1,
            "balance.oldest_due_date": dt.date(2026, 11, 1),
        }
    )
    decision = Decision(
        customer_id="C-7",
        action=Action.SEND,
        reason="test",
        template="zahlungserinnerung",
        channel="email",
        locale="de_DE",
        tone="Sie",
        send_at=dt.datetime(2026, 11, 24, 8, 30, tzinfo=dt.UTC),
        payment_options=("barzahlen", "bank_transfer"),
        amount_due=Money(amount=Decimal("75.00"), currency="EUR"),
    )
    answer = render_preview(
        decision,
        facts,
        templates_dir=Path(__file__).resolve().parents[2] / "templates",
        payments=ProviderChain([provider]),
    )
    (slip,) = [o for o in answer["payment_options"] if o["method"] == "barzahlen"]
    assert slip["created"] and slip["provider"] == "barzahlen"
    assert "https://pay.example.de/barzahlen/djF8Y2hrdHxzbHAtMTM" in answer["message"]["text"]
    assert server.requests[0]["body"]["transactions"][0]["amount"] == "75.00"
