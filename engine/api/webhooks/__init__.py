"""Provider webhooks: a registry of verifiers, one per provider, each turning a signed (or
otherwise authenticated) callback into events.

Registration point: `WebhookRegistry.register(name, verifier)`. The app registers Mollie
(`engine.api.webhooks.mollie`). The SMS, WhatsApp, print and email-DSN verifiers live with
their channel adapters (`channels/`, the channels issue): at merge, register each there in
`default_registry` below, e.g. `registry.register("messagebird", SmsReceiptVerifier(secret))`.
A verifier raises `ForgedWebhook` when the signature does not hold; the route answers 401.
"""

from engine.api.webhooks.registry import (
    ForgedWebhook,
    WebhookRegistry,
    WebhookRequest,
    WebhookVerifier,
)

__all__ = ["ForgedWebhook", "WebhookRegistry", "WebhookRequest", "WebhookVerifier"]
