"""The provider used when none is configured: it creates nothing, and says so."""

from __future__ import annotations

from engine.messages.payments.base import PaymentLink, PaymentRequest

NOT_CREATED_NOTE = (
    "not created: previews make no payment links; the link is created when the message is "
    "sent, by the configured provider (PAYJOURNEY_MOLLIE_API_KEY)"
)


class NotConfiguredProvider:
    """Answers every request with `created=False` and no URL, so a preview never shows a
    link that does not exist. Deterministic and offline: `explain --render` on a file uses it."""

    name = "none"

    def supports(self, method: str) -> bool:
        return True

    def create_link(self, request: PaymentRequest) -> PaymentLink:
        return PaymentLink(
            method=request.method,
            provider=self.name,
            url=None,
            created=False,
            note=NOT_CREATED_NOTE,
        )

    def close(self) -> None:
        return None
