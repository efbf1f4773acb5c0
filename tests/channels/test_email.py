"""Email over SMTP as a mail server receives it, parsed back with the `email` package."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from channels.base import Attachment, OutgoingMessage, TransientChannelError
from channels.email import SmtpEmailChannel, message_id
from tests.channels.conftest import EMAIL, SmtpTls, letter_pdf, qr_png, smtp_login, smtp_settings
from tests.channels.servers import SmtpRecorder, smtp_controller

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
LOGO = Attachment(filename="logo.png", content_type="image/png", data=qr_png(), content_id="logo")


def reminder(key: str = "C-1001/step-2/email/1") -> OutgoingMessage:
    qr = base64.b64encode(qr_png()).decode()
    return OutgoingMessage(
        idempotency_key=key,
        channel="email",
        recipient=EMAIL,
        locale="nl_NL",
        subject="Herinnering: factuur F-2026-001 staat open",
        text="Beste Jan,\n\nUw factuur van € 1.234,50 staat nog open.",
        html=f'<p>Beste Jan,</p><img src="cid:logo"><p>Scan: <img alt="QR" src="data:image/png;base64,{qr}"></p>',
        attachments=(LOGO, letter_pdf()),
    )


def received(handler: SmtpRecorder, index: int = -1) -> EmailMessage:
    parsed = message_from_bytes(handler.messages[index], policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_the_debtor_gets_text_and_html_alternatives_the_pdf_and_inline_images(
    smtp_case: object, smtp_server: tuple[SmtpRecorder, int], smtp_tls: SmtpTls
) -> None:
    """Both alternatives, the letter PDF as attachment, the logo and the QR as cid: parts."""
    handler, port = smtp_server
    channel = SmtpEmailChannel(smtp_settings(port, smtp_tls))
    channel.send(reminder())
    channel.close()
    mail = received(handler)
    assert mail.get_content_type() == "multipart/mixed"
    text = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert text is not None and "€ 1.234,50" in text.get_content()
    assert html is not None and "Beste Jan" in html.get_content()
    assert "data:" not in html.get_content()
    related = [p for p in mail.walk() if p.get_content_type() == "multipart/related"]
    assert len(related) == 1
    images = [p for p in mail.walk() if p.get_content_type() == "image/png"]
    cids = {str(p["Content-ID"]).strip("<>") for p in images}
    assert "logo" in cids and len(cids) == 2
    for cid in cids:
        assert f"cid:{cid}" in html.get_content()
    (pdf,) = [p for p in mail.iter_attachments() if p.get_content_type() == "application/pdf"]
    assert pdf.get_filename() == "herinnering.pdf"
    assert pdf.get_content() == letter_pdf().data


def test_headers_mark_the_mail_automatic_with_the_credit_teams_reply_to(
    smtp_server: tuple[SmtpRecorder, int], smtp_tls: SmtpTls
) -> None:
    """Auto-Submitted keeps auto-responders quiet; replies go to the credit team."""
    handler, port = smtp_server
    channel = SmtpEmailChannel(smtp_settings(port, smtp_tls))
    channel.send(reminder())
    channel.close()
    mail = received(handler)
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["Reply-To"] == "credit-team@example.nl"
    assert mail["To"] == EMAIL
    assert mail["Content-Language"] == "nl-NL"
    assert handler.envelopes[-1] == ("debiteuren@example.nl", [EMAIL])


def test_the_same_key_gives_the_same_message_id_and_another_key_another(
    smtp_server: tuple[SmtpRecorder, int], smtp_tls: SmtpTls
) -> None:
    """A retried send carries the Message-ID of the first try, so receivers and DSNs match it."""
    handler, port = smtp_server
    channel = SmtpEmailChannel(smtp_settings(port, smtp_tls))
    first = channel.send(reminder("k-1"))
    again = channel.send(reminder("k-1"))
    other = channel.send(reminder("k-2"))
    channel.close()
    ids = [received(handler, i)["Message-ID"] for i in range(3)]
    assert (
        ids[0]
        == ids[1]
        == first.provider_message_id
        == again.provider_message_id
        == message_id("k-1", "example.nl")
    )
    assert ids[2] == other.provider_message_id != ids[0]


@pytest.fixture
def implicit_tls_server(smtp_tls: SmtpTls) -> Iterator[tuple[SmtpRecorder, int]]:
    handler = SmtpRecorder()
    controller = smtp_controller(
        handler,
        ssl_context=smtp_tls.server_context,
        authenticator=smtp_login,
        auth_required=True,
        auth_require_tls=False,  # aiosmtpd only knows STARTTLS as TLS; this session is TLS from the start
    )
    controller.start()
    yield handler, controller.port
    controller.stop()


def test_implicit_tls_with_login_delivers(
    implicit_tls_server: tuple[SmtpRecorder, int], smtp_tls: SmtpTls
) -> None:
    """Port-465 style: TLS from the first byte, then AUTH."""
    handler, port = implicit_tls_server
    channel = SmtpEmailChannel(smtp_settings(port, smtp_tls, security="tls"))
    channel.send(reminder())
    channel.close()
    assert len(handler.messages) == 1


def test_a_wrong_password_is_transient_and_names_the_variables(
    smtp_server: tuple[SmtpRecorder, int], smtp_tls: SmtpTls
) -> None:
    """Bad credentials are the operator's to fix, never the debtor's address that failed."""
    handler, port = smtp_server
    channel = SmtpEmailChannel(smtp_settings(port, smtp_tls, password="wrong"))
    with pytest.raises(TransientChannelError, match="PAYJOURNEY_SMTP_PASSWORD") as caught:
        channel.send(reminder())
    channel.close()
    assert caught.value.code is not None and caught.value.code.startswith("535")
    assert handler.messages == []


def test_plain_text_mail_without_html_still_carries_the_pdf(
    smtp_server: tuple[SmtpRecorder, int], smtp_tls: SmtpTls
) -> None:
    """A step without HTML sends text/plain with the attachment."""
    handler, port = smtp_server
    channel = SmtpEmailChannel(
        smtp_settings(port, smtp_tls), clock=lambda: dt.datetime(2026, 11, 24, 9, tzinfo=dt.UTC)
    )
    channel.send(
        OutgoingMessage(
            idempotency_key="t",
            channel="email",
            recipient=EMAIL,
            locale="de_DE",
            text="Hallo",
            attachments=(letter_pdf(),),
        )
    )
    channel.close()
    mail = received(handler)
    assert [p.get_content_type() for p in mail.iter_parts()] == ["text/plain", "application/pdf"]
    assert mail["Date"] == "Tue, 24 Nov 2026 09:00:00 +0000"


def test_a_connection_the_server_closed_while_idle_is_reopened(
    smtp_server: tuple[SmtpRecorder, int], smtp_tls: SmtpTls
) -> None:
    """The next send after the server dropped the idle connection still goes out."""
    from channels.email import IDLE_CHECK_SECONDS

    handler, port = smtp_server
    channel = SmtpEmailChannel(smtp_settings(port, smtp_tls))
    channel.send(reminder("k-1"))
    assert channel._smtp is not None
    channel._smtp.sock.close()  # what an idle timeout on the server side looks like to us
    channel._last_used -= IDLE_CHECK_SECONDS  # ... after the connection sat idle that long
    channel.send(reminder("k-2"))
    channel.close()
    assert len(handler.messages) == 2


def test_a_recipient_address_that_is_not_ascii_is_a_permanent_failure_not_a_crash(
    smtp_server: tuple[SmtpRecorder, int], smtp_tls: SmtpTls
) -> None:
    """The channel does not speak SMTPUTF8: the address is refused by name, nothing is sent."""
    from channels.base import PermanentChannelError

    handler, port = smtp_server
    channel = SmtpEmailChannel(smtp_settings(port, smtp_tls))
    message = reminder()
    umlaut = OutgoingMessage(**{**_fields(message), "recipient": "jürgen@müller.de"})
    with pytest.raises(PermanentChannelError, match="punycode"):
        channel.send(umlaut)
    channel.close()
    assert handler.messages == []


def _fields(message: OutgoingMessage) -> dict[str, object]:
    return {name: getattr(message, name) for name in message.__dataclass_fields__}


def _writes(channel: SmtpEmailChannel, message: OutgoingMessage) -> int:
    """How many writes the channel's SMTP connection makes to send `message` (connected)."""
    assert channel._smtp is not None
    smtp, writes = channel._smtp, []
    plain = smtp.send

    def counted(data: str | bytes) -> None:
        writes.append(data)
        plain(data)

    smtp.send = counted  # type: ignore[method-assign]
    channel.send(message)
    smtp.send = plain  # type: ignore[method-assign]
    return len(writes)


