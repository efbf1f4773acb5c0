"""The payment options of one message, in the order the rules give, ready for templates and JSON."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from engine.messages.creditor import Creditor
from engine.messages.iban import format_iban
from engine.messages.payments.bank_transfer import epc_payload, qr_data_uri, rf_reference
from engine.messages.payments.barzahlen import BARZAHLEN_LIMIT, fits_barzahlen
from engine.messages.payments.base import PaymentProvider, PaymentRequest, ProviderError
from engine.messages.payments.sepa import PRE_NOTIFICATION_DAYS, earliest_collection

#: How long a payment link stays valid after the message is sent.
LINK_VALID_DAYS = 30


def payment_reference(customer_id: str | None, invoice_ids: Sequence[str] = ()) -> str:
    """The RF reference a payment is matched on: of the one open invoice, else of the customer.

    Ids longer than the 21 characters an RF reference holds are replaced by a stable hash.
    """
    base = invoice_ids[0] if len(invoice_ids) == 1 else (customer_id or "UNKNOWN")
    body = re.sub(r"[^A-Za-z0-9]", "", base).upper()
    if not body or len(body) > 21:
        body = "H" + hashlib.sha256(base.encode()).hexdigest()[:20].upper()
    return rf_reference(body)


def build_payment_options(
    methods: Sequence[str],
    *,
    amount: Decimal,
    currency: str,
    reference: str,
    description: str,
    creditor: Creditor,
    provider: PaymentProvider,
    send_at: dt.datetime,
    customer_id: str | None = None,
    locale: str | None = None,
    idempotency_key: str | None = None,
) -> list[dict[str, Any]]:
    """One dict per method, in the given order. Each has `method` and `available`; a link
    method has `url` (None when no link was created, with `note` saying why) and `created`.
    With an `idempotency_key` (the message's) each link request carries `KEY-METHOD`, so a
    provider asked again for the same message answers with the same link."""
    expires_at = send_at + dt.timedelta(days=LINK_VALID_DAYS)

    def link(method: str) -> dict[str, Any]:
        request = {
            "method": method,
            "amount": amount,
            "currency": currency,
            "reference": reference,
            "description": description,
            "expires_at": expires_at,
            "customer_id": customer_id,
            "locale": locale,
            "idempotency_key": f"{idempotency_key}-{method}" if idempotency_key else None,
        }
        return _link(provider, request)

    options: list[dict[str, Any]] = []
    for method in methods:
        option: dict[str, Any] = {"method": method, "available": True}
        if method == "bank_transfer":
            payload = epc_payload(
                name=creditor.name,
                iban=creditor.iban,
                bic=creditor.bic,
                amount=amount,
                reference=reference,
                currency=currency,
            )
            option.update(
                name=creditor.name,
                iban=creditor.iban,
                iban_formatted=format_iban(creditor.iban),
                bic=creditor.bic,
                reference=reference,
                epc_payload=payload,
                qr=qr_data_uri(payload),
            )
        elif method == "barzahlen" and not fits_barzahlen(amount):
            option.update(
                available=False,
                note=f"the amount is above the {BARZAHLEN_LIMIT} limit of one Barzahlen slip",
            )
        elif method == "sepa_direct_debit":
            option.update(
                earliest_collection=earliest_collection(send_at.date()).isoformat(),
                pre_notification_days=PRE_NOTIFICATION_DAYS,
                creditor_id=creditor.sepa_creditor_id,
            )
            if creditor.mandate_url:
                option.update(url=creditor.mandate_url, created=True, provider="creditor")
            else:
                option.update(link(method))
        else:
            option.update(link(method))
        options.append(option)
    return options


def _link(provider: PaymentProvider, request: dict[str, Any]) -> dict[str, Any]:
    method = request["method"]
    if not provider.supports(method):
        return {
            "url": None,
            "created": False,
            "provider": provider.name,
            "note": f"provider {provider.name} cannot create a {method} link",
        }
    try:
        link = provider.create_link(PaymentRequest(**request))
    except ProviderError as exc:
        return {"url": None, "created": False, "provider": provider.name, "note": str(exc)}
    return {
        "url": link.url,
        "created": link.created,
        "provider": link.provider,
        "link_id": link.id,
        "expires_at": link.expires_at.isoformat() if link.expires_at else None,
        "note": link.note,
    }
