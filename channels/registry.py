"""Builds the configured channels from settings (the environment) at start, and fails loudly.

`PAYJOURNEY_CHANNELS` names the channels to run (e.g. `email,sms,letter`); each one's
provider and credentials come from its own variables (docs/channels.md lists them). Every
missing or wrong variable of every channel is reported in one ChannelConfigError, by name, so
the operator fixes the configuration in one go; the daemon dies at start, never mid-run.
`build_callback_handlers` gives the API one verified parser per provider for its webhooks.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from channels.base import CHANNEL_NAMES, Channel, ChannelConfigError
from channels.email import SECURITY_MODES, SmtpEmailChannel, SmtpSettings
from channels.letter import (
    DropFolderLetterChannel,
    DropFolderSettings,
    PingenLetterChannel,
    PingenSettings,
    parse_pingen_webhook,
)
from channels.phone import PhoneTaskChannel, PhoneTaskSettings
from channels.receipts import DeliveryReceipt, InboundReply, InboundRequest, ReplayGuard
from channels.sms.messagebird import (
    MessageBirdSettings,
    MessageBirdSmsChannel,
    parse_messagebird_report,
)
from channels.sms.twilio import TwilioSettings, TwilioSmsChannel, parse_twilio_callback
from channels.whatsapp import (
    WhatsAppChannel,
    WhatsAppSettings,
    parse_whatsapp_webhook,
    templates_from_json,
)

Clock = Callable[[], dt.datetime]
CallbackHandler = Callable[[InboundRequest], tuple[DeliveryReceipt | InboundReply, ...]]
_DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}


class _Env:
    """Reads variables and collects every problem instead of stopping at the first."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def required(self, name: str, why: str) -> str:
        value = self.env.get(name, "").strip()
        if not value:
            self.problems.append(f"{name} is not set ({why})")
        return value

    def optional(self, name: str, default: str | None = None) -> str | None:
        value = self.env.get(name, "").strip()
        return value or default

    def choice(self, name: str, choices: tuple[str, ...], default: str | None = None) -> str:
        value = self.env.get(name, "").strip() or default
        if value is None:
            self.problems.append(f"{name} is not set (one of: {', '.join(choices)})")
            return ""
        if value not in choices:
            self.problems.append(f"{name}={value!r} is not one of: {', '.join(choices)}")
        return value

    def number(self, name: str, default: int) -> int:
        value = self.env.get(name, "").strip()
        if not value:
            return default
        if not value.isdigit():
            self.problems.append(f"{name}={value!r} is not a whole number")
            return default
        return int(value)


def _email(env: _Env, clock: Clock) -> Callable[[], Channel]:
    security = env.choice("PAYJOURNEY_SMTP_SECURITY", SECURITY_MODES, "starttls")
    host = env.required("PAYJOURNEY_SMTP_HOST", "the SMTP server's host name")
    port = env.number("PAYJOURNEY_SMTP_PORT", _DEFAULT_PORTS.get(security, 587))
    sender = env.required("PAYJOURNEY_SMTP_FROM", "the From address, e.g. debiteuren@example.nl")
    username = env.optional("PAYJOURNEY_SMTP_USERNAME")
    password = env.optional("PAYJOURNEY_SMTP_PASSWORD")
    if username and not password:
        env.problems.append("PAYJOURNEY_SMTP_PASSWORD is not set (PAYJOURNEY_SMTP_USERNAME is)")
    reply_to = env.optional("PAYJOURNEY_SMTP_REPLY_TO")
    return lambda: SmtpEmailChannel(
        SmtpSettings(
            host=host,
            port=port,
            sender=sender,
            security=security,  # type: ignore[arg-type]
            username=username,
            password=password,
            reply_to=reply_to,
        ),
        clock=clock,
    )