@pytest.mark.parametrize("pipelining", [True, False])
def test_a_server_offering_pipelining_gets_envelope_and_content_in_two_writes(
    smtp_tls: SmtpTls, pipelining: bool
) -> None:
    """With PIPELINING (RFC 2920) MAIL, RCPT and DATA go in one write, the content in a second;
    a server without it is spoken to one command at a time. Either way the message, the
    envelope and a leading dot in the text arrive intact."""
    handler = SmtpRecorder(pipelining=pipelining)
    controller = smtp_controller(
        handler, tls_context=smtp_tls.server_context, authenticator=smtp_login, auth_required=True
    )
    controller.start()
    try:
        channel = SmtpEmailChannel(smtp_settings(controller.port, smtp_tls))
        channel.send(reminder("k-1"))  # connects
        dotted = OutgoingMessage(**{**_fields(reminder("k-2")), "text": "Beste Jan,\n.\n..punt"})
        writes = _writes(channel, dotted)
        channel.close()
    finally:
        controller.stop()
    assert (writes == 2) is pipelining and writes >= 2
    assert [received(handler, i)["Message-ID"] for i in (0, 1)] == [
        message_id(key, "example.nl") for key in ("k-1", "k-2")
    ]
    assert handler.envelopes[1] == ("debiteuren@example.nl", [EMAIL])
    body = received(handler, 1).get_body(("plain",))
    assert body is not None
    assert body.get_content().replace("\r\n", "\n").startswith("Beste Jan,\n.\n..punt")
