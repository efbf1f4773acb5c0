"""POST /v1/webhooks/{provider}: Mollie's id-only webhook, checked against a local Mollie."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from engine.api import create_app
from engine.api.app import default_registry
from engine.rules.rulebook import RuleBook
from engine.store import tables as t
from engine.store.db import make_engine
from tests.api.conftest import config

PAYMENTS: dict[str, dict[str, Any]] = {
    "tr_paid": {
        "id": "tr_paid",
        "status": "paid",
        "amount": {"value": "120.00", "currency": "EUR"},
        "paidAt": "2026-11-24T09:12:00+00:00",
        "description": "Invoice INV-NL-1",
        "metadata": {"customer_id": "C-NL", "invoice_id": "INV-NL-1"},
    },
    "tr_open": {
        "id": "tr_open",
        "status": "open",
        "amount": {"value": "80.00", "currency": "EUR"},
        "description": "Invoice INV-DE-1",
        "metadata": {"customer_id": "C-DE"},
    },
}
SECRET = "whsec_test"


class _Mollie(BaseHTTPRequestHandler):
    """Answers GET /v2/payments/{id} as Mollie does, for the known test payments."""

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization")
        payment = PAYMENTS.get(self.path.removeprefix("/v2/payments/"))
        if auth != "Bearer test_key":
            self._send(401, {"status": 401, "title": "Unauthorized Request"})
        elif payment is None:
            self._send(404, {"status": 404, "title": "Not Found", "detail": "No payment exists"})
        else:
            self._send(200, {"resource": "payment", **payment})

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/hal+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def mollie_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Mollie)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v2"
    server.shutdown()
    server.server_close()


def hook_client(url: str, mollie_url: str, rulebook: RuleBook, secret: str | None) -> TestClient:
    settings = config(
        url, mollie_api_key="test_key", mollie_base_url=mollie_url, mollie_webhook_secret=secret
    )
    return TestClient(create_app(settings, rulebook=rulebook, webhooks=default_registry(settings)))


def events(url: str) -> list[tuple[str, str, str]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(t.Event.id, t.Event.customer_id, t.Event.kind)).all()
    finally:
        engine.dispose()
    return [tuple(r) for r in rows]


def post_id(client: TestClient, payment_id: str, headers: dict[str, str] | None = None) -> Any:
    return client.post(
        "/v1/webhooks/mollie",
        content=f"id={payment_id}",
        headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})},
    )


def test_a_paid_mollie_payment_becomes_one_paid_event(
    sqlite_url: str, mollie_url: str, rulebook: RuleBook
) -> None:
    """Mollie posts only the id; the status is fetched; the same webhook twice records once."""
    with hook_client(sqlite_url, mollie_url, rulebook, None) as client:
        first = post_id(client, "tr_paid")
        again = post_id(client, "tr_paid")
    assert first.status_code == 200, first.text
    assert (first.json()["recorded"], again.json()["recorded"]) == (1, 0)
    assert events(sqlite_url) == [("mollie-tr_paid", "C-NL", "paid")]


def test_a_payment_not_yet_paid_records_nothing(
    sqlite_url: str, mollie_url: str, rulebook: RuleBook
) -> None:
    with hook_client(sqlite_url, mollie_url, rulebook, None) as client:
        answer = post_id(client, "tr_open")
    assert answer.status_code == 200 and answer.json()["events"] == 0
    assert events(sqlite_url) == []


def test_a_forged_payment_id_is_refused_and_records_nothing(
    sqlite_url: str, mollie_url: str, rulebook: RuleBook
) -> None:
    """An id Mollie does not know (someone posting to our URL): 401, nothing recorded."""
    with hook_client(sqlite_url, mollie_url, rulebook, None) as client:
        answer = post_id(client, "tr_forged")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "forged_webhook"
    assert events(sqlite_url) == []


def test_with_a_signing_secret_the_signature_must_hold(
    sqlite_url: str, mollie_url: str, rulebook: RuleBook
) -> None:
    """Next-gen webhooks: a valid X-Mollie-Signature passes, a forged one is 401."""
    body = b"id=tr_paid"
    good = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    with hook_client(sqlite_url, mollie_url, rulebook, SECRET) as client:
        forged = post_id(client, "tr_paid", {"X-Mollie-Signature": "sha256=" + "0" * 64})
        missing = post_id(client, "tr_paid")
        valid = post_id(client, "tr_paid", {"X-Mollie-Signature": good})
    assert (forged.status_code, missing.status_code, valid.status_code) == (401, 401, 200)
    assert valid.json()["recorded"] == 1


def test_an_unconfigured_provider_is_404_naming_the_configured_ones(client: TestClient) -> None:
    answer = client.post("/v1/webhooks/pigeon", content=b"x")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "unknown_provider"


def _sent_sms(url: str) -> None:
    """A reminder to C-NL by SMS, accepted by Twilio as SM123 (as the daemon records it)."""
    import datetime as dt

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                t.Message.__table__.insert(),  # type: ignore[attr-defined]
                [
                    {
                        "id": "pj-7-sms",
                        "customer_id": "C-NL",
                        "channel": "sms",
                        "status": "sent",
                        "provider_message_id": "SM123",
                        "sent_at": dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC),
                        "created_at": dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC),
                    }
                ],
            )
    finally:
        engine.dispose()


def _twilio_post(client: TestClient, status: str, *, token: str = "twilio-secret") -> Any:
    from twilio.request_validator import RequestValidator

    url = "http://testserver/v1/webhooks/twilio"
    params = {"MessageSid": "SM123", "MessageStatus": status, "AccountSid": "AC1"}
    if status == "undelivered":
        params["ErrorCode"] = "30005"
    signature = RequestValidator(token).compute_signature(url, params)
    return client.post(
        "/v1/webhooks/twilio",
        data=params,
        headers={"X-Twilio-Signature": signature},
    )


def test_a_signed_sms_delivery_receipt_becomes_an_event_on_the_message_once(
    sqlite_url: str, rulebook: RuleBook
) -> None:
    """Twilio says SM123 was delivered: one `delivered` event on message pj-7-sms of C-NL, and
    the same callback again records nothing new; an undelivered one is a bounce with its code."""
    _sent_sms(sqlite_url)
    env = {"PAYJOURNEY_TWILIO_AUTH_TOKEN": "twilio-secret"}
    app = create_app(config(sqlite_url, channel_env=env), rulebook=rulebook)
    with TestClient(app) as client:
        first = _twilio_post(client, "delivered")
        again = _twilio_post(client, "delivered")
        bounced = _twilio_post(client, "undelivered")
    assert first.status_code == 200 and first.json()["recorded"] == 1
    assert again.status_code == 200 and again.json()["recorded"] == 0
    assert bounced.json()["recorded"] == 1
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(t.Event.__table__).order_by("kind")  # type: ignore[attr-defined]
            ).all()
    finally:
        engine.dispose()
    assert [(r.kind, r.customer_id, r.message_id, r.channel) for r in rows] == [
        ("bounced", "C-NL", "pj-7-sms", "sms"),
        ("delivered", "C-NL", "pj-7-sms", "sms"),
    ]
    assert rows[0].data["code"] == "30005"


def test_a_forged_sms_receipt_is_refused_and_records_nothing(
    sqlite_url: str, rulebook: RuleBook
) -> None:
    """Signed with another token: 401, no event."""
    _sent_sms(sqlite_url)
    env = {"PAYJOURNEY_TWILIO_AUTH_TOKEN": "twilio-secret"}
    with TestClient(create_app(config(sqlite_url, channel_env=env), rulebook=rulebook)) as client:
        forged = _twilio_post(client, "delivered", token="not-the-secret")
    assert forged.status_code == 401
    assert forged.json()["error"]["code"] == "forged_webhook"


def _sent_to(url: str, channel: str, message_id: str) -> None:
    """A reminder to C-NL on `channel`, to +31611111111, in a running journey."""
    import datetime as dt

    at = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                t.Message.__table__.insert(),  # type: ignore[attr-defined]
                [
                    {
                        "id": message_id,
                        "customer_id": "C-NL",
                        "channel": channel,
                        "recipient": "+31611111111",
                        "status": "sent",
                        "provider_message_id": f"{channel}-out-1",
                        "sent_at": at,
                        "created_at": at,
                    }
                ],
            )
            conn.execute(
                t.Journey.__table__.insert().values(  # type: ignore[attr-defined]
                    customer_id="C-NL",
                    persona="consumer-nl",
                    ruleset_version="x",
                    state="active",
                    steps_sent=1,
                    started_at=at,
                    updated_at=at,
                )
            )
    finally:
        engine.dispose()


def _replies(url: str) -> tuple[list[Any], list[Any], Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            tasks = conn.execute(select(t.Task.__table__)).all()  # type: ignore[attr-defined]
            events = conn.execute(
                select(t.Event.__table__).where(  # type: ignore[attr-defined]
                    t.Event.__table__.c.kind == "replied"  # type: ignore[attr-defined]
                )
            ).all()
            journey = conn.execute(select(t.Journey.__table__)).one()  # type: ignore[attr-defined]
    finally:
        engine.dispose()
    return tasks, events, journey


def _twilio_inbound(client: TestClient, sender: str, *, token: str = "twilio-secret") -> Any:
    from twilio.request_validator import RequestValidator

    url = "http://testserver/v1/webhooks/twilio"
    params = {
        "MessageSid": "SMin1",
        "SmsSid": "SMin1",
        "SmsStatus": "received",
        "AccountSid": "AC1",
        "From": sender,
        "To": "+3197010000000",
        "Body": "Ik betaal vrijdag",
        "NumMedia": "0",
    }
    signature = RequestValidator(token).compute_signature(url, params)
    return client.post(
        "/v1/webhooks/twilio", data=params, headers={"X-Twilio-Signature": signature}
    )


def test_an_sms_answer_forwarded_by_twilio_becomes_a_reply_task_once(
    sqlite_url: str, rulebook: RuleBook
) -> None:
    """The debtor answers our SMS; Twilio forwards it to the number's incoming-message webhook:
    it is matched to our SMS by the sender's number, recorded as a `replied` event, a task holds
    the text and the journey pauses, as POST /v1/replies does. The same callback again adds
    nothing; a forged one is refused."""
    _sent_to(sqlite_url, "sms", "pj-8-sms")
    env = {"PAYJOURNEY_TWILIO_AUTH_TOKEN": "twilio-secret"}
    with TestClient(create_app(config(sqlite_url, channel_env=env), rulebook=rulebook)) as client:
        forged = _twilio_inbound(client, "+31611111111", token="not-the-secret")
        first = _twilio_inbound(client, "+31611111111")
        again = _twilio_inbound(client, "+31611111111")
    assert forged.status_code == 401
    assert first.status_code == 200 and first.json()["recorded"] == 1, first.text
    assert again.status_code == 200 and again.json()["recorded"] == 0
    tasks, events, journey = _replies(sqlite_url)
    [task] = tasks
    assert (task.kind, task.text, task.message_id, task.channel) == (
        "reply",
        "Ik betaal vrijdag",
        "pj-8-sms",
        "sms",
    )
    [event] = events
    assert (event.id, event.customer_id, event.message_id) == (
        "reply-twilio-SMin1",
        "C-NL",
        "pj-8-sms",
    )
    assert journey.state == "paused" and journey.paused_until is not None


def test_a_whatsapp_answer_becomes_a_reply_task_and_a_stranger_changes_nothing(
    sqlite_url: str, rulebook: RuleBook
) -> None:
    """The WhatsApp Business webhook carries the debtor's text message (sender without `+`):
    matched to our WhatsApp message, a task and a pause; a message from a number we never wrote
    to is answered 200 and records nothing."""
    import datetime as dt

    _sent_to(sqlite_url, "whatsapp", "pj-9-whatsapp")
    secret = "app-secret"

    def post(client: TestClient, sender: str, wamid: str) -> Any:
        message = {
            "from": sender,
            "id": wamid,
            "timestamp": str(int(dt.datetime.now(dt.UTC).timestamp())),
            "type": "text",
            "text": {"body": "Kan ik in twee keer betalen?"},
        }
        value = {"messaging_product": "whatsapp", "messages": [message]}
        body = json.dumps(
            {"object": "whatsapp_business_account", "entry": [{"changes": [{"value": value}]}]}
        ).encode()
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return client.post(
            "/v1/webhooks/whatsapp",
            content=body,
            headers={"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"},
        )

    env = {"PAYJOURNEY_WHATSAPP_APP_SECRET": secret}
    with TestClient(create_app(config(sqlite_url, channel_env=env), rulebook=rulebook)) as client:
        stranger = post(client, "31600000000", "wamid.stranger")
        answer = post(client, "31611111111", "wamid.answer")
    assert stranger.status_code == 200 and stranger.json()["recorded"] == 0
    assert answer.status_code == 200 and answer.json()["recorded"] == 1, answer.text
    tasks, events, journey = _replies(sqlite_url)
    [task] = tasks
    assert (task.text, task.message_id, task.channel) == (
        "Kan ik in twee keer betalen?",
        "pj-9-whatsapp",
        "whatsapp",
    )
    assert [e.id for e in events] == ["reply-whatsapp-wamid.answer"]
    assert journey.state == "paused"
