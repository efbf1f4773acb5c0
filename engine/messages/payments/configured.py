"""The payment provider the configuration asks for, read once at start."""

from __future__ import annotations

import os
from collections.abc import Mapping

from engine.messages.payments.base import PaymentProvider
from engine.messages.payments.mollie import DEFAULT_BASE_URL, MollieProvider
from engine.messages.payments.offline import NotConfiguredProvider

API_KEY_VAR = "PAYJOURNEY_MOLLIE_API_KEY"
BASE_URL_VAR = "PAYJOURNEY_MOLLIE_BASE_URL"
WEBHOOK_VAR = "PAYJOURNEY_MOLLIE_WEBHOOK_URL"


def provider_from_env(environ: Mapping[str, str] | None = None) -> PaymentProvider:
    """Mollie when PAYJOURNEY_MOLLIE_API_KEY is set (PAYJOURNEY_MOLLIE_BASE_URL and
    PAYJOURNEY_MOLLIE_WEBHOOK_URL optional), else the provider that creates no links.

    For sending only: previews (`explain --render`) pass no provider, so they never create
    real payment links as a side effect."""
    env = os.environ if environ is None else environ
    key = env.get(API_KEY_VAR)
    if not key:
        return NotConfiguredProvider()
    return MollieProvider(
        key,
        base_url=env.get(BASE_URL_VAR) or DEFAULT_BASE_URL,
        webhook_url=env.get(WEBHOOK_VAR) or None,
    )
