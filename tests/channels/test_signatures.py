"""Webhook signatures by each provider's documented scheme; forged and replayed callbacks refused."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import urllib.parse

import jwt
import pytest
from twilio.request_validator import RequestValidator

from channels.letter import parse_pingen_webhook
from channels.receipts import CallbackRejected, CallbackReplayed, InboundRequest, ReplayGuard
from channels.sms.messagebird import parse_messagebird_report
from channels.sms.twilio import parse_twilio_callback, twilio_signature, verify_twilio_signature
from channels.whatsapp import hub_signature, parse_whatsapp_webhook

NOW = dt.datetime(2026, 11, 24, 9, 30, tzinfo=dt.UTC)

# --- Twilio: base64(HMAC-SHA1(token, url + sorted name+value)), the official validator as oracle --

TOKEN = "12345"
TWILIO_URL = "https://pay.example.nl/v1/webhooks/twilio?key=C-1%2Fstep-1%2Fsms%2F1"
TWILIO_PARAMS = {
    "MessageSid": "SM0123456789abcdef0123456789abcdef",
    "MessageStatus": "delivered",
    "AccountSid": "AC0123",
    "To": "+31612345678",
    "ApiVersion": "2010-04-01",
}


def twilio_request(
    params: dict[str, str], signature: str, url: str = TWILIO_URL, token: str = "tok-1"
) -> InboundRequest:
    return InboundRequest(
        method="POST",
        url=url,
        body=urllib.parse.urlencode(params).encode(),
        headers={"X-Twilio-Signature": signature, "I-Twilio-Idempotency-Token": token},
    )


def test_our_twilio_signature_is_the_official_validators() -> None:
    """Our HMAC-SHA1 equals twilio.request_validator's for the same URL and form."""
    assert twilio_signature(TWILIO_URL, TWILIO_PARAMS, TOKEN) == RequestValidator(
        TOKEN
    ).compute_signature(TWILIO_URL, TWILIO_PARAMS)


def test_a_callback_the_official_validator_signs_is_accepted_and_parsed() -> None:
    """A delivered status signed by the twilio package parses into a receipt carrying our key."""
    signature = RequestValidator(TOKEN).compute_signature(TWILIO_URL, TWILIO_PARAMS)
    (receipt,) = parse_twilio_callback(
        twilio_request(TWILIO_PARAMS, signature),
        auth_token=TOKEN,
        replay_guard=ReplayGuard(),
        now=NOW,
    )
    assert (receipt.provider_message_id, receipt.status, receipt.idempotency_key) == (
        TWILIO_PARAMS["MessageSid"],
        "delivered",
        "C-1/step-1/sms/1",
    )


def test_twilio_signs_with_or_without_the_default_port() -> None:
    """Twilio may sign https://host:443/...; the official validator accepts both, so do we."""
    with_port = TWILIO_URL.replace("pay.example.nl", "pay.example.nl:443")
    signature = RequestValidator(TOKEN).compute_signature(with_port, TWILIO_PARAMS)
    verify_twilio_signature(twilio_request(TWILIO_PARAMS, signature), auth_token=TOKEN)
    assert RequestValidator(TOKEN).validate(TWILIO_URL, TWILIO_PARAMS, signature)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda p, s, u: ({**p, "MessageStatus": "failed"}, s, u), id="changed-status"),
        pytest.param(
            lambda p, s, u: (p, base64.b64encode(b"x" * 20).decode(), u), id="made-up-signature"
        ),
        pytest.param(lambda p, s, u: (p, s, u.replace("C-1", "C-2")), id="other-url"),
        pytest.param(lambda p, s, u: (p, "", u), id="no-signature"),
    ],
)
def test_a_forged_twilio_callback_is_refused(tamper: object) -> None:
    """Anything the signature does not cover exactly is refused, as the official validator does."""
    signature = RequestValidator(TOKEN).compute_signature(TWILIO_URL, TWILIO_PARAMS)
    params, signature, url = tamper(TWILIO_PARAMS, signature, TWILIO_URL)  # type: ignore[operator]
    assert not RequestValidator(TOKEN).validate(url, params, signature)
    with pytest.raises(CallbackRejected):
        parse_twilio_callback(
            twilio_request(params, signature, url),
            auth_token=TOKEN,
            replay_guard=ReplayGuard(),
            now=NOW,
        )


def test_a_replayed_twilio_callback_is_refused() -> None:
    """The same callback (same idempotency token) a second time is a replay."""
    guard = ReplayGuard()
    signature = RequestValidator(TOKEN).compute_signature(TWILIO_URL, TWILIO_PARAMS)
    parse_twilio_callback(
        twilio_request(TWILIO_PARAMS, signature), auth_token=TOKEN, replay_guard=guard, now=NOW
    )
    with pytest.raises(CallbackReplayed):
        parse_twilio_callback(
            twilio_request(TWILIO_PARAMS, signature), auth_token=TOKEN, replay_guard=guard, now=NOW
        )


