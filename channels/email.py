"""Email over SMTP: one MIME message per OutgoingMessage, sent with STARTTLS or implicit TLS.

The Message-ID is derived from the idempotency key, so a retried send carries the same id (and
DSN bounces name it). HTML and text travel as multipart/alternative; images as inline CID parts
(mail clients block the `data:` URIs the rendered HTML uses, so those are lifted into parts
here); the letter PDF as an attachment. `Auto-Submitted: auto-generated` keeps auto-responders
quiet. SMTP 4xx is transient, a 5xx on RCPT permanent for this address.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import functools
import hashlib
import logging
import re
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from channels.base import (
    ChannelConfigError,
    ChannelError,
    OutgoingMessage,
    PermanentChannelError,
    Receipt,
    TransientChannelError,
)
from channels.mime import email_bytes
from channels.receipts import accepted

log = logging.getLogger(__name__)

PROVIDER = "smtp"
Security = Literal["starttls", "tls", "none"]
SECURITY_MODES: tuple[Security, ...] = ("starttls", "tls", "none")


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpSettings:
    """Where and how to send: `security` is starttls (port 587), tls (465) or none (tests only)."""

    host: str
    port: int
    sender: str
    security: Security = "starttls"
    username: str | None = None
    password: str | None = None
    reply_to: str | None = None
    message_id_domain: str | None = None
    timeout: float = 30.0
    ssl_context: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        if self.security not in SECURITY_MODES:
            raise ChannelConfigError(
                f"SMTP security {self.security!r} is not one of {SECURITY_MODES} "
                "(set PAYJOURNEY_SMTP_SECURITY)"
            )
        if (self.username is None) != (self.password is None):
            raise ChannelConfigError(
                "SMTP authentication needs both PAYJOURNEY_SMTP_USERNAME and PAYJOURNEY_SMTP_PASSWORD"
            )
        if "@" not in self.sender:
            raise ChannelConfigError(
                f"the SMTP sender {self.sender!r} is not an email address (PAYJOURNEY_SMTP_FROM)"
            )

    @property
    def domain(self) -> str:
        return self.message_id_domain or _domain_of(self.sender)


@functools.lru_cache(maxsize=64)
def _domain_of(address: str) -> str:
    """The domain of an address (parsed once: parseaddr twice per message was 1 % of a send)."""
    return email.utils.parseaddr(address)[1].rpartition("@")[2]


#: The envelope sender quoted for MAIL FROM (the same for every message).
_quoted_sender = functools.lru_cache(maxsize=64)(smtplib.quoteaddr)


def message_id(idempotency_key: str, domain: str) -> str:
    """The stable Message-ID for a key: the same key always gives the same id, `<hex@domain>`."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]
    return f"<{digest}@{domain}>"


def build_email(
    message: OutgoingMessage, settings: SmtpSettings, *, now: dt.datetime | None = None
) -> bytes:
    """The MIME message exactly as it is sent (channels/mime.py builds the body)."""
    headers = {
        "From": settings.sender,
        "To": message.recipient,
        "Subject": message.subject or "",
        "Date": email.utils.format_datetime(now or dt.datetime.now(dt.UTC)),
        "Message-ID": message_id(message.idempotency_key, settings.domain),
        "Auto-Submitted": "auto-generated",
        "X-Auto-Response-Suppress": "All",
    }
    if settings.reply_to:
        headers["Reply-To"] = settings.reply_to
    headers["Content-Language"] = message.locale.replace("_", "-")
    return email_bytes(message, headers)


def _code_text(code: int, text: bytes | str) -> str:
    """`550 5.1.1` from an SMTP reply: the reply code and its enhanced status when there is one."""
    raw = text.decode(errors="replace") if isinstance(text, bytes) else text
    enhanced = re.match(r"\s*([245]\.\d{1,3}\.\d{1,3})", raw)
    return f"{code} {enhanced.group(1)}" if enhanced else str(code)


def _reply_error(code: int, text: bytes | str, *, what: str, permanent_5xx: bool) -> ChannelError:
    shown = _code_text(code, text)
    if 400 <= code < 500 or not permanent_5xx:
        return TransientChannelError(
            f"the SMTP server deferred {what}", provider=PROVIDER, code=shown
        )
    return PermanentChannelError(f"the SMTP server refused {what}", provider=PROVIDER, code=shown)


