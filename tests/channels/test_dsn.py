"""Bounces: RFC 3464 delivery status notifications become receipts on the original message."""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage

import pytest

from channels.base import OutgoingMessage
from channels.dsn import parse_dsn
from channels.email import build_email
from channels.receipts import CallbackRejected
from tests.channels.conftest import EMAIL, SmtpTls, dsn_for, smtp_settings


def original(key: str = "C-1/step-1/email/1") -> bytes:
    message = OutgoingMessage(
        idempotency_key=key,
        channel="email",
        recipient=EMAIL,
        locale="nl_NL",
        subject="Herinnering",
        text="Beste Jan",
    )
    settings = smtp_settings(587, SmtpTls(None, None))  # type: ignore[arg-type]
    return build_email(message, settings)


def test_a_user_unknown_bounce_is_hard_and_names_the_original_message_id() -> None:
    """5.1.1 user unknown: stop emailing this address."""
    sent = original()
    (bounce,) = parse_dsn(dsn_for(sent, status="5.1.1"))
    assert bounce.status == "bounced"
    assert bounce.severity == "hard" and bounce.permanent
    assert bounce.code == "5.1.1"
    assert bounce.provider_message_id == build_email_id(sent)
    assert bounce.detail is not None and bounce.detail.startswith("550 5.1.1")
    assert bounce.occurred_at == dt.datetime(
        2026, 11, 24, 9, 31, 1, tzinfo=dt.timezone(dt.timedelta(hours=1))
    )


def build_email_id(raw: bytes) -> str:
    from email import message_from_bytes

    return str(message_from_bytes(raw)["Message-ID"])


def test_a_full_mailbox_is_a_soft_bounce() -> None:
    """4.2.2 mailbox full: the address may work later."""
    (bounce,) = parse_dsn(dsn_for(original(), status="4.2.2"))
    assert bounce.status == "bounced" and bounce.severity == "soft" and not bounce.permanent


def test_a_delay_warning_is_not_a_bounce() -> None:
    """`Action: delayed` only says the MTA keeps trying."""
    assert parse_dsn(dsn_for(original(), action="delayed", status="4.4.1")) == ()


def test_a_returned_full_message_names_its_message_id_too() -> None:
    """Some MTAs return the whole message (message/rfc822) instead of its headers."""
    sent = original("k-full")
    raw = dsn_for(sent).replace(
        b"Content-Type: text/rfc822-headers", b"Content-Type: message/rfc822"
    )
    (bounce,) = parse_dsn(raw)
    assert bounce.provider_message_id == build_email_id(sent)


def test_an_ordinary_mail_is_refused_as_not_a_dsn() -> None:
    """A reply from the debtor handed to the bounce endpoint is not a bounce."""
    mail = EmailMessage()
    mail["Subject"] = "Re: Herinnering"
    mail.set_content("Ik heb al betaald.")
    with pytest.raises(CallbackRejected, match="not an RFC 3464"):
        parse_dsn(mail.as_bytes())


def test_a_dsn_without_the_original_headers_is_refused_with_the_fix() -> None:
    """Without the returned headers nothing says which message bounced."""
    raw = (
        dsn_for(original()).split(b"--dsn-boundary\r\nContent-Type: text/rfc822-headers")[0]
        + b"--dsn-boundary--\r\n"
    )
    with pytest.raises(CallbackRejected, match="RET=HDRS"):
        parse_dsn(raw)
