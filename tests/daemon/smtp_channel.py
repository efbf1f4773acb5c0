"""A minimal SMTP channel for the multi-daemon tests and the bench, until channels/email.py is
on this branch (the lead switches these to it at merge). One connection per process, kept open;
the Message-ID is the idempotency key, so the sink can prove no message arrived twice."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import smtplib

from channels.base import (
    Channel,
    OutgoingMessage,
    PermanentChannelError,
    Receipt,
    TransientChannelError,
)
from channels.outbox import email_bytes, message_id

SINK_VAR = "PAYJOURNEY_TEST_SMTP"  # host:port of the sink


class SmtpChannel:
    name = "email"

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._smtp: smtplib.SMTP | None = None

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            self._smtp = smtplib.SMTP(self.host, self.port, timeout=10)
        return self._smtp

    def send(self, message: OutgoingMessage) -> Receipt:
        sender = "debiteuren@voorbeeld.example"
        data = email_bytes(message, sender=sender)
        try:
            self._connection().sendmail(sender, [message.recipient], data)
        except smtplib.SMTPResponseException as exc:
            self._reset()
            if 400 <= exc.smtp_code < 500:
                raise TransientChannelError(
                    str(exc), provider="smtp", code=str(exc.smtp_code)
                ) from exc
            raise PermanentChannelError(str(exc), provider="smtp", code=str(exc.smtp_code)) from exc
        except (OSError, smtplib.SMTPException) as exc:
            self._reset()
            raise TransientChannelError(f"SMTP connection: {exc}", provider="smtp") from exc
        return Receipt(
            channel="email",
            provider="smtp",
            provider_message_id=message_id(message.idempotency_key),
            accepted_at=dt.datetime.now(dt.UTC),
            idempotency_key=message.idempotency_key,
        )

    def _reset(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.close()
            finally:
                self._smtp = None

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._smtp.quit()
            self._smtp = None


def channels() -> dict[str, Channel]:
    """The channel factory `payjourney run --channel-factory tests.daemon.smtp_channel:channels`."""
    host, _, port = os.environ[SINK_VAR].rpartition(":")
    return {"email": SmtpChannel(host or "127.0.0.1", int(port))}
