"""The channel contract's cases: every adapter against a real server on loopback.

Each `<name>_case` fixture builds one adapter against its provider fake and says how to make a
message, what the provider saw, how to provoke each failure, and how its delivery receipts come
back. `CONTRACT_CASES` lists them; the contract suite (test_contract.py) runs on each. To add an
adapter (the outbox, say), write an `outbox_case` fixture returning a ChannelCase and append
"outbox" to CONTRACT_CASES.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
import segno
import trustme
from aiosmtpd.smtp import AuthResult, LoginPassword
from fpdf import FPDF

from channels.base import (
    Attachment,
    Channel,
    ChannelError,
    OutgoingMessage,
    PermanentChannelError,
    Receipt,
    TransientChannelError,
)
from channels.dsn import parse_dsn
from channels.email import SmtpEmailChannel, SmtpSettings, message_id
from channels.letter import (
    DropFolderLetterChannel,
    DropFolderSettings,
    PingenLetterChannel,
    PingenSettings,
    parse_pingen_webhook,
)
from channels.outbox import OutboxChannel
from channels.phone import PhoneTaskChannel, PhoneTaskSettings
from channels.receipts import DeliveryReceipt, ReplayGuard
from channels.sms.messagebird import (
    MessageBirdSettings,
    MessageBirdSmsChannel,
    parse_messagebird_report,
)
from channels.sms.twilio import TwilioSettings, TwilioSmsChannel, parse_twilio_callback
from channels.whatsapp import (
    ProviderTemplate,
    WhatsAppChannel,
    WhatsAppSettings,
    parse_whatsapp_webhook,
)
from tests.channels.providers import (
    INVALID_NUMBER,
    MessageBirdFake,
    PingenFake,
    TaskSystemFake,
    TwilioFake,
    WhatsAppFake,
)
from tests.channels.servers import (
    CallbackReceiver,
    ProviderServer,
    Reply,
    SmtpRecorder,
    smtp_controller,
)

#: Every adapter the contract suite runs on. The outbox (channels/outbox.py) joins by name.
CONTRACT_CASES = [
    "smtp",
    "twilio",
    "messagebird",
    "whatsapp",
    "pingen",
    "drop_folder",
    "phone_task",
    "outbox",
]

CLIENT_TIMEOUT = 0.5  # seconds; the "timeout" failure makes the server answer later than this
SLOW = 1.5
PHONE = "+31612345678"
EMAIL = "j.de.vries@example.nl"
ADDRESS = "Jan de Vries\nKeizersgracht 1\n1015 CJ Amsterdam"
BODY = "Uw factuur F-2026-001 van € 1.234,50 staat nog open. Betaal via https://pay.example/abc"


@dataclass(kw_only=True)
class Failure:
    """How to make the provider fail one way, and what the adapter must raise."""

    arm: Callable[[OutgoingMessage], OutgoingMessage]
    expected: type[ChannelError]
    code: str
    retry_after: dt.timedelta | None = None
    restore: Callable[[], None] = lambda: None


@dataclass(kw_only=True)
class ChannelCase:
    name: str
    channel: Channel
    recipient: str
    seen_keys: Callable[[], list[str]]
    failures: dict[str, Failure] = field(default_factory=dict)
    #: (receipt, status) -> the receipts our parser made of the provider's real callback
    deliver: Callable[[Receipt, str], tuple[DeliveryReceipt, ...]] | None = None
    template: str | None = None
    with_pdf: bool = False
    #: how the key shows on the provider's side (email: the Message-ID derived from it)
    key_as_seen: Callable[[str], str] = lambda key: key

    def message(self, key: str, **changes: object) -> OutgoingMessage:
        attachments: tuple[Attachment, ...] = (letter_pdf(),) if self.with_pdf else ()
        base = OutgoingMessage(
            idempotency_key=key,
            channel=self.channel.name,
            recipient=self.recipient,
            locale="nl_NL",
            subject="Herinnering: factuur F-2026-001",
            text=BODY,
            html=None,
            attachments=attachments,
            customer_id="C-1001",
            template=self.template,
            template_parameters=("Jan", "€ 1.234,50"),
            metadata={
                "amount": "1234.50",
                "currency": "EUR",
                "payment_link": "https://pay.example/abc",
            },
        )
        return replace(base, **changes)  # type: ignore[arg-type]


def letter_pdf(pages: int = 2) -> Attachment:
    pdf = FPDF()
    pdf.set_creation_date(
        dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
    )  # the same bytes every call
    pdf.set_font("Helvetica", size=12)
    for page in range(pages):
        pdf.add_page()
        pdf.cell(text=f"Jan de Vries, Keizersgracht 1 - page {page + 1}")
    return Attachment(
        filename="herinnering.pdf", content_type="application/pdf", data=bytes(pdf.output())
    )


def qr_png() -> bytes:
    out = io.BytesIO()
    segno.make("BCD\n002\n1\nSCT").save(out, kind="png", scale=2)
    return out.getvalue()


@pytest.fixture
def http_server() -> Iterator[ProviderServer]:
    server = ProviderServer()
    yield server
    server.stop()


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    server = CallbackReceiver()
    yield server
    server.stop()


def _http_failures(
    server: ProviderServer,
    *,
    rate_limited: Reply,
    rate_code: str,
    server_error: Reply,
    server_code: str,
    invalid_code: str,
) -> dict[str, Failure]:
    def queue(reply: Reply) -> Callable[[OutgoingMessage], OutgoingMessage]:
        def arm(message: OutgoingMessage) -> OutgoingMessage:
            server.fail_next(reply)
            return message

        return arm

    return {
        "rate_limited": Failure(
            arm=queue(rate_limited),
            expected=TransientChannelError,
            code=rate_code,
            retry_after=dt.timedelta(seconds=7),
        ),
        "server_error": Failure(
            arm=queue(server_error), expected=TransientChannelError, code=server_code
        ),
        "timeout": Failure(
            arm=queue(Reply(200, {}, delay=SLOW)), expected=TransientChannelError, code="timeout"
        ),
        "invalid_recipient": Failure(
            arm=lambda m: replace(m, recipient=INVALID_NUMBER),
            expected=PermanentChannelError,
            code=invalid_code,
        ),
    }


# --- email ------------------------------------------------------------------------------------


@dataclass
class SmtpTls:
    server_context: ssl.SSLContext
    client_context: ssl.SSLContext


@pytest.fixture(scope="session")
def smtp_tls() -> SmtpTls:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    return SmtpTls(server_context, client_context)


def smtp_login(
    server: object, session: object, envelope: object, mechanism: str, auth_data: object
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"credit-team",
        b"s3cret",
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_server(smtp_tls: SmtpTls) -> Iterator[tuple[SmtpRecorder, int]]:
    """aiosmtpd with STARTTLS required and AUTH, as a real submission server (port 587) is."""
    handler = SmtpRecorder()
    controller = smtp_controller(
        handler,
        tls_context=smtp_tls.server_context,
        require_starttls=True,
        authenticator=smtp_login,
        auth_required=True,
    )
    controller.start()
    yield handler, controller.port
    controller.stop()


def smtp_settings(port: int, tls: SmtpTls, **changes: object) -> SmtpSettings:
    settings = SmtpSettings(
        host="127.0.0.1",
        port=port,
        sender="Debiteurenbeheer <debiteuren@example.nl>",
        security="starttls",
        username="credit-team",
        password="s3cret",
        reply_to="credit-team@example.nl",
        timeout=CLIENT_TIMEOUT,
        ssl_context=tls.client_context,
    )
    return replace(settings, **changes)  # type: ignore[arg-type]


def dsn_for(original: bytes, *, action: str = "failed", status: str = "5.1.1") -> bytes:
    """A delivery status notification as Postfix writes it, about `original`."""
    sent = message_from_bytes(original, policy=policy.default)
    report = EmailMessage()
    report["From"] = "MAILER-DAEMON@mx.example.nl (Mail Delivery System)"
    report["To"] = "debiteuren@example.nl"
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Date"] = "Tue, 24 Nov 2026 09:31:02 +0100"
    report.set_content(
        "This is the mail system at host mx.example.nl.\n\nI'm sorry to have to inform you..."
    )
    report.make_mixed()
    report.replace_header(
        "Content-Type", 'multipart/report; report-type=delivery-status; boundary="dsn-boundary"'
    )
    status_text = (
        "Reporting-MTA: dns; mx.example.nl\n"
        "Arrival-Date: Tue, 24 Nov 2026 09:30:58 +0100\n"
        "\n"
        f"Final-Recipient: rfc822; {sent['To']}\n"
        f"Original-Recipient: rfc822;{sent['To']}\n"
        f"Action: {action}\n"
        f"Status: {status}\n"
        "Remote-MTA: dns; mail.example.nl\n"
        f"Diagnostic-Code: smtp; 550 {status} <{sent['To']}>: Recipient address\n"
        "    rejected: User unknown in virtual mailbox table\n"
        "Last-Attempt-Date: Tue, 24 Nov 2026 09:31:01 +0100\n"
    )
    headers_only = b"".join(original.partition(b"\r\n\r\n")[:2])
    raw = (
        bytes(report)
        .split(b"--dsn-boundary--")[0]
        .replace(b"--dsn-boundary\n", b"--dsn-boundary\r\n")
    )
    raw += (
        b"--dsn-boundary\r\nContent-Type: message/delivery-status\r\n\r\n"
        + status_text.replace("\n", "\r\n").encode()
        + b"\r\n--dsn-boundary\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        + headers_only
        + b"\r\n--dsn-boundary--\r\n"
    )
    return raw


@pytest.fixture
def smtp_case(smtp_server: tuple[SmtpRecorder, int], smtp_tls: SmtpTls) -> Iterator[ChannelCase]:
    handler, port = smtp_server
    channel = SmtpEmailChannel(smtp_settings(port, smtp_tls))

    def seen_keys() -> list[str]:
        return [str(message_from_bytes(m)["Message-ID"]) for m in handler.messages]

    def rcpt(reply: str) -> Callable[[OutgoingMessage], OutgoingMessage]:
        def arm(message: OutgoingMessage) -> OutgoingMessage:
            handler.rcpt_replies.append(reply)
            return message

        return arm

    def mail(reply: str) -> Callable[[OutgoingMessage], OutgoingMessage]:
        def arm(message: OutgoingMessage) -> OutgoingMessage:
            handler.mail_replies.append(reply)
            return message

        return arm

    def slow(message: OutgoingMessage) -> OutgoingMessage:
        handler.data_delay = SLOW
        return message

    def deliver(receipt: Receipt, status: str) -> tuple[DeliveryReceipt, ...]:
        original = next(
            m
            for m in handler.messages
            if message_from_bytes(m)["Message-ID"] == receipt.provider_message_id
        )
        if status == "delivered":
            return parse_dsn(dsn_for(original, action="delivered", status="2.0.0"))
        return parse_dsn(dsn_for(original))

    case = ChannelCase(
        name="smtp",
        channel=channel,
        recipient=EMAIL,
        seen_keys=seen_keys,
        key_as_seen=lambda key: message_id(key, "example.nl"),
        failures={
            "deferred": Failure(
                arm=rcpt("451 4.3.0 Try again later"),
                expected=TransientChannelError,
                code="451 4.3.0",
            ),
            "invalid_recipient": Failure(
                arm=rcpt("550 5.1.1 User unknown"), expected=PermanentChannelError, code="550 5.1.1"
            ),
            "server_error": Failure(
                arm=mail("421 4.7.0 Too many connections, closing"),
                expected=TransientChannelError,
                code="421 4.7.0",
            ),
            "timeout": Failure(arm=slow, expected=TransientChannelError, code="timeout"),
        },
        deliver=deliver,
    )
    yield case
    channel.close()


# --- SMS ----------------------------------------------------------------------------------------


@pytest.fixture
def twilio_case(http_server: ProviderServer, receiver: CallbackReceiver) -> Iterator[ChannelCase]:
    fake = TwilioFake(http_server)
    channel = TwilioSmsChannel(
        TwilioSettings(
            account_sid=fake.account_sid,
            auth_token=fake.auth_token,
            sender="+3197010000000",
            status_callback_url=f"{receiver.url}/v1/webhooks/twilio",
            base_url=http_server.url,
            timeout=CLIENT_TIMEOUT,
        )
    )
    guard = ReplayGuard()

    def deliver(receipt: Receipt, status: str) -> tuple[DeliveryReceipt, ...]:
        fake.callback(
            receipt.provider_message_id,
            {"failed": "undelivered"}.get(status, status),
            "30003" if status == "failed" else None,
        )
        return parse_twilio_callback(
            receiver.received()[-1], auth_token=fake.auth_token, replay_guard=guard
        )

    yield ChannelCase(
        name="twilio",
        channel=channel,
        recipient=PHONE,
        seen_keys=fake.seen_keys,
        failures=_http_failures(
            http_server,
            rate_limited=Reply(
                429,
                {"code": 20429, "message": "Too Many Requests", "status": 429},
                {"Retry-After": "7"},
            ),
            rate_code="20429",
            server_error=Reply(
                500, {"code": 20500, "message": "Internal Server Error", "status": 500}
            ),
            server_code="20500",
            invalid_code="21211",
        ),
        deliver=deliver,
    )
    channel.close()


@pytest.fixture
def messagebird_case(
    http_server: ProviderServer, receiver: CallbackReceiver
) -> Iterator[ChannelCase]:
    fake = MessageBirdFake(http_server)
    channel = MessageBirdSmsChannel(
        MessageBirdSettings(
            access_key=fake.access_key,
            originator="Incasso",
            report_url=f"{receiver.url}/v1/webhooks/messagebird",
            base_url=http_server.url,
            timeout=CLIENT_TIMEOUT,
        )
    )
    guard = ReplayGuard()

    def deliver(receipt: Receipt, status: str) -> tuple[DeliveryReceipt, ...]:
        fake.callback(
            receipt.provider_message_id,
            {"failed": "delivery_failed"}.get(status, status),
            "1" if status == "failed" else None,
        )
        return parse_messagebird_report(
            receiver.received()[-1], signing_key=fake.signing_key, replay_guard=guard
        )

    yield ChannelCase(
        name="messagebird",
        channel=channel,
        recipient=PHONE,
        seen_keys=fake.seen_keys,
        failures=_http_failures(
            http_server,
            rate_limited=Reply(429, b"Too Many Requests", {"Retry-After": "7"}),
            rate_code="http-429",
            server_error=Reply(
                500, {"errors": [{"code": 99, "description": "Internal error", "parameter": None}]}
            ),
            server_code="99",
            invalid_code="9",
        ),
        deliver=deliver,
    )
    channel.close()


# --- WhatsApp -----------------------------------------------------------------------------------

TEMPLATES = {"reminder-1": {"nl_NL": ProviderTemplate(name="betaalherinnering_1", language="nl")}}


@pytest.fixture
def whatsapp_case(http_server: ProviderServer, receiver: CallbackReceiver) -> Iterator[ChannelCase]:
    fake = WhatsAppFake(http_server, f"{receiver.url}/v1/webhooks/whatsapp")
    channel = WhatsAppChannel(
        WhatsAppSettings(
            token=fake.token,
            phone_number_id=fake.phone_number_id,
            templates=TEMPLATES,
            base_url=http_server.url,
            timeout=CLIENT_TIMEOUT,
        )
    )
    guard = ReplayGuard()

    def deliver(receipt: Receipt, status: str) -> tuple[DeliveryReceipt, ...]:
        fake.callback(receipt.provider_message_id, status, "131026" if status == "failed" else None)
        return parse_whatsapp_webhook(
            receiver.received()[-1], app_secret=fake.app_secret, replay_guard=guard
        )

    yield ChannelCase(
        name="whatsapp",
        channel=channel,
        recipient=PHONE,
        template="reminder-1",
        seen_keys=fake.seen_keys,
        failures=_http_failures(
            http_server,
            rate_limited=Reply(
                429,
                {
                    "error": {
                        "message": "(#130429) Rate limit hit",
                        "type": "OAuthException",
                        "code": 130429,
                    }
                },
                {"Retry-After": "7"},
            ),
            rate_code="130429",
            server_error=Reply(
                500,
                {
                    "error": {
                        "message": "(#131000) Something went wrong",
                        "type": "OAuthException",
                        "code": 131000,
                    }
                },
            ),
            server_code="131000",
            invalid_code="131026",
        ),
        deliver=deliver,
    )
    channel.close()


# --- letters ------------------------------------------------------------------------------------


@pytest.fixture
def pingen_case(http_server: ProviderServer, receiver: CallbackReceiver) -> Iterator[ChannelCase]:
    fake = PingenFake(http_server, f"{receiver.url}/v1/webhooks/pingen")
    channel = PingenLetterChannel(
        PingenSettings(
            client_id=fake.client_id,
            client_secret=fake.client_secret,
            organisation_id=fake.organisation_id,
            api_url=http_server.url,
            identity_url=http_server.url,
            timeout=CLIENT_TIMEOUT,
        )
    )
    guard = ReplayGuard()

    def deliver(receipt: Receipt, status: str) -> tuple[DeliveryReceipt, ...]:
        fake.callback(receipt.provider_message_id, status)
        return parse_pingen_webhook(
            receiver.received()[-1], signing_key=fake.signing_key, replay_guard=guard
        )

    failures = _http_failures(
        http_server,
        rate_limited=Reply(
            429, {"errors": [{"code": "429", "title": "Too Many Requests"}]}, {"Retry-After": "7"}
        ),
        rate_code="429",
        server_error=Reply(500, {"errors": [{"code": "500", "title": "Server Error"}]}),
        server_code="500",
        invalid_code="422",
    )

    def unreadable_address(message: OutgoingMessage) -> OutgoingMessage:
        http_server.fail_next(
            Reply(
                422,
                {
                    "errors": [
                        {
                            "code": "422",
                            "title": "Unprocessable Entity",
                            "detail": "The address could not be read from the address window",
                            "source": {"pointer": "/data/attributes/file_url"},
                        }
                    ]
                },
            )
        )
        return message

    failures["invalid_recipient"] = Failure(
        arm=unreadable_address, expected=PermanentChannelError, code="422"
    )
    yield ChannelCase(
        name="pingen",
        channel=channel,
        recipient=ADDRESS,
        seen_keys=fake.seen_keys,
        failures=failures,
        deliver=deliver,
        with_pdf=True,
    )
    channel.close()


@pytest.fixture
def drop_folder_case(tmp_path: Path) -> Iterator[ChannelCase]:
    folder = tmp_path / "print-house"
    channel = DropFolderLetterChannel(DropFolderSettings(folder=folder, manifest="csv"))

    def block(message: OutgoingMessage) -> OutgoingMessage:
        if folder.exists():
            folder.rename(tmp_path / "print-house.moved")
        folder.write_text("not a folder")
        return message

    def unblock() -> None:
        folder.unlink()
        if (tmp_path / "print-house.moved").exists():
            (tmp_path / "print-house.moved").rename(folder)

    yield ChannelCase(
        name="drop_folder",
        channel=channel,
        recipient=ADDRESS,
        seen_keys=lambda: [row["message_id"] for row in channel.manifest_rows()],
        failures={
            "unwritable": Failure(
                arm=block, expected=TransientChannelError, code="errno-17", restore=unblock
            )
        },
        with_pdf=True,
    )
    channel.close()


# --- the outbox (dry runs) ----------------------------------------------------------------------


@pytest.fixture
def outbox_case(tmp_path: Path) -> Iterator[ChannelCase]:
    folder = tmp_path / "outbox"
    channel = OutboxChannel("sms", folder)

    def block(message: OutgoingMessage) -> OutgoingMessage:
        folder.rename(tmp_path / "outbox.moved")
        folder.write_text("not a folder")
        return message

    def unblock() -> None:
        folder.unlink()
        (tmp_path / "outbox.moved").rename(folder)

    def seen() -> list[str]:
        return [
            json.loads(p.read_text(encoding="utf-8"))["idempotency_key"]
            for p in sorted(folder.glob("*.json"))
        ]

    yield ChannelCase(
        name="outbox",
        channel=channel,
        recipient=PHONE,
        seen_keys=seen,
        failures={
            "unwritable": Failure(
                arm=block, expected=TransientChannelError, code="errno-20", restore=unblock
            )
        },
    )
    channel.close()


# --- phone tasks --------------------------------------------------------------------------------


@pytest.fixture
def phone_task_case(tmp_path: Path, http_server: ProviderServer) -> Iterator[ChannelCase]:
    fake = TaskSystemFake(http_server)
    channel = PhoneTaskChannel(
        PhoneTaskSettings(
            task_file=tmp_path / "calls.jsonl",
            webhook_url=f"{http_server.url}/tasks",
            webhook_token=fake.token,
            timeout=CLIENT_TIMEOUT,
        )
    )
    failures = _http_failures(
        http_server,
        rate_limited=Reply(429, {"error": "slow down"}, {"Retry-After": "7"}),
        rate_code="http-429",
        server_error=Reply(500, {"error": "boom"}),
        server_code="http-500",
        invalid_code="http-400",
    )
    failures["invalid_recipient"] = Failure(
        arm=lambda m: (http_server.fail_next(Reply(400, {"error": "unknown number"})), m)[1],
        expected=PermanentChannelError,
        code="http-400",
    )
    yield ChannelCase(
        name="phone_task",
        channel=channel,
        recipient=PHONE,
        seen_keys=fake.seen_keys,
        failures=failures,
    )
    channel.close()


@pytest.fixture(params=CONTRACT_CASES)
def channel_case(request: pytest.FixtureRequest) -> ChannelCase:
    case: ChannelCase = request.getfixturevalue(f"{request.param}_case")
    return case
