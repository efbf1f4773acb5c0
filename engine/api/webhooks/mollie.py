"""Mollie's webhook: it posts only `id=tr_...`; the payment's status is fetched from Mollie's API
(as Mollie requires), so a forged id finds nothing. With a signing secret configured (Mollie's
next-gen webhooks), `X-Mollie-Signature: sha256=<hex HMAC-SHA256 of the body>` must hold too."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
from urllib.parse import parse_qs

from engine.api.webhooks.registry import ForgedWebhook, WebhookRequest
from engine.messages.payments.mollie import MollieClient
from engine.store.rows import EventRow

log = logging.getLogger("payjourney.api.webhooks")


class MollieWebhook:
    """Turns a paid Mollie payment into a `paid` event for the customer in its metadata."""

    def __init__(self, client: MollieClient, *, signing_secret: str | None = None) -> None:
        self.client, self.secret = client, signing_secret

    def _check_signature(self, request: WebhookRequest) -> None:
        if self.secret is None:
            return
        given = request.headers.get("x-mollie-signature", "")
        expected = (
            "sha256=" + hmac.new(self.secret.encode(), request.body, hashlib.sha256).hexdigest()
        )
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise ForgedWebhook("the X-Mollie-Signature does not match the body")

    def events(self, request: WebhookRequest) -> list[EventRow]:
        self._check_signature(request)
        form = parse_qs(request.body.decode("utf-8", "replace"))
        ids = form.get("id") or []
        if len(ids) != 1 or not ids[0].startswith("tr_"):
            raise ForgedWebhook("a Mollie webhook posts one payment id (id=tr_...)")
        payment = self.client.payment(ids[0])
        if payment is None:  # Mollie does not know it: forged, or another account's
            raise ForgedWebhook(f"Mollie does not know the payment {ids[0]}")
        customer_id = payment.metadata.get("customer_id")
        if payment.status != "paid":
            return []
        if not isinstance(customer_id, str):
            log.warning("Mollie payment %s has no metadata.customer_id; not recorded", payment.id)
            return []
        event = {
            "id": f"mollie-{payment.id}",
            "customer_id": customer_id,
            "kind": "paid",
            "invoice_id": payment.metadata.get("invoice_id"),
            "occurred_at": payment.paid_at or dt.datetime.now(dt.UTC),
            "data": {
                "provider": "mollie",
                "payment_id": payment.id,
                "amount": str(payment.amount),
                "currency": payment.currency,
            },
        }
        return [EventRow.model_validate(event)]
