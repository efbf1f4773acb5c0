"""The registry builds the configured channels at start, or says every missing variable at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from channels.base import ChannelConfigError
from channels.email import SmtpEmailChannel
from channels.letter import DropFolderLetterChannel, PingenLetterChannel
from channels.phone import PhoneTaskChannel
from channels.registry import build_callback_handlers, build_channels
from channels.sms.messagebird import MessageBirdSmsChannel
from channels.sms.twilio import TwilioSmsChannel
from channels.whatsapp import WhatsAppChannel


def full_env(tmp_path: Path) -> dict[str, str]:
    templates = tmp_path / "wa.json"
    templates.write_text(
        json.dumps(
            {
                "reminder-1": {
                    "nl_NL": {"name": "betaalherinnering_1", "language": "nl", "approved": True}
                }
            }
        )
    )
    return {
        "PAYJOURNEY_CHANNELS": "email, sms, whatsapp, letter, phone",
        "PAYJOURNEY_SMTP_HOST": "smtp.example.nl",
        "PAYJOURNEY_SMTP_FROM": "debiteuren@example.nl",
        "PAYJOURNEY_SMTP_USERNAME": "credit",
        "PAYJOURNEY_SMTP_PASSWORD": "pw",
        "PAYJOURNEY_SMS_PROVIDER": "twilio",
        "PAYJOURNEY_TWILIO_ACCOUNT_SID": "AC1",
        "PAYJOURNEY_TWILIO_AUTH_TOKEN": "tok",
        "PAYJOURNEY_TWILIO_FROM": "+3197010000000",
        "PAYJOURNEY_WHATSAPP_TOKEN": "wa",
        "PAYJOURNEY_WHATSAPP_PHONE_NUMBER_ID": "1065",
        "PAYJOURNEY_WHATSAPP_TEMPLATES": str(templates),
        "PAYJOURNEY_LETTER_PROVIDER": "drop-folder",
        "PAYJOURNEY_LETTER_DROP_DIR": str(tmp_path / "print"),
        "PAYJOURNEY_PHONE_TASK_FILE": str(tmp_path / "calls.jsonl"),
    }


def test_every_configured_channel_is_built(tmp_path: Path) -> None:
    channels = build_channels(full_env(tmp_path))
    try:
        assert isinstance(channels["email"], SmtpEmailChannel)
        assert channels["email"].settings.port == 587
        assert isinstance(channels["sms"], TwilioSmsChannel)
        assert isinstance(channels["whatsapp"], WhatsAppChannel)
        assert channels["whatsapp"].settings.template_for("reminder-1", "nl_NL") is not None
        assert isinstance(channels["letter"], DropFolderLetterChannel)
        assert isinstance(channels["phone"], PhoneTaskChannel)
    finally:
        for channel in channels.values():
            channel.close()


def test_the_other_providers_are_picked_by_name(tmp_path: Path) -> None:
    env = full_env(tmp_path) | {
        "PAYJOURNEY_CHANNELS": "sms,letter",
        "PAYJOURNEY_SMS_PROVIDER": "messagebird",
        "PAYJOURNEY_MESSAGEBIRD_ACCESS_KEY": "live_x",
        "PAYJOURNEY_MESSAGEBIRD_ORIGINATOR": "Incasso",
        "PAYJOURNEY_LETTER_PROVIDER": "pingen",
        "PAYJOURNEY_PINGEN_CLIENT_ID": "id",
        "PAYJOURNEY_PINGEN_CLIENT_SECRET": "secret",
        "PAYJOURNEY_PINGEN_ORGANISATION_ID": "org",
    }
    channels = build_channels(env)
    assert isinstance(channels["sms"], MessageBirdSmsChannel)
    assert isinstance(channels["letter"], PingenLetterChannel)
    assert set(channels) == {"sms", "letter"}
    for channel in channels.values():
        channel.close()


def test_every_missing_variable_is_named_in_one_error() -> None:
    """The operator sees all of them at start, not one per restart."""
    env = {
        "PAYJOURNEY_CHANNELS": "email,sms,letter",
        "PAYJOURNEY_SMS_PROVIDER": "twilio",
        "PAYJOURNEY_LETTER_PROVIDER": "pingen",
    }
    with pytest.raises(ChannelConfigError) as caught:
        build_channels(env)
    message = str(caught.value)
    for name in (
        "PAYJOURNEY_SMTP_HOST",
        "PAYJOURNEY_SMTP_FROM",
        "PAYJOURNEY_TWILIO_ACCOUNT_SID",
        "PAYJOURNEY_TWILIO_AUTH_TOKEN",
        "PAYJOURNEY_TWILIO_FROM",
        "PAYJOURNEY_PINGEN_CLIENT_ID",
        "PAYJOURNEY_PINGEN_CLIENT_SECRET",
        "PAYJOURNEY_PINGEN_ORGANISATION_ID",
    ):
        assert name in message
    assert "docs/channels.md" in message


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"PAYJOURNEY_CHANNELS": "email,pigeon"}, "'pigeon'"),
        ({"PAYJOURNEY_SMTP_SECURITY": "ssl"}, "PAYJOURNEY_SMTP_SECURITY='ssl'"),
        ({"PAYJOURNEY_SMTP_PORT": "five"}, "PAYJOURNEY_SMTP_PORT='five'"),
        ({"PAYJOURNEY_SMTP_PASSWORD": ""}, "PAYJOURNEY_SMTP_PASSWORD"),
        ({"PAYJOURNEY_SMS_PROVIDER": "sinch"}, "PAYJOURNEY_SMS_PROVIDER='sinch'"),
        (
            {"PAYJOURNEY_WHATSAPP_TEMPLATES": "/nonexistent/wa.json"},
            "PAYJOURNEY_WHATSAPP_TEMPLATES",
        ),
        ({"PAYJOURNEY_CHANNELS": ""}, "PAYJOURNEY_CHANNELS"),
    ],
)
def test_a_wrong_setting_is_named(tmp_path: Path, changes: dict[str, str], named: str) -> None:
    with pytest.raises(ChannelConfigError, match=named.replace("(", r"\(")):
        build_channels(full_env(tmp_path) | changes)


def test_callback_handlers_exist_for_providers_with_secrets() -> None:
    handlers = build_callback_handlers(
        {"PAYJOURNEY_TWILIO_AUTH_TOKEN": "t", "PAYJOURNEY_WHATSAPP_APP_SECRET": "s"}
    )
    assert set(handlers) == {"twilio", "whatsapp"}


def test_channels_built_from_the_environment_send_and_their_callbacks_verify(
    tmp_path: Path,
) -> None:
    """From variables alone: Twilio sends to the (local) API, and its signed callback parses."""
    from tests.channels.conftest import PHONE, ChannelCase
    from tests.channels.providers import TwilioFake
    from tests.channels.servers import CallbackReceiver, ProviderServer

    server, receiver = ProviderServer(), CallbackReceiver()
    fake = TwilioFake(server)
    env = {
        "PAYJOURNEY_CHANNELS": "sms",
        "PAYJOURNEY_SMS_PROVIDER": "twilio",
        "PAYJOURNEY_TWILIO_ACCOUNT_SID": fake.account_sid,
        "PAYJOURNEY_TWILIO_AUTH_TOKEN": fake.auth_token,
        "PAYJOURNEY_TWILIO_FROM": "+3197010000000",
        "PAYJOURNEY_TWILIO_STATUS_CALLBACK_URL": f"{receiver.url}/v1/webhooks/twilio",
        "PAYJOURNEY_TWILIO_BASE_URL": server.url,
    }
    try:
        sms = build_channels(env)["sms"]
        case = ChannelCase(name="env", channel=sms, recipient=PHONE, seen_keys=fake.seen_keys)
        receipt = sms.send(case.message("env-1"))
        fake.callback(receipt.provider_message_id, "delivered")
        (delivered,) = build_callback_handlers(env)["twilio"](receiver.received()[-1])
        assert (delivered.provider_message_id, delivered.status, delivered.idempotency_key) == (
            receipt.provider_message_id,
            "delivered",
            "env-1",
        )
        sms.close()
    finally:
        server.stop()
        receiver.stop()
