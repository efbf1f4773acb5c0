"""MessageBird's (Bird's) SMS REST API, used widely by Dutch and German businesses, and its reports.

Send: POST https://rest.messagebird.com/messages with `Authorization: AccessKey <key>` and JSON
{originator, recipients, body, reference, reportUrl, datacoding}. The idempotency key travels as
`reference` and comes back on every status report. Status reports are GET requests to the
reportUrl (id, reference, recipient, status, statusDatetime, statusErrorCode), signed with the
`MessageBird-Signature-JWT` header: an HS256 JWT under the signing key whose claims bind the
request's URL (`url_hash`) and body (`payload_hash`), with `nbf`/`exp` and a `jti` that a
ReplayGuard refuses a second time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx
import jwt

from channels.base import (
    ChannelError,
    OutgoingMessage,
    PermanentChannelError,
    Receipt,
    TransientChannelError,
)
from channels.provider_http import json_body, make_client, provider_error, transport_errors
from channels.receipts import (
    CallbackRejected,
    DeliveryReceipt,
    InboundRequest,
    ReplayGuard,
    accepted,
)
from channels.sms import segment_cost

PROVIDER = "messagebird"
BASE_URL = "https://rest.messagebird.com"
SIGNATURE_HEADER = "MessageBird-Signature-JWT"

#: MessageBird REST API error codes (developers.messagebird.com/api/#errors).
ERROR_CODES: Mapping[str, type[ChannelError]] = {
    "2": TransientChannelError,  # request not allowed (incorrect access key): fix it, then retry
    "9": PermanentChannelError,  # missing or invalid parameters, e.g. no (correct) recipients
    "10": PermanentChannelError,  # not found
    "20": PermanentChannelError,  # not found (resource)
    "21": PermanentChannelError,  # bad request
    "25": TransientChannelError,  # not enough balance: top up, then retry
    "98": TransientChannelError,  # API not found
    "99": TransientChannelError,  # internal error
}

#: statusErrorCode values of a report that make the number unusable (unknown or barred subscriber).
PERMANENT_REPORT_CODES = frozenset({"1", "5", "9", "11", "12", "13", "20", "21", "103", "104"})

_STATUSES = {"delivered": "delivered", "delivery_failed": "failed", "expired": "failed"}


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageBirdSettings:
    access_key: str
    originator: str  # a number or an alphanumeric sender (max 11 characters)
    report_url: str | None = None
    base_url: str = BASE_URL
    timeout: float = 10.0


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sign_messagebird_request(
    url: str, body: bytes, signing_key: str, *, now: dt.datetime, jti: str, ttl: int = 300
) -> str:
    """A MessageBird-Signature-JWT for a request (what MessageBird sends; tests play it)."""
    claims: dict[str, object] = {
        "iss": "MessageBird",
        "nbf": int(now.timestamp()),
        "exp": int(now.timestamp()) + ttl,
        "jti": jti,
        "url_hash": _sha256(url.encode()),
    }
    if body:
        claims["payload_hash"] = _sha256(body)
    return jwt.encode(claims, signing_key, algorithm="HS256")


def verify_messagebird_signature(
    request: InboundRequest, *, signing_key: str, now: dt.datetime | None = None
) -> Mapping[str, object]:
    """The JWT's claims once the signature, issuer, lifetime, URL and body hashes all check."""
    token = request.header(SIGNATURE_HEADER)
    if not token:
        raise CallbackRejected(PROVIDER, f"no {SIGNATURE_HEADER} header")
    moment = now or dt.datetime.now(dt.UTC)
    try:
        claims: Mapping[str, object] = jwt.decode(
            token,
            signing_key,
            algorithms=["HS256"],
            issuer="MessageBird",
            leeway=1,
            options={
                "require": ["iss", "nbf", "exp", "jti", "url_hash"],
                "verify_exp": False,
                "verify_nbf": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise CallbackRejected(
            PROVIDER, f"{SIGNATURE_HEADER} is invalid ({type(exc).__name__})"
        ) from exc
    stamp = int(moment.timestamp())
    nbf, exp = claims["nbf"], claims["exp"]
    if not isinstance(nbf, int) or not isinstance(exp, int) or not (nbf - 1 <= stamp <= exp + 1):
        raise CallbackRejected(PROVIDER, "the signature is expired or not yet valid (a replay?)")
    if not hmac.compare_digest(str(claims["url_hash"]), _sha256(request.url.encode())):
        raise CallbackRejected(PROVIDER, "the signature was made for another URL")
    signed_body = request.body or "payload_hash" in claims
    if signed_body and not hmac.compare_digest(
        str(claims.get("payload_hash", "")), _sha256(request.body)
    ):
        raise CallbackRejected(PROVIDER, "the body does not match the signature's payload_hash")
    return claims


def _parse_time(value: str | None, fallback: dt.datetime) -> dt.datetime:
    if not value:
        return fallback
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return fallback
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def parse_messagebird_report(
    request: InboundRequest,
    *,
    signing_key: str,
    replay_guard: ReplayGuard,
    now: dt.datetime | None = None,
) -> tuple[DeliveryReceipt, ...]:
    """A verified status report as receipts (none for `sent`, `buffered`, `scheduled`)."""
    moment = now or dt.datetime.now(dt.UTC)
    claims = verify_messagebird_signature(request, signing_key=signing_key, now=moment)
    replay_guard.check(PROVIDER, str(claims["jti"]))
    query = urllib.parse.urlsplit(request.url).query
    if request.method.upper() == "POST" and request.body:
        query = request.body.decode()
    params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    message_id, status = params.get("id"), params.get("status")
    if not message_id or not status:
        raise CallbackRejected(PROVIDER, "not a status report (no id/status)")
    mapped = _STATUSES.get(status)
    if mapped is None:
        return ()
    code = params.get("statusErrorCode") or None
    return (
        DeliveryReceipt(
            provider=PROVIDER,
            provider_message_id=message_id,
            status=mapped,  # type: ignore[arg-type]
            occurred_at=_parse_time(params.get("statusDatetime"), moment),
            code=code,
            permanent=status == "delivery_failed" and code in PERMANENT_REPORT_CODES,
            detail=params.get("statusReason") or None,
            idempotency_key=params.get("reference") or None,
        ),
    )


class MessageBirdSmsChannel:
    """SMS through MessageBird's REST API."""

    name = "sms"
    provider = PROVIDER

    def __init__(
        self,
        settings: MessageBirdSettings,
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._client = make_client(
            settings.base_url,
            timeout=settings.timeout,
            headers={"Authorization": f"AccessKey {settings.access_key}"},
        )

    def send(self, message: OutgoingMessage) -> Receipt:
        payload: dict[str, object] = {
            "originator": self.settings.originator,
            "recipients": [message.recipient.lstrip("+")],
            "body": message.text,
            "reference": message.idempotency_key,
            "datacoding": "auto",
        }
        if self.settings.report_url:
            payload["reportUrl"] = self.settings.report_url
        with transport_errors(PROVIDER):
            response = self._client.post("/messages", json=payload)
        if response.status_code >= 400:
            raise self._error(response, message)
        return accepted(
            message,
            provider=PROVIDER,
            provider_message_id=str(response.json()["id"]),
            at=self._clock(),
            cost=segment_cost(message.text),
        )

    def _error(self, response: httpx.Response, message: OutgoingMessage) -> ChannelError:
        body = json_body(response)
        errors = body.get("errors") if isinstance(body, dict) else None
        first = (
            errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
        )
        return provider_error(
            PROVIDER,
            response,
            message,
            code=str(first["code"]) if first.get("code") is not None else None,
            description=str(first.get("description") or response.reason_phrase),
            codes=ERROR_CODES,
        )

    def close(self) -> None:
        self._client.close()
