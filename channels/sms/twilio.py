"""Twilio's Messages API: a form POST with basic auth; status callbacks signed X-Twilio-Signature.

Send: POST /2010-04-01/Accounts/{AccountSid}/Messages.json with To, From (or
MessagingServiceSid), Body and StatusCallback. Twilio has no idempotency field on this call, so
the key travels in the StatusCallback URL's query (`key=`) and comes back on every receipt.
Callbacks are signed: base64(HMAC-SHA1(auth token, URL + each POST parameter name and value,
sorted by name)). They carry no timestamp, so replays are refused by the I-Twilio-Idempotency-Token
Twilio sends (or the signature) in a ReplayGuard.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

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
    InboundReply,
    InboundRequest,
    ReplayGuard,
    accepted,
    e164,
)
from channels.sms import segment_cost

PROVIDER = "twilio"
BASE_URL = "https://api.twilio.com"

#: Twilio error codes (https://www.twilio.com/docs/api/errors) and what they mean for a journey.
ERROR_CODES: Mapping[str, type[ChannelError]] = {
    "20003": TransientChannelError,  # authentication failed: fix the credentials, then retry
    "20429": TransientChannelError,  # too many requests
    "21211": PermanentChannelError,  # invalid 'To' phone number
    "21408": PermanentChannelError,  # permission to send to this region not enabled
    "21610": PermanentChannelError,  # the recipient replied STOP (unsubscribed)
    "21612": PermanentChannelError,  # the 'To' number cannot be reached from this 'From'
    "21614": PermanentChannelError,  # 'To' is not a mobile number
    "21617": PermanentChannelError,  # body exceeds the 1600 character limit
    "30001": TransientChannelError,  # queue overflow
    "30003": PermanentChannelError,  # unreachable destination handset
    "30005": PermanentChannelError,  # unknown destination handset
    "30006": PermanentChannelError,  # landline or unreachable carrier
    "30007": PermanentChannelError,  # filtered by the carrier as spam
    "30008": TransientChannelError,  # unknown error
}

#: Twilio's MessageStatus values that end up as receipts; queued/sending/sent/accepted are not.
_STATUSES = {"delivered": "delivered", "undelivered": "failed", "failed": "failed", "read": "read"}


@dataclass(frozen=True, slots=True, kw_only=True)
class TwilioSettings:
    account_sid: str
    auth_token: str
    sender: str  # an E.164 number, an alphanumeric sender id, or a Messaging Service SID (MG...)
    status_callback_url: str | None = None
    base_url: str = BASE_URL
    timeout: float = 10.0


def twilio_signature(url: str, params: Mapping[str, str], auth_token: str) -> str:
    """Twilio's X-Twilio-Signature for a POST to `url` with form `params`."""
    payload = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _url_variants(url: str) -> tuple[str, ...]:
    """The URL with and without its default port: Twilio signs whichever the webhook was set to."""
    parts = urllib.parse.urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    host = parts.hostname or ""
    if parts.port is None and default is not None:
        other = parts._replace(netloc=f"{host}:{default}")
    elif parts.port == default:
        other = parts._replace(netloc=host)
    else:
        return (url,)
    return (url, urllib.parse.urlunsplit(other))


def verify_twilio_signature(request: InboundRequest, *, auth_token: str) -> Mapping[str, str]:
    """The callback's form parameters, once its X-Twilio-Signature checks; else CallbackRejected."""
    signature = request.header("X-Twilio-Signature")
    if not signature:
        raise CallbackRejected(PROVIDER, "no X-Twilio-Signature header")
    params = dict(urllib.parse.parse_qsl(request.body.decode(), keep_blank_values=True))
    for url in _url_variants(request.url):
        expected = twilio_signature(url, params, auth_token)
        if hmac.compare_digest(expected, signature):
            return params
    raise CallbackRejected(
        PROVIDER, "X-Twilio-Signature does not match (wrong auth token or a forged request)"
    )


def parse_twilio_callback(
    request: InboundRequest,
    *,
    auth_token: str,
    replay_guard: ReplayGuard,
    now: dt.datetime | None = None,
) -> tuple[DeliveryReceipt | InboundReply, ...]:
    """A verified status callback as receipts (none for the in-between statuses such as `sent`),
    or an incoming message (`SmsStatus=received`) as the debtor's reply."""
    params = verify_twilio_signature(request, auth_token=auth_token)
    token = (
        request.header("I-Twilio-Idempotency-Token") or request.header("X-Twilio-Signature") or ""
    )
    replay_guard.check(PROVIDER, token)
    sid = params.get("MessageSid") or params.get("SmsSid")
    status = params.get("MessageStatus") or params.get("SmsStatus")
    if sid and status == "received" and params.get("From"):
        # the number's "a message comes in" webhook: the debtor answered
        sender = params["From"]
        return (
            InboundReply(
                provider=PROVIDER,
                provider_message_id=sid,
                channel="whatsapp" if sender.startswith("whatsapp:") else "sms",
                sender=e164(sender),
                text=params.get("Body", ""),
                received_at=now or dt.datetime.now(dt.UTC),
            ),
        )
    if not sid or not status:
        raise CallbackRejected(
            PROVIDER, "not a message status callback (no MessageSid/MessageStatus)"
        )
    mapped = _STATUSES.get(status)
    if mapped is None:
        return ()
    code = params.get("ErrorCode") or None
    key = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(request.url).query)).get("key")
    permanent = mapped == "failed" and (
        code is None or ERROR_CODES.get(code) is not TransientChannelError
    )
    return (
        DeliveryReceipt(
            provider=PROVIDER,
            provider_message_id=sid,
            status=mapped,  # type: ignore[arg-type]
            occurred_at=now or dt.datetime.now(dt.UTC),
            code=code,
            permanent=permanent,
            idempotency_key=key,
        ),
    )


class TwilioSmsChannel:
    """SMS through Twilio's Messages API."""

    name = "sms"
    provider = PROVIDER

    def __init__(
        self,
        settings: TwilioSettings,
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._client = make_client(
            settings.base_url,
            timeout=settings.timeout,
            auth=(settings.account_sid, settings.auth_token),
        )

    def _form(self, message: OutgoingMessage) -> dict[str, str]:
        form = {"To": message.recipient, "Body": message.text}
        sender = self.settings.sender
        form["MessagingServiceSid" if sender.startswith("MG") else "From"] = sender
        if self.settings.status_callback_url:
            url = self.settings.status_callback_url
            joiner = "&" if urllib.parse.urlsplit(url).query else "?"
            form["StatusCallback"] = (
                url + joiner + urllib.parse.urlencode({"key": message.idempotency_key})
            )
        return form

    def send(self, message: OutgoingMessage) -> Receipt:
        path = f"/2010-04-01/Accounts/{self.settings.account_sid}/Messages.json"
        with transport_errors(PROVIDER):
            response = self._client.post(path, data=self._form(message))
        if response.status_code >= 400:
            raise self._error(response, message)
        return accepted(
            message,
            provider=PROVIDER,
            provider_message_id=str(response.json()["sid"]),
            at=self._clock(),
            cost=segment_cost(message.text),
        )

    def _error(self, response: httpx.Response, message: OutgoingMessage) -> ChannelError:
        body = json_body(response)
        body = body if isinstance(body, dict) else {}
        code = str(body["code"]) if body.get("code") is not None else None
        return provider_error(
            PROVIDER,
            response,
            message,
            code=code,
            description=str(body.get("message") or response.reason_phrase),
            codes=ERROR_CODES,
        )

    def close(self) -> None:
        self._client.close()
