"""Column types that keep money exact and datetimes aware on both SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

#: Currencies the store accepts. All have two minor digits, so amounts are kept as integer cents.
CURRENCIES: frozenset[str] = frozenset(
    {"EUR", "USD", "GBP", "CHF", "PLN", "CZK", "DKK", "SEK", "NOK", "HUF", "RON", "BGN"}
)

_CENT = Decimal("0.01")


def to_cents(amount: Decimal) -> int:
    """Decimal euros -> integer cents, refusing sub-cent amounts rather than rounding them away."""
    quantized = amount.quantize(_CENT, rounding=ROUND_HALF_EVEN)
    if quantized != amount:
        raise ValueError(f"{amount} has more than two decimals; amounts are kept to the cent")
    return int(quantized * 100)


def from_cents(cents: int) -> Decimal:
    """Integer cents -> Decimal with two decimals."""
    return (Decimal(cents) / 100).quantize(_CENT)


class MoneyAmount(TypeDecorator[Decimal]):
    """A money amount: Decimal in Python, integer cents in the database (exact on SQLite too).

    SQLite has no decimal type (SQLAlchemy would go through float); cents as BIGINT are exact,
    sum exactly in SQL, and are what payment providers speak anyway.
    """

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return to_cents(Decimal(value))
        if not isinstance(value, Decimal):
            raise TypeError(f"money must be a Decimal, not {type(value).__name__} ({value!r})")
        return to_cents(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return from_cents(int(value))


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware datetime, stored in UTC; naive datetimes are refused on the way in."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime, got {value!r}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: give a timezone (e.g. +00:00)")
        utc: dt.datetime = value.astimezone(dt.UTC)
        # SQLite keeps text; one fixed UTC form keeps comparisons and julianday() right
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        when: dt.datetime = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
        if when.tzinfo is None:
            return when.replace(tzinfo=dt.UTC)
        return when.astimezone(dt.UTC)