# --- MessageBird: HS256 JWT binding the URL and body, with nbf/exp and a jti ---------------------

MB_KEY = "messagebird-signing-key-of-32-bytes-or-more"
MB_URL = "https://pay.example.nl/v1/webhooks/messagebird?id=abc&reference=k-1&recipient=31612345678&status=delivered&statusDatetime=2026-11-24T09%3A29%3A00%2B00%3A00"


def mb_token(
    url: str = MB_URL,
    *,
    key: str = MB_KEY,
    at: dt.datetime = NOW,
    jti: str = "j-1",
    body: bytes = b"",
) -> str:
    claims: dict[str, object] = {
        "iss": "MessageBird",
        "nbf": int(at.timestamp()),
        "exp": int(at.timestamp()) + 60,
        "jti": jti,
        "url_hash": hashlib.sha256(url.encode()).hexdigest(),
    }
    if body:
        claims["payload_hash"] = hashlib.sha256(body).hexdigest()
    return jwt.encode(claims, key, algorithm="HS256")


def mb_request(
    token: str, url: str = MB_URL, body: bytes = b"", method: str = "GET"
) -> InboundRequest:
    return InboundRequest(
        method=method, url=url, body=body, headers={"MessageBird-Signature-JWT": token}
    )


def test_a_signed_messagebird_report_is_accepted() -> None:
    """A delivered report with a valid JWT parses into a receipt with the reference as key."""
    (receipt,) = parse_messagebird_report(
        mb_request(mb_token()), signing_key=MB_KEY, replay_guard=ReplayGuard(), now=NOW
    )
    assert (receipt.provider_message_id, receipt.status, receipt.idempotency_key) == (
        "abc",
        "delivered",
        "k-1",
    )
    assert receipt.occurred_at == dt.datetime(2026, 11, 24, 9, 29, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        pytest.param(
            mb_request(mb_token(key="another-signing-key-of-32-bytes-or-more")),
            "invalid",
            id="wrong-key",
        ),
        pytest.param(
            mb_request(mb_token(), url=MB_URL.replace("delivered", "delivery_failed")),
            "another URL",
            id="tampered-url",
        ),
        pytest.param(mb_request(mb_token(at=NOW - dt.timedelta(hours=1))), "expired", id="expired"),
        pytest.param(
            mb_request(mb_token(body=b"a=1"), body=b"a=2", method="POST"),
            "payload_hash",
            id="tampered-body",
        ),
        pytest.param(mb_request(""), "no MessageBird-Signature-JWT", id="unsigned"),
    ],
)
def test_a_forged_or_stale_messagebird_report_is_refused(
    request_: InboundRequest, reason: str
) -> None:
    with pytest.raises(CallbackRejected, match=reason):
        parse_messagebird_report(request_, signing_key=MB_KEY, replay_guard=ReplayGuard(), now=NOW)


def test_a_replayed_messagebird_report_is_refused() -> None:
    """The same jti twice inside its lifetime is a replay."""
    guard = ReplayGuard()
    parse_messagebird_report(
        mb_request(mb_token()), signing_key=MB_KEY, replay_guard=guard, now=NOW
    )
    with pytest.raises(CallbackReplayed):
        parse_messagebird_report(
            mb_request(mb_token()), signing_key=MB_KEY, replay_guard=guard, now=NOW
        )


# --- WhatsApp: X-Hub-Signature-256 = sha256=HMAC-SHA256(app secret, raw body) ---------------------

APP_SECRET = "whatsapp-app-secret"


def wa_body(
    status: str = "delivered", timestamp: dt.datetime = NOW, wamid: str = "wamid.HBgL"
) -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "statuses": [
            {
                "id": wamid,
                "status": status,
                "timestamp": str(int(timestamp.timestamp())),
                "recipient_id": "31612345678",
            }
        ],
    }
    return json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
        }
    ).encode()


