"""Barzahlen / viacash: pay cash with a slip at a shop till, within the provider's limit."""

from __future__ import annotations

from decimal import Decimal

#: The highest amount one Barzahlen slip may carry (viacash, Germany).
BARZAHLEN_LIMIT = Decimal("999.99")


def fits_barzahlen(amount: Decimal) -> bool:
    """Whether a single slip can carry this amount."""
    return Decimal("0.01") <= amount <= BARZAHLEN_LIMIT
