"""The webhook seam: `events(request) -> [EventRow]`, and the registry of verifiers by provider."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from engine.errors import PayjourneyError
from engine.store.rows import EventRow


class ForgedWebhook(PayjourneyError):
    """A callback whose signature (or origin check) does not hold: nothing is recorded."""


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


class WebhookRegistry:
    """Verifiers by provider name, as they appear in `POST /v1/webhooks/{provider}`."""

    def __init__(self) -> None:
        self._verifiers: dict[str, WebhookVerifier] = {}

    def register(self, provider: str, verifier: WebhookVerifier) -> None:
        self._verifiers[provider] = verifier

    def get(self, provider: str) -> WebhookVerifier | None:
        return self._verifiers.get(provider)

    def names(self) -> list[str]:
        return sorted(self._verifiers)
