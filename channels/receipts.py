"""What comes back from a provider after the send: delivery receipts, and the callbacks carrying them.

Providers report delivery, bounces and reads later, by webhook (SMS, WhatsApp, letters) or by a
delivery status notification (email). Each provider module turns its callback into the same small
frozen `DeliveryReceipt`; the API issue mounts those plain functions and turns receipts into events.
A callback is checked before it is parsed: a forged signature or a replay raises `CallbackRejected`.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from channels.base import OutgoingMessage, Receipt
from engine.errors import PayjourneyError

log = logging.getLogger(__name__)


def accepted(
    message: OutgoingMessage,
    *,
    provider: str,
    provider_message_id: str,
    at: dt.datetime,
    cost: Mapping[str, str] | None = None,
) -> Receipt:
    """The Receipt for a message the provider took, logged by key and provider id only."""
    receipt = Receipt(
        channel=message.channel,
        provider=provider,
        provider_message_id=provider_message_id,
        accepted_at=at,
        idempotency_key=message.idempotency_key,
        cost=cost or {},
    )
    log.info(
        "%s %s accepted by %s as %s",
        message.channel,
        message.idempotency_key,
        provider,
        provider_message_id,
    )
    return receipt


DeliveryStatus = Literal["delivered", "failed", "bounced", "read"]
DELIVERY_STATUSES: tuple[DeliveryStatus, ...] = ("delivered", "failed", "bounced", "read")


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryReceipt:
    """One thing a provider said happened to a message after it accepted it.

    `provider_message_id` is the id the send's `Receipt` carried (for email the original
    Message-ID). `permanent` says, for failed and bounced, whether the channel is unusable for
    this recipient (a hard bounce, an invalid number) or the next attempt may work (soft).
    `idempotency_key` is filled when the callback carries it back (a reference field).
    """

    provider: str
    provider_message_id: str
    status: DeliveryStatus
    occurred_at: dt.datetime
    code: str | None = None
    permanent: bool = False
    detail: str | None = None
    idempotency_key: str | None = None

    def __post_init__(self) -> None:
        if self.status not in DELIVERY_STATUSES:
            raise ValueError(
                f"unknown delivery status {self.status!r}; expected one of {DELIVERY_STATUSES}"
            )
        if self.occurred_at.tzinfo is None:
            raise ValueError("a delivery receipt's occurred_at must be timezone-aware")
        if not self.provider_message_id:
            raise ValueError("a delivery receipt must name the provider's message id")

    @property
    def severity(self) -> Literal["hard", "soft"] | None:
        """For bounces and failures: hard (stop using this channel) or soft (try again)."""
        if self.status not in ("failed", "bounced"):
            return None
        return "hard" if self.permanent else "soft"


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundReply:
    """A debtor's own message that a provider forwarded (an SMS or WhatsApp answer to ours).

    `sender` is the number it came from in E.164 (`+31612345678`), as our messages' recipient
    is stored, so the reply can be matched to the latest message we sent that number.
    """

    provider: str
    provider_message_id: str
    channel: Literal["sms", "whatsapp"]
    sender: str
    text: str
    received_at: dt.datetime

    def __post_init__(self) -> None:
        if self.received_at.tzinfo is None:
            raise ValueError("an inbound reply's received_at must be timezone-aware")
        if not self.provider_message_id:
            raise ValueError("an inbound reply must name the provider's message id")


def e164(number: str) -> str:
    """A provider's sender number as our recipients are stored: `+` and digits
    (`whatsapp:+31612345678` and WhatsApp's bare `31612345678` both become `+31612345678`)."""
    digits = "".join(ch for ch in number.removeprefix("whatsapp:") if ch.isdigit())
    return f"+{digits}" if digits else number.strip()


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundRequest:
    """A webhook as it reached the API: the full URL the provider called, headers and raw body.

    The URL must be the one the provider signed (scheme, host, port, path and query as the
    provider saw them; behind a proxy, rebuild it from X-Forwarded-* before checking).
    """

    method: str
    url: str
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        lowered = {k.lower(): v for k, v in self.headers.items()}
        object.__setattr__(self, "headers", MappingProxyType(lowered))

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class CallbackRejected(PayjourneyError):
    """A callback failed its signature check, was a replay, or is not the provider's shape.

    The API answers it with 401/400 and records nothing.
    """

    def __init__(self, provider: str, reason: str) -> None:
        self.provider = provider
        self.reason = reason
        super().__init__(f"{provider} callback refused: {reason}")


class CallbackReplayed(CallbackRejected):
    """A second copy of a callback already accepted: refuse to record it again.

    Providers also resend a callback when our first answer got lost; the API answers a replay
    with 200 (already processed) rather than 401, so a genuine retry is not reported as forged.
    """


class ReplayGuard:
    """Remembers the callbacks already accepted, for `window`, and refuses a second copy.

    Keys are whatever identifies one callback uniquely (a JWT id, a signature, an idempotency
    token). In-memory and per process: the API's event ids make events idempotent anyway; the
    guard keeps a captured request from being replayed inside the window. Thread-safe.
    """

    def __init__(
        self,
        window: dt.timedelta = dt.timedelta(hours=24),
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.window = window
        self._clock = clock
        self._seen: dict[str, dt.datetime] = {}
        self._lock = threading.Lock()

    def check(self, provider: str, key: str) -> None:
        """Accept `key` once; raise CallbackRejected when it was seen inside the window."""
        now = self._clock()
        with self._lock:
            for old in [k for k, at in self._seen.items() if now - at > self.window]:
                del self._seen[old]
            scoped = f"{provider}\x00{key}"
            if scoped in self._seen:
                raise CallbackReplayed(provider, "replayed: this callback was already accepted")
            self._seen[scoped] = now
