"""The channel seam: `send(OutgoingMessage) -> Receipt` and `close()`, and the two failure classes.

An adapter only delivers and classifies. It never renders a template, touches the database,
retries or rate-limits: the daemon's dispatch does that once for every channel. Like httpx's
transport (`handle_request(request) -> Response`), the seam is small on purpose so that every
adapter, the outbox and the test fakes run the same contract suite.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from engine.errors import PayjourneyError

CHANNEL_NAMES = ("email", "sms", "whatsapp", "letter", "phone")


def _frozen(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True, kw_only=True)
class Attachment:
    """A file that travels with a message: the letter PDF, or an inline image (EPC QR, logo).

    `content_id` set means an inline part the HTML refers to as `cid:<content_id>`.
    """

    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None

    def __post_init__(self) -> None:
        if not self.filename or "/" in self.filename:
            raise ValueError(f"an attachment needs a plain file name, got {self.filename!r}")
        if "/" not in self.content_type:
            raise ValueError(f"{self.content_type!r} is not a MIME type (e.g. application/pdf)")


@dataclass(frozen=True, slots=True, kw_only=True)
class OutgoingMessage:
    """One rendered message for one recipient on one channel, ready to hand to a provider.

    `idempotency_key` is unique per (journey, step, channel attempt) and is committed in the
    outbox before the provider is called; adapters pass it on (SMTP Message-ID, a provider's
    idempotency or reference field) so that a retried call is recognised, never doubled.
    `recipient` is the address the channel needs: an email address, an E.164 phone number, or
    for letters the postal address block (lines joined by newlines); for phone tasks the number.
    """

    idempotency_key: str
    channel: str
    recipient: str
    locale: str
    text: str
    subject: str | None = None
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    customer_id: str | None = None
    template: str | None = None  # e.g. for WhatsApp's approved template name lookup
    template_parameters: tuple[str, ...] = ()  # ordered parameters of an approved template
    metadata: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if self.channel not in CHANNEL_NAMES:
            raise ValueError(f"unknown channel {self.channel!r}; expected one of {CHANNEL_NAMES}")
        if not self.idempotency_key:
            raise ValueError("an outgoing message needs its idempotency key (from the outbox row)")
        if not self.recipient.strip():
            raise ValueError(f"a {self.channel} message needs a recipient")
        object.__setattr__(self, "metadata", _frozen(self.metadata))

    @property
    def pdf(self) -> Attachment | None:
        """The letter PDF, when the message carries one."""
        return next((a for a in self.attachments if a.content_type == "application/pdf"), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Receipt:
    """What the provider said when it took the message.

    `accepted_at` is when the provider accepted it (not delivery: delivery, bounces and reads
    arrive later as events). `provider_message_id` is what its callbacks will name.
    """

    channel: str
    provider: str
    provider_message_id: str
    accepted_at: dt.datetime
    idempotency_key: str
    cost: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if self.accepted_at.tzinfo is None:
            raise ValueError("a receipt's accepted_at must be timezone-aware")
        object.__setattr__(self, "cost", _frozen(self.cost))


class ChannelError(PayjourneyError):
    """Root of every channel failure. `code` is the provider's own code, kept for the record."""

    def __init__(self, message: str, *, provider: str, code: str | None = None) -> None:
        self.provider = provider
        self.code = code
        suffix = f" ({provider} code {code})" if code else f" ({provider})"
        super().__init__(message + suffix)


class TransientChannelError(ChannelError):
    """Try again later: a timeout, 429, a 5xx, an SMTP 4xx. `retry_after` when the provider said."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        code: str | None = None,
        retry_after: dt.timedelta | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, provider=provider, code=code)


class PermanentChannelError(ChannelError):
    """Never retry this recipient on this channel: a hard bounce, an invalid number, no WhatsApp.

    The journey marks the channel unusable for this customer and moves to the next channel.
    """


class ChannelConfigError(PayjourneyError):
    """A channel is configured wrongly; raised at start, naming the setting or env variable."""


@runtime_checkable
class Channel(Protocol):
    """A delivery adapter: hand a message to a provider and say what it answered."""

    name: str  # the channel: email, sms, whatsapp, letter, phone

    def send(self, message: OutgoingMessage) -> Receipt:
        """Deliver one message or raise TransientChannelError / PermanentChannelError."""
        ...

    def close(self) -> None:
        """Release connections; the adapter is not used after this."""
        ...
