"""Barzahlen / viacash API v2 over httpx: a payment slip per message, signed and idempotent.

A slip is created once per message: the idempotency key is derived from the request (division,
reference, amount, expiry), so a retried send gets the same slip back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from engine.messages.payments.barzahlen import (
    BARZAHLEN_LIMIT,
    SCHEME,
    bz_signature,
    fits_barzahlen,
)
from engine.messages.payments.base import PaymentLink, PaymentRequest, ProviderError

DEFAULT_BASE_URL = "https://api.viafintech.com/v2"
SANDBOX_BASE_URL = "https://api-sandbox.viafintech.com/v2"


class BarzahlenProvider:
    """Creates Barzahlen payment slips (POST /v2/slips), signed, idempotent, within the limit.

    `slip_url` is the page the message links to, formatted with the slip's `id` and
    `checkout_token` (e.g. the creditor's page embedding Barzahlen's checkout with that token);
    Barzahlen itself also sends the slip by email or text message when it has an address.
    """

    name = "barzahlen"

    def __init__(
        self,
        division_id: str,
        payment_key: str,
        *,
        slip_url: str,
        base_url: str = DEFAULT_BASE_URL,
        hook_url: str | None = None,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not division_id or not payment_key:
            raise ProviderError(
                self.name,
                "no division id or payment key; set PAYJOURNEY_BARZAHLEN_DIVISION_ID and"
                " PAYJOURNEY_BARZAHLEN_PAYMENT_KEY (Control Center, Settings)",
            )
        self._division = division_id
        self._key = payment_key
        self._slip_url = slip_url
        self._hook_url = hook_url
        self._base = urlsplit(base_url.rstrip("/"))
        self._client = httpx.Client(timeout=timeout, transport=transport)

    def supports(self, method: str) -> bool:
        return method == "barzahlen"

    def _headers(self, path: str, body: bytes, idempotency_key: str) -> dict[str, str]:
        port = self._base.port or (443 if self._base.scheme == "https" else 80)
        date = format_datetime(dt.datetime.now(dt.UTC), usegmt=True)
        signature = bz_signature(
            self._key,
            host=f"{self._base.hostname}:{port}",
            method="POST",
            path=path,
            query="",
            date=date,
            idempotency_key=idempotency_key,
            body=body,
        )
        return {
            "Host": str(self._base.netloc),
            "Date": date,
            "Authorization": f"{SCHEME} DivisionId={self._division}, Signature={signature}",
            "Idempotency-Key": idempotency_key,
            "Content-Type": "application/json",
        }

    def create_link(self, request: PaymentRequest) -> PaymentLink:
        if not self.supports(request.method):
            raise ProviderError(self.name, f"cannot create a slip for {request.method!r}")
        if request.currency != "EUR":
            raise ProviderError(self.name, f"slips are paid in euros, not {request.currency}")
        if not fits_barzahlen(request.amount):
            raise ProviderError(
                self.name, f"{request.amount} is above the {BARZAHLEN_LIMIT} limit of one slip"
            )
        payload: dict[str, Any] = {
            "slip_type": "payment",
            "customer": {
                "key": request.customer_id or request.reference,
                "language": "de-DE" if (request.locale or "de").startswith("de") else "en-CA",
            },
            "expires_at": request.expires_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "reference_key": request.reference,
            "transactions": [{"currency": "EUR", "amount": f"{request.amount:.2f}"}],
            "metadata": {"reference": request.reference, "customer_id": request.customer_id},
        }
        if self._hook_url:
            payload["hook_url"] = self._hook_url
        body = json.dumps(payload, separators=(",", ":")).encode()
        # the message's own key when it has one; else the same reference, amount and expiry
        # always ask for the same slip
        idempotency_key = (
            request.idempotency_key
            or hashlib.sha256(
                f"{self._division}|{request.reference}|{request.amount}|{payload['expires_at']}".encode()
            ).hexdigest()[:32]
        )
        path = f"{self._base.path}/slips"
        url = f"{self._base.scheme}://{self._base.netloc}{path}"
        try:
            response = self._client.post(
                url, content=body, headers=self._headers(path, body, idempotency_key)
            )
        except httpx.HTTPError as exc:
            raise ProviderError(self.name, f"request failed: {exc}") from exc
        if response.status_code not in (200, 201):
            raise ProviderError(self.name, _problem(response), status=response.status_code)
        try:
            data = response.json()
            slip_id = str(data["id"])
            token = str(data.get("checkout_token") or "")
            expires = data.get("expires_at")
        except (ValueError, KeyError, TypeError) as exc:
            raise ProviderError(
                self.name, "answer without a slip id", status=response.status_code
            ) from exc
        return PaymentLink(
            method=request.method,
            provider=self.name,
            url=self._slip_url.format(id=slip_id, checkout_token=token),
            created=True,
            id=slip_id,
            expires_at=(
                dt.datetime.fromisoformat(expires.replace("Z", "+00:00"))
                if isinstance(expires, str)
                else None
            ),
            note=f"pay {request.amount:.2f} EUR in cash at a shop with this slip",
        )

    def close(self) -> None:
        self._client.close()


def _problem(response: httpx.Response) -> str:
    """API v2 errors are JSON with error_class, error_code, message and request_id."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(data, dict) and "message" in data:
        return (
            f"{data.get('error_class', '')}/{data.get('error_code', '')}: {data['message']}"
            f" (request {data.get('request_id', '?')})"
        )
    return str(data)[:200]
