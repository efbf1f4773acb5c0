"""The webhook seam: `events(request) -> [EventRow]` (or `take` for a provider whose callback
books money itself), and the registry of verifiers by provider."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from engine.errors import PayjourneyError
from engine.rules.compile import CompiledRules
from engine.store.rows import EventRow


class ForgedWebhook(PayjourneyError):
    """A callback whose signature (or origin check) does not hold: nothing is recorded."""


class UnusableWebhook(PayjourneyError):
    """An authentic callback payjourney cannot use (not the provider's format, an unknown
    customer): answered 422, nothing is recorded."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookRequest:
    """What a provider sent: the raw body (signatures are over bytes), headers, the URL."""

    body: bytes
    headers: Mapping[str, str]  # lower-case names
    url: str


class WebhookVerifier(Protocol):
    """Checks a provider's callback and says which events it reports."""

    def events(self, request: WebhookRequest) -> list[EventRow]:
        """The events in the callback (possibly none); ForgedWebhook when it is not authentic."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Booked:
    """What a booking webhook did: events it reports, and how many were new."""

    events: int
    recorded: int


@runtime_checkable
class WebhookBooking(Protocol):
    """A provider whose callback is money to book, not a plain event (a Barzahlen slip is
    booked like a statement credit): `take` verifies, books and settles the debtor."""

    def take(self, request: WebhookRequest, *, rules: CompiledRules, now: dt.datetime) -> Booked:
        """ForgedWebhook when not authentic, UnusableWebhook when authentic but unusable."""
        ...


class WebhookRegistry:
    """Verifiers by provider name, as they appear in `POST /v1/webhooks/{provider}`."""

    def __init__(self) -> None:
        self._verifiers: dict[str, WebhookVerifier | WebhookBooking] = {}

    def register(self, provider: str, verifier: WebhookVerifier | WebhookBooking) -> None:
        self._verifiers[provider] = verifier

    def get(self, provider: str) -> WebhookVerifier | WebhookBooking | None:
        return self._verifiers.get(provider)

    def names(self) -> list[str]:
        return sorted(self._verifiers)
