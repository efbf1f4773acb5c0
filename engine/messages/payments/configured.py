"""The payment provider the configuration asks for, read once at start."""

from __future__ import annotations

import os
from collections.abc import Mapping

from engine.messages.payments.barzahlen_api import DEFAULT_BASE_URL as BARZAHLEN_BASE_URL
from engine.messages.payments.barzahlen_api import BarzahlenProvider
from engine.messages.payments.base import PaymentError, PaymentProvider
from engine.messages.payments.chain import ProviderChain
from engine.messages.payments.mollie import DEFAULT_BASE_URL, MollieProvider
from engine.messages.payments.offline import NotConfiguredProvider

API_KEY_VAR = "PAYJOURNEY_MOLLIE_API_KEY"
BASE_URL_VAR = "PAYJOURNEY_MOLLIE_BASE_URL"
WEBHOOK_VAR = "PAYJOURNEY_MOLLIE_WEBHOOK_URL"

#: Barzahlen/viafintech cash slips: all three of these, or none
BARZAHLEN_REQUIRED = (
    "PAYJOURNEY_BARZAHLEN_DIVISION_ID",
    "PAYJOURNEY_BARZAHLEN_PAYMENT_KEY",
    "PAYJOURNEY_BARZAHLEN_SLIP_URL",
)
BARZAHLEN_BASE_URL_VAR = "PAYJOURNEY_BARZAHLEN_BASE_URL"
BARZAHLEN_HOOK_VAR = "PAYJOURNEY_BARZAHLEN_HOOK_URL"


class PaymentConfigError(PaymentError):
    """The environment names a payment provider only in part."""


def provider_from_env(environ: Mapping[str, str] | None = None) -> PaymentProvider:
    """Mollie when PAYJOURNEY_MOLLIE_API_KEY is set (PAYJOURNEY_MOLLIE_BASE_URL and
    PAYJOURNEY_MOLLIE_WEBHOOK_URL optional), Barzahlen when its division id, payment key and
    slip URL are set (PAYJOURNEY_BARZAHLEN_BASE_URL and _HOOK_URL optional), both behind one
    chain when both are; else the provider that creates no links.

    For sending only: previews (`explain --render`) pass no provider, so they never create
    real payment links as a side effect."""
    env = os.environ if environ is None else environ
    providers: list[PaymentProvider] = []
    key = env.get(API_KEY_VAR)
    if key:
        providers.append(
            MollieProvider(
                key,
                base_url=env.get(BASE_URL_VAR) or DEFAULT_BASE_URL,
                webhook_url=env.get(WEBHOOK_VAR) or None,
            )
        )
    barzahlen = {name: env.get(name) or "" for name in BARZAHLEN_REQUIRED}
    if any(barzahlen.values()):
        missing = [name for name, value in barzahlen.items() if not value]
        if missing:
            raise PaymentConfigError(
                "Barzahlen slips need "
                + ", ".join(BARZAHLEN_REQUIRED)
                + "; set "
                + ", ".join(missing)
                + " as well, or unset the others to send no slips"
            )
        division, payment_key, slip_url = (barzahlen[name] for name in BARZAHLEN_REQUIRED)
        providers.append(
            BarzahlenProvider(
                division,
                payment_key,
                slip_url=slip_url,
                base_url=env.get(BARZAHLEN_BASE_URL_VAR) or BARZAHLEN_BASE_URL,
                hook_url=env.get(BARZAHLEN_HOOK_VAR) or None,
            )
        )
    if not providers:
        return NotConfiguredProvider()
    if len(providers) == 1:
        return providers[0]
    return ProviderChain(providers)
