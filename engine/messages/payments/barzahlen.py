"""Barzahlen / viacash API v2 without I/O: the slip limit, the BZ1 signature, webhooks read.

Requests are signed with the `BZ1-HMAC-SHA256` scheme: an HMAC-SHA256, keyed with the payment
key, over host:port, method, path, query, Date header, idempotency key and the SHA-256 of the
body, one per line. The same scheme signs the `paid` / `expired` webhooks (`Bz-Signature`),
checked by `verify_webhook`. The HTTP client is `barzahlen_api.BarzahlenProvider`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from engine.messages.payments.base import PaymentError

#: The highest amount one Barzahlen slip may carry (viacash, Germany).
BARZAHLEN_LIMIT = Decimal("999.99")
SCHEME = "BZ1-HMAC-SHA256"


def fits_barzahlen(amount: Decimal) -> bool:
    """Whether a single slip can carry this amount."""
    return Decimal("0.01") <= amount <= BARZAHLEN_LIMIT


def bz_signature(
    payment_key: str,
    *,
    host: str,
    method: str,
    path: str,
    query: str,
    date: str,
    idempotency_key: str,
    body: bytes,
) -> str:
    """The hex HMAC-SHA256 of the BZ1 signing string. `host` is `host:port`."""
    signing = "\n".join(
        [
            host,
            method.upper(),
            path,
            query,
            date,
            idempotency_key,
            hashlib.sha256(body).hexdigest(),
        ]
    )
    return hmac.new(payment_key.encode(), signing.encode(), hashlib.sha256).hexdigest()


def verify_webhook(
    payment_key: str,
    *,
    signature_header: str,
    host: str,
    path: str,
    date: str,
    body: bytes,
    port: int = 443,
    method: str = "POST",
    query: str = "",
) -> bool:
    """Whether a webhook's `Bz-Signature: BZ1-HMAC-SHA256 <hex>` was made with our key over
    this request (our host and port, the path it was sent to, its Date and body)."""
    scheme, _, given = signature_header.strip().partition(" ")
    if scheme != SCHEME or not given:
        return False
    expected = bz_signature(
        payment_key,
        host=f"{host}:{port}",
        method=method,
        path=path,
        query=query,
        date=date,
        idempotency_key="",
        body=body,
    )
    return hmac.compare_digest(expected, given.strip())


@dataclass(frozen=True, slots=True, kw_only=True)
class SlipEvent:
    """A verified `paid` or `expired` webhook, as payjourney needs it."""

    event: str  # paid | expired
    slip_id: str
    transaction_id: str
    occurred_at: dt.datetime
    amount: Decimal
    currency: str
    customer_key: str | None
    reference: str | None  # the payment reference we gave the slip (metadata.reference)
    invoice_id: str | None


def parse_webhook(body: bytes) -> SlipEvent:
    """The webhook's content; PaymentError saying which field is missing or wrong."""
    try:
        data = json.loads(body)
        event = str(data["event"])
        slip = data["slip"]
        transaction_id = str(data.get("affected_transaction_id") or "")
        transactions = slip.get("transactions") or []
        transaction = next(
            (t for t in transactions if str(t.get("id")) == transaction_id),
            transactions[0] if transactions else {},
        )
        metadata = slip.get("metadata") or {}
        occurred = dt.datetime.fromisoformat(str(data["event_occurred_at"]).replace("Z", "+00:00"))
        amount = Decimal(str(transaction["amount"]))
        customer = slip.get("customer") or {}
        return SlipEvent(
            event=event,
            slip_id=str(slip["id"]),
            transaction_id=transaction_id or str(transaction.get("id", "")),
            occurred_at=occurred,
            amount=amount,
            currency=str(transaction["currency"]),
            customer_key=customer.get("key"),
            reference=metadata.get("reference") or slip.get("reference_key"),
            invoice_id=metadata.get("invoice_id"),
        )
    except (ValueError, KeyError, TypeError, AttributeError, InvalidOperation) as exc:
        raise PaymentError(
            f"a Barzahlen webhook body that is not a v2 slip event ({type(exc).__name__}: {exc});"
            " check that the division sends Bz-Hook-Format v2"
        ) from exc
