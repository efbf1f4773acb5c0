"""Provider webhooks: a registry of verifiers, one per provider, each turning a signed (or
otherwise authenticated) callback into events.

Registration point: `WebhookRegistry.register(name, verifier)`. The app registers Mollie
(`mollie`) and Barzahlen (`barzahlen`, a `WebhookBooking`: a paid slip is booked like a
statement credit) in `engine.api.app.default_registry`, and the channel providers' delivery
receipts, email DSNs included, in `delivery.register_delivery_webhooks`. A verifier raises
`ForgedWebhook` when the signature does not hold; the route answers 401.
"""

from engine.api.webhooks.registry import (
    Booked,
    ForgedWebhook,
    UnusableWebhook,
    WebhookBooking,
    WebhookRegistry,
    WebhookRequest,
    WebhookVerifier,
)

__all__ = [
    "Booked",
    "ForgedWebhook",
    "UnusableWebhook",
    "WebhookBooking",
    "WebhookRegistry",
    "WebhookRequest",
    "WebhookVerifier",
]
