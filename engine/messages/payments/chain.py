"""Several payment providers behind the one seam: each method goes to the first that has it."""

from __future__ import annotations

from collections.abc import Sequence

from engine.messages.payments.base import (
    PaymentLink,
    PaymentProvider,
    PaymentRequest,
    ProviderError,
)


class ProviderChain:
    """E.g. Mollie for iDEAL/PayPal links and Barzahlen for cash slips, as one provider."""

    name = "chain"

    def __init__(self, providers: Sequence[PaymentProvider]) -> None:
        self._providers = tuple(providers)

    def supports(self, method: str) -> bool:
        return any(p.supports(method) for p in self._providers)

    def create_link(self, request: PaymentRequest) -> PaymentLink:
        for provider in self._providers:
            if provider.supports(request.method):
                return provider.create_link(request)
        raise ProviderError(self.name, f"no configured provider creates {request.method!r} links")

    def close(self) -> None:
        for provider in self._providers:
            provider.close()