def classify_smtp(exc: Exception) -> ChannelError:
    """The channel error for anything smtplib or the socket raised while sending one message."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()))
        return _reply_error(code, text, what="the recipient (RCPT TO)", permanent_5xx=True)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return TransientChannelError(
            "the SMTP server rejected the login; check PAYJOURNEY_SMTP_USERNAME and PAYJOURNEY_SMTP_PASSWORD",
            provider=PROVIDER,
            code=_code_text(exc.smtp_code, exc.smtp_error),
        )
    if isinstance(exc, smtplib.SMTPSenderRefused):
        # our own sender address, not the debtor's: never blame the recipient for it
        return _reply_error(
            exc.smtp_code,
            exc.smtp_error,
            what="the sender (check PAYJOURNEY_SMTP_FROM)",
            permanent_5xx=False,
        )
    if isinstance(exc, smtplib.SMTPDataError):
        return _reply_error(
            exc.smtp_code, exc.smtp_error, what="the message content", permanent_5xx=True
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return TransientChannelError(
            f"the SMTP server does not support what we asked ({exc}); check PAYJOURNEY_SMTP_SECURITY",
            provider=PROVIDER,
            code="not-supported",
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        return _reply_error(exc.smtp_code, exc.smtp_error, what="the message", permanent_5xx=False)
    if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
        return TransientChannelError(
            "the SMTP server did not answer in time", provider=PROVIDER, code="timeout"
        )
    if isinstance(exc, ssl.SSLError):
        return TransientChannelError(
            f"TLS with the SMTP server failed ({exc.reason}); check PAYJOURNEY_SMTP_SECURITY and the port",
            provider=PROVIDER,
            code="tls",
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected | OSError):
        return TransientChannelError(
            f"could not talk to the SMTP server ({type(exc).__name__}); check PAYJOURNEY_SMTP_HOST and PORT",
            provider=PROVIDER,
            code="connection",
        )
    return TransientChannelError(
        f"SMTP failed: {type(exc).__name__}", provider=PROVIDER, code="smtp"
    )


_LEADING_DOT = re.compile(rb"(?m)^\.")


def send_mail(smtp: smtplib.SMTP, sender: str, recipient: str, mail: bytes) -> None:
    """One message to one recipient, raising what smtplib's `sendmail` raises.

    When the server offers PIPELINING (RFC 2920; Postfix, Exim and the big providers do), MAIL,
    RCPT and DATA go out in one write and their three replies are read together, then the
    content: two round trips instead of four. Otherwise smtplib's own `sendmail`."""
    if not smtp.has_extn("pipelining"):
        smtp.sendmail(sender, [recipient], mail)
        return
    size = f" SIZE={len(mail)}" if smtp.has_extn("size") else ""
    smtp.send(
        f"MAIL FROM:{_quoted_sender(sender)}{size}\r\n"
        f"RCPT TO:{smtplib.quoteaddr(recipient)}\r\n"
        "DATA\r\n"
    )
    mail_code, mail_reply = smtp.getreply()
    if mail_code == 421:  # the server is closing the connection: no further replies come
        smtp.close()
        raise smtplib.SMTPSenderRefused(mail_code, mail_reply, sender)
    rcpt_code, rcpt_reply = smtp.getreply()
    data_code, data_reply = smtp.getreply()
    envelope_ok = mail_code == 250 and rcpt_code in (250, 251)
    if data_code == 354 and not envelope_ok:
        # content expected after a refused envelope: this conversation cannot be resumed
        smtp.close()
    if mail_code != 250:
        raise smtplib.SMTPSenderRefused(mail_code, mail_reply, sender)
    if rcpt_code not in (250, 251):
        raise smtplib.SMTPRecipientsRefused({recipient: (rcpt_code, rcpt_reply)})
    if data_code != 354:
        raise smtplib.SMTPDataError(data_code, data_reply)
    content = _LEADING_DOT.sub(b"..", mail)  # as smtplib's `data` quotes it
    if not content.endswith(b"\r\n"):
        content += b"\r\n"
    smtp.send(content + b".\r\n")
    code, reply = smtp.getreply()
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)


#: A connection idle for longer than this is checked with a NOOP before it carries a message;
#: one in use is not (a NOOP per message was a fifth of a send on loopback).
IDLE_CHECK_SECONDS = 5.0


class SmtpEmailChannel:
    """The email channel: one SMTP connection, opened on first send and reopened after a failure."""

    name = "email"
    provider = PROVIDER

    def __init__(
        self,
        settings: SmtpSettings,
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._smtp: smtplib.SMTP | None = None
        self._last_used = 0.0  # time.monotonic() of the connection's last conversation
        self._lock = threading.Lock()  # one SMTP conversation at a time on the shared connection

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        context = s.ssl_context or ssl.create_default_context()
        smtp: smtplib.SMTP
        if s.security == "tls":
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        try:
            smtp.ehlo()
            if s.security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.username is not None and s.password is not None:
                smtp.login(s.username, s.password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message: OutgoingMessage) -> Receipt:
        with self._lock:
            return self._send(message)

    def _send(self, message: OutgoingMessage) -> Receipt:
        if message.channel != self.name:
            raise ValueError(f"the email channel cannot send a {message.channel} message")
        now = self._clock()
        try:
            mail = build_email(message, self.settings, now=now)
        except ValueError as exc:  # an address this message can never be sent to
            raise PermanentChannelError(str(exc), provider=PROVIDER, code="address") from exc
        self._drop_if_stale()
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            send_mail(self._smtp, self.settings.sender, message.recipient, mail)
            self._last_used = time.monotonic()
        except Exception as exc:
            error = classify_smtp(exc)
            if not isinstance(exc, smtplib.SMTPRecipientsRefused | smtplib.SMTPDataError):
                self._drop_connection()
            else:
                self._reset()
            log.info(
                "email %s not sent: %s",
                message.idempotency_key,
                type(error).__name__,
                extra={"code": error.code},
            )
            raise error from exc
        return accepted(
            message,
            provider=PROVIDER,
            provider_message_id=message_id(message.idempotency_key, self.settings.domain),
            at=now,
        )

    def _drop_if_stale(self) -> None:
        """Servers close idle connections; a NOOP before reusing one that sat idle finds out
        without risking a message."""
        if self._smtp is None or time.monotonic() - self._last_used < IDLE_CHECK_SECONDS:
            return
        try:
            code, _ = self._smtp.noop()
        except (smtplib.SMTPException, OSError):
            code = 0
        if code != 250:
            self._drop_connection()

    def _reset(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.rset()
            except (smtplib.SMTPException, OSError):
                self._drop_connection()

    def _drop_connection(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

    def close(self) -> None:
        with self._lock:
            self._drop_connection()
