"""The payment-provider seam: create a payment link for a method, and the errors it may raise."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, runtime_checkable

from engine.errors import PayjourneyError

#: Methods a provider pays through a link (or a slip, for barzahlen). bank_transfer needs no
#: provider: the message carries IBAN, reference and an EPC QR code.
LINK_METHODS: frozenset[str] = frozenset(
    {"ideal", "wero", "bancontact", "paypal", "card", "sepa_direct_debit", "barzahlen"}
)


class PaymentError(PayjourneyError):
    """A payment option could not be prepared."""


class ProviderError(PaymentError):
    """The payment provider refused or failed a request; the message says what it answered."""

    def __init__(self, provider: str, problem: str, *, status: int | None = None) -> None:
        self.provider = provider
        self.status = status
        where = f" (HTTP {status})" if status is not None else ""
        super().__init__(f"payment provider {provider}{where}: {problem}")


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentRequest:
    """What a link is for: one method, an amount, our reference, and until when it is valid."""

    method: str
    amount: Decimal
    currency: str
    reference: str  # the payment reference the debtor's payment is matched on
    description: str  # shown to the debtor on the payment page
    expires_at: dt.datetime
    customer_id: str | None = None
    locale: str | None = None
    #: The same key asks for the same link: a provider that takes one (Mollie's and Barzahlen's
    #: Idempotency-Key header) answers a repeated request with the first link, not a second.
    #: The daemon gives its message's idempotency key plus the method.
    idempotency_key: str | None = None

    def __post_init__(self) -> None:
        if self.method not in LINK_METHODS:
            raise PaymentError(
                f"{self.method!r} is not paid by link; link methods are "
                + ", ".join(sorted(LINK_METHODS))
            )
        if self.amount <= 0:
            raise PaymentError(f"a payment link needs a positive amount, got {self.amount}")
        if self.expires_at.tzinfo is None:
            raise PaymentError("PaymentRequest.expires_at must be timezone-aware")
        if self.idempotency_key is not None and not 1 <= len(self.idempotency_key) <= 255:
            raise PaymentError(
                "PaymentRequest.idempotency_key must be 1-255 characters, got "
                f"{len(self.idempotency_key)}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentLink:
    """A provider's answer. `url` is None when no link was created, with the reason in `note`."""

    method: str
    provider: str
    url: str | None
    created: bool
    id: str | None = None
    expires_at: dt.datetime | None = None
    note: str = ""


@runtime_checkable
class PaymentProvider(Protocol):
    """Creates payment links; one instance per process, closed at shutdown."""

    name: str

    def supports(self, method: str) -> bool:
        """Whether this provider can create a link for `method`."""
        ...

    def create_link(self, request: PaymentRequest) -> PaymentLink:
        """Create a link, or raise ProviderError (never a foreign exception)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