def wa_request(body: bytes, signature: str | None = None) -> InboundRequest:
    signature = (
        signature
        if signature is not None
        else "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    )
    return InboundRequest(
        method="POST",
        url="https://pay.example.nl/v1/webhooks/whatsapp",
        body=body,
        headers={"X-Hub-Signature-256": signature},
    )


def test_the_hub_signature_is_hmac_sha256_of_the_raw_body() -> None:
    body = wa_body()
    assert (
        hub_signature(body, APP_SECRET)
        == "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    )


def test_a_signed_whatsapp_status_is_accepted() -> None:
    (receipt,) = parse_whatsapp_webhook(
        wa_request(wa_body("read")), app_secret=APP_SECRET, replay_guard=ReplayGuard(), now=NOW
    )
    assert (receipt.provider_message_id, receipt.status, receipt.occurred_at) == (
        "wamid.HBgL",
        "read",
        NOW,
    )


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param(wa_request(wa_body(), "sha256=" + "0" * 64), id="made-up-signature"),
        pytest.param(
            wa_request(wa_body("failed"), hub_signature(wa_body("delivered"), APP_SECRET)),
            id="changed-body",
        ),
        pytest.param(
            wa_request(wa_body(), hub_signature(wa_body(), "another-secret")), id="wrong-secret"
        ),
        pytest.param(wa_request(wa_body(), ""), id="unsigned"),
        pytest.param(wa_request(wa_body(timestamp=NOW - dt.timedelta(days=8))), id="too-old"),
    ],
)
def test_a_forged_or_stale_whatsapp_status_is_refused(request_: InboundRequest) -> None:
    with pytest.raises(CallbackRejected):
        parse_whatsapp_webhook(request_, app_secret=APP_SECRET, replay_guard=ReplayGuard(), now=NOW)


def test_a_replayed_whatsapp_status_is_refused() -> None:
    guard = ReplayGuard()
    parse_whatsapp_webhook(
        wa_request(wa_body()), app_secret=APP_SECRET, replay_guard=guard, now=NOW
    )
    with pytest.raises(CallbackReplayed):
        parse_whatsapp_webhook(
            wa_request(wa_body()), app_secret=APP_SECRET, replay_guard=guard, now=NOW
        )


# --- Pingen: Signature = hex HMAC-SHA256(signing key, raw body) ----------------------------------

PINGEN_KEY = "pingen-webhook-signing-key"


def pingen_body(
    kind: str = "webhook_undeliverable", created_at: dt.datetime = NOW, event: str = "ev-1"
) -> bytes:
    data = {
        "id": event,
        "type": kind,
        "attributes": {
            "reason": "Empfänger unbekannt",
            "url": "https://app.pingen.com",
            "created_at": created_at.isoformat(),
        },
        "relationships": {"letter": {"data": {"id": "letter-1", "type": "letters"}}},
    }
    return json.dumps({"data": data}).encode()


def pingen_request(body: bytes, signature: str | None = None) -> InboundRequest:
    signature = (
        signature
        if signature is not None
        else hmac.new(PINGEN_KEY.encode(), body, hashlib.sha256).hexdigest()
    )
    return InboundRequest(
        method="POST",
        url="https://pay.example.nl/v1/webhooks/pingen",
        body=body,
        headers={"Signature": signature},
    )


def test_a_returned_letter_is_a_hard_bounce_on_the_letter() -> None:
    (receipt,) = parse_pingen_webhook(
        pingen_request(pingen_body()), signing_key=PINGEN_KEY, replay_guard=ReplayGuard(), now=NOW
    )
    assert (receipt.provider_message_id, receipt.status, receipt.severity) == (
        "letter-1",
        "bounced",
        "hard",
    )
    assert receipt.detail == "Empfänger unbekannt"


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param(pingen_request(pingen_body(), "0" * 64), id="made-up-signature"),
        pytest.param(
            pingen_request(
                pingen_body("webhook_sent"),
                hmac.new(PINGEN_KEY.encode(), pingen_body(), hashlib.sha256).hexdigest(),
            ),
            id="changed-body",
        ),
        pytest.param(
            pingen_request(pingen_body(created_at=NOW - dt.timedelta(days=30))), id="too-old"
        ),
    ],
)
def test_a_forged_or_stale_pingen_event_is_refused(request_: InboundRequest) -> None:
    with pytest.raises(CallbackRejected):
        parse_pingen_webhook(request_, signing_key=PINGEN_KEY, replay_guard=ReplayGuard(), now=NOW)


def test_a_replayed_pingen_event_is_refused() -> None:
    guard = ReplayGuard()
    parse_pingen_webhook(
        pingen_request(pingen_body()), signing_key=PINGEN_KEY, replay_guard=guard, now=NOW
    )
    with pytest.raises(CallbackReplayed):
        parse_pingen_webhook(
            pingen_request(pingen_body()), signing_key=PINGEN_KEY, replay_guard=guard, now=NOW
        )


def test_the_replay_guard_forgets_after_its_window() -> None:
    """A key is refused inside the window and accepted again once it has passed."""
    clock = [NOW]
    guard = ReplayGuard(window=dt.timedelta(minutes=5), clock=lambda: clock[0])
    guard.check("p", "k")
    with pytest.raises(CallbackRejected):
        guard.check("p", "k")
    clock[0] = NOW + dt.timedelta(minutes=6)
    guard.check("p", "k")