def _sms(env: _Env, clock: Clock) -> Callable[[], Channel]:
    provider = env.choice("PAYJOURNEY_SMS_PROVIDER", ("twilio", "messagebird"))
    if provider == "twilio":
        twilio = TwilioSettings(
            account_sid=env.required("PAYJOURNEY_TWILIO_ACCOUNT_SID", "the Account SID, AC..."),
            auth_token=env.required("PAYJOURNEY_TWILIO_AUTH_TOKEN", "the Auth Token"),
            sender=env.required(
                "PAYJOURNEY_TWILIO_FROM", "a Twilio number, sender id or Messaging Service SID"
            ),
            status_callback_url=env.optional("PAYJOURNEY_TWILIO_STATUS_CALLBACK_URL"),
            base_url=env.optional("PAYJOURNEY_TWILIO_BASE_URL", "https://api.twilio.com") or "",
        )
        return lambda: TwilioSmsChannel(twilio, clock=clock)
    bird = MessageBirdSettings(
        access_key=env.required("PAYJOURNEY_MESSAGEBIRD_ACCESS_KEY", "a live access key"),
        originator=env.required(
            "PAYJOURNEY_MESSAGEBIRD_ORIGINATOR", "a number or a sender name of up to 11 characters"
        ),
        report_url=env.optional("PAYJOURNEY_MESSAGEBIRD_REPORT_URL"),
        base_url=env.optional("PAYJOURNEY_MESSAGEBIRD_BASE_URL", "https://rest.messagebird.com")
        or "",
    )
    return lambda: MessageBirdSmsChannel(bird, clock=clock)


def _whatsapp(env: _Env, clock: Clock) -> Callable[[], Channel]:
    token = env.required("PAYJOURNEY_WHATSAPP_TOKEN", "a system user access token")
    number = env.required("PAYJOURNEY_WHATSAPP_PHONE_NUMBER_ID", "the business phone number id")
    templates_file = env.optional("PAYJOURNEY_WHATSAPP_TEMPLATES")
    templates = {}
    if templates_file:
        try:
            templates = templates_from_json(
                json.loads(Path(templates_file).read_text(encoding="utf-8"))
            )
        except (OSError, ValueError) as exc:
            env.problems.append(
                f"PAYJOURNEY_WHATSAPP_TEMPLATES={templates_file!r} cannot be read: {exc}"
            )
        except ChannelConfigError as exc:
            env.problems.append(f"PAYJOURNEY_WHATSAPP_TEMPLATES: {exc}")
    settings = WhatsAppSettings(
        token=token,
        phone_number_id=number,
        templates=templates,
        base_url=env.optional("PAYJOURNEY_WHATSAPP_BASE_URL", "https://graph.facebook.com") or "",
    )
    return lambda: WhatsAppChannel(settings, clock=clock)


def _letter(env: _Env, clock: Clock) -> Callable[[], Channel]:
    provider = env.choice("PAYJOURNEY_LETTER_PROVIDER", ("pingen", "drop-folder"))
    if provider == "pingen":
        pingen = PingenSettings(
            client_id=env.required(
                "PAYJOURNEY_PINGEN_CLIENT_ID", "an API client of type client credentials"
            ),
            client_secret=env.required("PAYJOURNEY_PINGEN_CLIENT_SECRET", "that client's secret"),
            organisation_id=env.required(
                "PAYJOURNEY_PINGEN_ORGANISATION_ID", "the organisation UUID"
            ),
            delivery_product=env.optional("PAYJOURNEY_PINGEN_DELIVERY_PRODUCT", "cheap") or "cheap",
            registered_product=env.optional("PAYJOURNEY_PINGEN_REGISTERED_PRODUCT", "sign")
            or "sign",
            api_url=env.optional("PAYJOURNEY_PINGEN_API_URL", "https://api.pingen.com") or "",
            identity_url=env.optional(
                "PAYJOURNEY_PINGEN_IDENTITY_URL", "https://identity.pingen.com"
            )
            or "",
        )
        return lambda: PingenLetterChannel(pingen, clock=clock)
    folder = env.required("PAYJOURNEY_LETTER_DROP_DIR", "the folder the print house collects")
    manifest = env.choice("PAYJOURNEY_LETTER_MANIFEST", ("csv", "json"), "csv")
    drop = DropFolderSettings(
        folder=Path(folder),
        manifest=manifest,  # type: ignore[arg-type]
        postage=env.optional("PAYJOURNEY_LETTER_POSTAGE", "standard") or "standard",
        registered_postage=env.optional("PAYJOURNEY_LETTER_REGISTERED_POSTAGE", "registered")
        or "registered",
    )
    return lambda: DropFolderLetterChannel(drop, clock=clock)


