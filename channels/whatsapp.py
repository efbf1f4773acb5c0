"""WhatsApp through the WhatsApp Business Cloud API: approved templates, free text only in the window.

Send: POST /{version}/{phone-number-id}/messages with a bearer token. Outside the 24-hour
customer-service window (opened by the customer's last message to us) only an approved template
may be sent; free text only inside it. The caller decides consent (consent.whatsapp) and tells
the adapter when the customer last wrote, in `metadata["whatsapp_last_inbound_at"]` (ISO 8601);
a template-less message outside the window is refused before any call. Templates: our template
name -> per locale the provider's approved template name and language code (configuration).
Status webhooks are verified by `X-Hub-Signature-256: sha256=<HMAC-SHA256(app secret, raw body)>`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import httpx

from channels.base import (
    ChannelConfigError,
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

PROVIDER = "whatsapp"
BASE_URL = "https://graph.facebook.com"
API_VERSION = "v21.0"
WINDOW = dt.timedelta(hours=24)
LAST_INBOUND = "whatsapp_last_inbound_at"

#: Cloud API error codes (developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes).
ERROR_CODES: Mapping[str, type[ChannelError]] = {
    "0": TransientChannelError,  # AuthException: fix the token, then retry
    "190": TransientChannelError,  # access token expired: renew PAYJOURNEY_WHATSAPP_TOKEN
    "4": TransientChannelError,  # API too many calls
    "80007": TransientChannelError,  # rate limit issues
    "130429": TransientChannelError,  # throughput rate limit hit
    "131048": TransientChannelError,  # spam rate limit hit
    "131056": TransientChannelError,  # pair rate limit: too many messages to this number
    "131000": TransientChannelError,  # something went wrong
    "131016": TransientChannelError,  # service unavailable
    "100": PermanentChannelError,  # invalid parameter
    "131008": PermanentChannelError,  # required parameter missing
    "131009": PermanentChannelError,  # parameter value not valid
    "131026": PermanentChannelError,  # message undeliverable: the number is not on WhatsApp
    "131047": PermanentChannelError,  # re-engagement message: more than 24 h, a template is needed
    "131051": PermanentChannelError,  # unsupported message type
    "132000": PermanentChannelError,  # template parameter count mismatch
    "132001": PermanentChannelError,  # template does not exist (in this language)
    "132005": PermanentChannelError,  # translated text too long
    "132007": PermanentChannelError,  # template format character policy violated
    "132015": PermanentChannelError,  # template paused for low quality
    "132016": PermanentChannelError,  # template disabled
    "133010": TransientChannelError,  # phone number not registered: register it, then retry
}

#: Status webhook errors after which the number is unusable on WhatsApp.
PERMANENT_STATUS_CODES = frozenset({"131026", "131047", "131051", "132001", "132015", "132016"})
_STATUSES = {"delivered": "delivered", "read": "read", "failed": "failed"}


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderTemplate:
    """An approved WhatsApp template for one of our templates in one locale."""

    name: str
    language: str  # the Cloud API's code, e.g. nl, de, en_US
    approved: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class WhatsAppSettings:
    token: str
    phone_number_id: str
    templates: Mapping[str, Mapping[str, ProviderTemplate]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    base_url: str = BASE_URL
    api_version: str = API_VERSION
    timeout: float = 10.0

    def template_for(self, template: str, locale: str) -> ProviderTemplate | None:
        """The approved provider template for our `template` in `locale` (nl_NL, then nl)."""
        per_locale = self.templates.get(template, {})
        found = per_locale.get(locale) or per_locale.get(locale.split("_")[0])
        return found if found is not None and found.approved else None


def templates_from_json(data: Mapping[str, object]) -> dict[str, dict[str, ProviderTemplate]]:
    """{"reminder-1": {"nl_NL": {"name": "betaalherinnering_1", "language": "nl", "approved": true}}}."""
    result: dict[str, dict[str, ProviderTemplate]] = {}
    for ours, per_locale in data.items():
        if not isinstance(per_locale, dict):
            raise ChannelConfigError(
                f"WhatsApp template {ours!r}: expected a mapping of locale -> template"
            )
        result[ours] = {}
        for locale, spec in per_locale.items():
            if not isinstance(spec, dict) or "name" not in spec or "language" not in spec:
                raise ChannelConfigError(
                    f"WhatsApp template {ours!r} for {locale}: needs name and language, e.g. "
                    '{"name": "betaalherinnering_1", "language": "nl", "approved": true}'
                )
            result[ours][locale] = ProviderTemplate(
                name=str(spec["name"]),
                language=str(spec["language"]),
                approved=bool(spec.get("approved", False)),
            )
    return result


def missing_approvals(
    templates: Mapping[str, Mapping[str, ProviderTemplate]], wanted: Iterable[tuple[str, str]]
) -> list[str]:
    """For `payjourney validate`: each (template, locale) a WhatsApp step uses that has no
    approved provider template, as a warning line saying what to configure."""
    settings = WhatsAppSettings(token="-", phone_number_id="-", templates=templates)
    return [
        f"WhatsApp template {template!r} has no approved provider template for {locale}; "
        "outside the 24-hour window the step falls back to the next channel "
        "(add it to PAYJOURNEY_WHATSAPP_TEMPLATES once Meta approved it)"
        for template, locale in dict.fromkeys(wanted)
        if settings.template_for(template, locale) is None
    ]


def hub_signature(body: bytes, app_secret: str) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def verify_hub_signature(request: InboundRequest, *, app_secret: str) -> None:
    """Raise CallbackRejected unless X-Hub-Signature-256 is the HMAC-SHA256 of the raw body."""
    signature = request.header("X-Hub-Signature-256")
    if not signature:
        raise CallbackRejected(PROVIDER, "no X-Hub-Signature-256 header")
    if not hmac.compare_digest(hub_signature(request.body, app_secret), signature.strip()):
        raise CallbackRejected(
            PROVIDER, "X-Hub-Signature-256 does not match (wrong app secret or a forged request)"
        )


def parse_whatsapp_webhook(
    request: InboundRequest,
    *,
    app_secret: str,
    replay_guard: ReplayGuard,
    max_age: dt.timedelta = dt.timedelta(days=3),
    now: dt.datetime | None = None,
) -> tuple[DeliveryReceipt | InboundReply, ...]:
    """Verified status updates as receipts, and the debtor's own messages as replies; a status
    or message older than `max_age` or seen before is refused."""
    verify_hub_signature(request, app_secret=app_secret)
    moment = now or dt.datetime.now(dt.UTC)
    try:
        payload = json.loads(request.body)
        values = [
            change.get("value", {})
            for entry in payload.get("entry", [])
            for change in entry.get("changes", [])
        ]
        statuses = [status for value in values for status in value.get("statuses", [])]
        incoming = [message for value in values for message in value.get("messages", [])]
    except (ValueError, AttributeError, TypeError) as exc:
        raise CallbackRejected(PROVIDER, "not a WhatsApp Business webhook payload") from exc
    receipts: list[DeliveryReceipt | InboundReply] = []
    for message in incoming:
        received_at = dt.datetime.fromtimestamp(int(message.get("timestamp", 0)), dt.UTC)
        if moment - received_at > max_age:
            raise CallbackRejected(
                PROVIDER, f"a message from {received_at.isoformat()} is too old (a replay?)"
            )
        replay_guard.check(PROVIDER, f"{message.get('id')}:message")
        receipts.append(
            InboundReply(
                provider=PROVIDER,
                provider_message_id=str(message.get("id") or ""),
                channel="whatsapp",
                sender=e164(str(message.get("from") or "")),
                text=_message_text(message),
                received_at=received_at,
            )
        )
    for status in statuses:
        mapped = _STATUSES.get(status.get("status", ""))
        occurred_at = dt.datetime.fromtimestamp(int(status.get("timestamp", 0)), dt.UTC)
        if moment - occurred_at > max_age:
            raise CallbackRejected(
                PROVIDER, f"a status from {occurred_at.isoformat()} is too old (a replay?)"
            )
        replay_guard.check(
            PROVIDER, f"{status.get('id')}:{status.get('status')}:{status.get('timestamp')}"
        )
        if mapped is None:
            continue
        errors = status.get("errors") or [{}]
        code = str(errors[0]["code"]) if errors[0].get("code") is not None else None
        receipts.append(
            DeliveryReceipt(
                provider=PROVIDER,
                provider_message_id=str(status["id"]),
                status=mapped,  # type: ignore[arg-type]
                occurred_at=occurred_at,
                code=code,
                permanent=mapped == "failed" and code in PERMANENT_STATUS_CODES,
                detail=errors[0].get("title"),
                idempotency_key=status.get("biz_opaque_callback_data"),
            )
        )
    return tuple(receipts)


def _message_text(message: dict[str, Any]) -> str:
    """What a debtor wrote: the text, a button's or list row's title, or a note of the kind
    (an image, a voice message) for the person who reads the task."""
    kind = str(message.get("type") or "")
    if kind == "text":
        return str(message.get("text", {}).get("body", ""))
    if kind == "button":
        return str(message.get("button", {}).get("text", ""))
    if kind == "interactive":
        chosen = message.get("interactive", {})
        picked = chosen.get("button_reply") or chosen.get("list_reply") or {}
        return str(picked.get("title", ""))
    return f"[{kind or 'unknown'} message: open it in WhatsApp Business]"


class WhatsAppChannel:
    """WhatsApp through the Business Cloud API."""

    name = "whatsapp"
    provider = PROVIDER

    def __init__(
        self,
        settings: WhatsAppSettings,
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._client = make_client(
            settings.base_url,
            timeout=settings.timeout,
            headers={"Authorization": f"Bearer {settings.token}"},
        )

    def _window_open(self, message: OutgoingMessage, now: dt.datetime) -> bool:
        raw = message.metadata.get(LAST_INBOUND)
        if not raw:
            return False
        last = dt.datetime.fromisoformat(raw)
        if last.tzinfo is None:
            raise ValueError(f"metadata[{LAST_INBOUND!r}] must be timezone-aware, got {raw!r}")
        return now - last < WINDOW

    def payload(self, message: OutgoingMessage, now: dt.datetime) -> dict[str, object]:
        """The Cloud API request body; raises PermanentChannelError when no send is allowed."""
        base: dict[str, object] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": message.recipient.lstrip("+"),
            "biz_opaque_callback_data": message.idempotency_key,
        }
        if self._window_open(message, now) and message.template is None:
            return {**base, "type": "text", "text": {"preview_url": True, "body": message.text}}
        if message.template is None:
            raise PermanentChannelError(
                "outside the 24-hour customer-service window WhatsApp only takes an approved "
                "template; give the step a template or use another channel",
                provider=PROVIDER,
                code="outside-window",
            )
        template = self.settings.template_for(message.template, message.locale)
        if template is None:
            raise PermanentChannelError(
                f"no approved WhatsApp template for {message.template!r} in {message.locale}; "
                "add it to PAYJOURNEY_WHATSAPP_TEMPLATES once Meta approved it",
                provider=PROVIDER,
                code="no-approved-template",
            )
        components = (
            [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": p} for p in message.template_parameters
                    ],
                }
            ]
            if message.template_parameters
            else []
        )
        return {
            **base,
            "type": "template",
            "template": {
                "name": template.name,
                "language": {"code": template.language},
                "components": components,
            },
        }

    def send(self, message: OutgoingMessage) -> Receipt:
        now = self._clock()
        payload = self.payload(message, now)
        path = f"/{self.settings.api_version}/{self.settings.phone_number_id}/messages"
        with transport_errors(PROVIDER):
            response = self._client.post(path, json=payload)
        if response.status_code >= 400:
            raise self._error(response, message)
        return accepted(
            message,
            provider=PROVIDER,
            provider_message_id=str(response.json()["messages"][0]["id"]),
            at=now,
            cost={"kind": str(payload["type"])},
        )

    def _error(self, response: httpx.Response, message: OutgoingMessage) -> ChannelError:
        body = json_body(response)
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        details = (error.get("error_data") or {}).get("details")
        return provider_error(
            PROVIDER,
            response,
            message,
            code=str(error["code"]) if error.get("code") is not None else None,
            description=str(details or error.get("message") or response.reason_phrase),
            codes=ERROR_CODES,
        )

    def close(self) -> None:
        self._client.close()
