"""Mollie over httpx: payment links (POST /v2/payment-links) and payment status (GET /v2/payments)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx

from engine.messages.payments.base import PaymentLink, PaymentRequest, ProviderError

DEFAULT_BASE_URL = "https://api.mollie.com/v2"

#: Our method names -> Mollie's. iDEAL is co-branded "iDEAL | Wero" and migrates to Wero;
#: until Mollie lists wero separately, a wero link is an iDEAL link.
MOLLIE_METHODS: dict[str, str] = {
    "ideal": "ideal",
    "wero": "ideal",
    "bancontact": "bancontact",
    "paypal": "paypal",
    "card": "creditcard",
}


class MollieProvider:
    """Creates Mollie payment links restricted to one method, with amount, reference, expiry.

    SEPA direct debit mandates and Barzahlen slips are not Mollie payment links: `supports`
    says no, and the caller shows the creditor's mandate form or no slip instead.
    """

    name = "mollie"

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        webhook_url: str | None = None,
    ) -> None:
        if not api_key:
            raise ProviderError(
                self.name, "no API key; set PAYJOURNEY_MOLLIE_API_KEY to a test_ or live_ key"
            )
        self._webhook_url = webhook_url
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
        )

    def supports(self, method: str) -> bool:
        return method in MOLLIE_METHODS

    def create_link(self, request: PaymentRequest) -> PaymentLink:
        if not self.supports(request.method):
            raise ProviderError(self.name, f"cannot create a link for {request.method!r}")
        body: dict[str, Any] = {
            "description": f"{request.description} ({request.reference})"[:255],
            "amount": {"currency": request.currency, "value": f"{request.amount:.2f}"},
            "expiresAt": request.expires_at.astimezone(dt.UTC).isoformat(timespec="seconds"),
            "allowedMethods": [MOLLIE_METHODS[request.method]],
        }
        if self._webhook_url:
            body["webhookUrl"] = self._webhook_url
        # Mollie answers a POST repeated with the same Idempotency-Key with the first answer
        headers = {"Idempotency-Key": request.idempotency_key} if request.idempotency_key else {}
        try:
            response = self._client.post("/payment-links", json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ProviderError(self.name, f"request failed: {exc}") from exc
        if response.status_code != 201:
            raise ProviderError(self.name, _problem(response), status=response.status_code)
        try:
            data = response.json()
            url = data["_links"]["paymentLink"]["href"]
            link_id = data["id"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ProviderError(
                self.name, "answer without _links.paymentLink.href", status=response.status_code
            ) from exc
        expires = data.get("expiresAt")
        return PaymentLink(
            method=request.method,
            provider=self.name,
            url=str(url),
            created=True,
            id=str(link_id),
            expires_at=dt.datetime.fromisoformat(expires) if isinstance(expires, str) else None,
        )

    def close(self) -> None:
        self._client.close()


def _problem(response: httpx.Response) -> str:
    """Mollie errors are application/hal+json with `title` and `detail`."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(data, dict):
        return f"{data.get('title', '')}: {data.get('detail', '')}".strip(": ")
    return str(data)[:200]


@dataclass(frozen=True, slots=True, kw_only=True)
class MolliePayment:
    """A payment as Mollie's API reports it (GET /v2/payments/{id})."""

    id: str
    status: str  # open | pending | authorized | paid | canceled | expired | failed
    amount: Decimal
    currency: str
    paid_at: dt.datetime | None
    description: str
    metadata: dict[str, Any]


class MollieClient:
    """Reads payments from Mollie's API: a webhook says only an id, the API says what happened."""

    name = "mollie"

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not api_key:
            raise ProviderError(
                self.name, "no API key; set PAYJOURNEY_MOLLIE_API_KEY to a test_ or live_ key"
            )
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
        )

    def payment(self, payment_id: str) -> MolliePayment | None:
        """The payment, or None when Mollie does not know the id (a forged or foreign webhook)."""
        try:
            response = self._client.get(f"/payments/{quote(payment_id, safe='')}")
        except httpx.HTTPError as exc:
            raise ProviderError(self.name, f"request failed: {exc}") from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ProviderError(self.name, _problem(response), status=response.status_code)
        try:
            data = response.json()
            paid_at = data.get("paidAt")
            metadata = data.get("metadata")
            return MolliePayment(
                id=str(data["id"]),
                status=str(data["status"]),
                amount=Decimal(str(data["amount"]["value"])),
                currency=str(data["amount"]["currency"]),
                paid_at=dt.datetime.fromisoformat(paid_at) if isinstance(paid_at, str) else None,
                description=str(data.get("description") or ""),
                metadata=metadata if isinstance(metadata, dict) else {},
            )
        except (ValueError, KeyError, TypeError, ArithmeticError) as exc:
            raise ProviderError(
                self.name, f"unreadable payment answer: {exc}", status=response.status_code
            ) from exc

    def close(self) -> None:
        self._client.close()