def _phone(env: _Env, clock: Clock) -> Callable[[], Channel]:
    settings = PhoneTaskSettings(
        task_file=Path(
            env.required("PAYJOURNEY_PHONE_TASK_FILE", "the JSON Lines file callers work from")
        ),
        webhook_url=env.optional("PAYJOURNEY_PHONE_TASK_WEBHOOK"),
        webhook_token=env.optional("PAYJOURNEY_PHONE_TASK_TOKEN"),
    )
    return lambda: PhoneTaskChannel(settings, clock=clock)


_BUILDERS: dict[str, Callable[[_Env, Clock], Callable[[], Channel]]] = {
    "email": _email,
    "sms": _sms,
    "whatsapp": _whatsapp,
    "letter": _letter,
    "phone": _phone,
}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def build_channels(
    env: Mapping[str, str] | None = None, *, clock: Clock = _now
) -> dict[str, Channel]:
    """The channels PAYJOURNEY_CHANNELS names, built from `env` (default: os.environ).

    Raises ChannelConfigError listing every missing or invalid variable.
    """
    source = _Env(os.environ if env is None else env)
    names = [
        n.strip()
        for n in source.required(
            "PAYJOURNEY_CHANNELS",
            f"the channels to send on, comma-separated from: {', '.join(CHANNEL_NAMES)}",
        ).split(",")
        if n.strip()
    ]
    factories: dict[str, Callable[[], Channel]] = {}
    for name in names:
        if name not in _BUILDERS:
            source.problems.append(
                f"PAYJOURNEY_CHANNELS names {name!r}, which is not a channel (one of: {', '.join(CHANNEL_NAMES)})"
            )
            continue
        factories[name] = _BUILDERS[name](source, clock)
    if source.problems:
        raise ChannelConfigError(
            "the channels are not configured correctly (see docs/channels.md):\n  "
            + "\n  ".join(source.problems)
        )
    try:
        return {name: factory() for name, factory in factories.items()}
    except ChannelConfigError as exc:
        raise ChannelConfigError(
            f"the channels are not configured correctly (see docs/channels.md): {exc}"
        ) from exc


def build_callback_handlers(
    env: Mapping[str, str] | None = None, *, replay_guard: ReplayGuard | None = None
) -> dict[str, CallbackHandler]:
    """One verified parser per provider whose secret is set, keyed by provider name for
    `POST /v1/webhooks/{provider}`; each raises CallbackRejected on a forged or replayed call."""
    source = os.environ if env is None else env
    guard = replay_guard or ReplayGuard()
    handlers: dict[str, CallbackHandler] = {}
    if secret := source.get("PAYJOURNEY_TWILIO_AUTH_TOKEN", "").strip():
        handlers["twilio"] = functools.partial(
            parse_twilio_callback, auth_token=secret, replay_guard=guard
        )
    if secret := source.get("PAYJOURNEY_MESSAGEBIRD_SIGNING_KEY", "").strip():
        handlers["messagebird"] = functools.partial(
            parse_messagebird_report, signing_key=secret, replay_guard=guard
        )
    if secret := source.get("PAYJOURNEY_WHATSAPP_APP_SECRET", "").strip():
        handlers["whatsapp"] = functools.partial(
            parse_whatsapp_webhook, app_secret=secret, replay_guard=guard
        )
    if secret := source.get("PAYJOURNEY_PINGEN_WEBHOOK_SIGNING_KEY", "").strip():
        handlers["pingen"] = functools.partial(
            parse_pingen_webhook, signing_key=secret, replay_guard=guard
        )
    return handlers
