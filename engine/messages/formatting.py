"""Money, dates, numbers and plural forms the way a debtor's locale writes them (Babel).

`LocaleFormat("nl_NL").money(Decimal("1234.5"), "EUR")` -> "€ 1.234,50"; in de_DE "1.234,50 €".
Spaces are plain spaces, not Babel's no-break space: an SMS with U+00A0 in it falls out of the
GSM 03.38 alphabet and costs twice the segments.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as _babel_date
from babel.numbers import format_currency, format_decimal, format_percent

from engine.errors import PayjourneyError

#: Short numeric dates as people write them; Babel's "short" gives "03.11.26" in German.
SHORT_DATE = {"nl": "dd-MM-yyyy", "de": "dd.MM.yyyy"}
DATE_STYLES = ("short", "medium", "long", "full")
_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " "})


class FormattingError(PayjourneyError):
    """A locale or date style that Babel cannot format."""


@functools.lru_cache(maxsize=64)
def babel_locale(name: str) -> Locale:
    """The parsed Babel locale, once per name: Babel parses a locale given as a string again
    on every call, which was a tenth of rendering a message."""
    return Locale.parse(name)


# A pass renders thousands of messages with the same few amounts, dates and rates: each is
# formatted by Babel once (equal Decimals format alike, since a currency or the decimals given
# fix the digits shown).
@functools.lru_cache(maxsize=4096)
def _money(locale: str, value: Decimal, currency: str) -> str:
    text: str = format_currency(value, currency, locale=babel_locale(locale))
    return text.translate(_SPACES)


@functools.lru_cache(maxsize=4096)
def _date(locale: str, day: dt.date, style: str) -> str:
    text: str = _babel_date(day, style, locale=babel_locale(locale))
    return text.translate(_SPACES)


@functools.lru_cache(maxsize=4096)
def _number(locale: str, value: Decimal | int | float, decimals: int | None) -> str:
    if decimals is not None:
        pattern = "#,##0." + "0" * decimals if decimals > 0 else "#,##0"
        text: str = format_decimal(value, format=pattern, locale=babel_locale(locale))
    else:
        text = format_decimal(value, locale=babel_locale(locale))
    return text.translate(_SPACES)


@functools.lru_cache(maxsize=4096)
def _percent(locale: str, value: Decimal, decimals: int) -> str:
    fraction = value / 100
    pattern = "#,##0." + "0" * decimals + "%" if decimals else "#,##0%"
    if locale.split("_", 1)[0] == "de":
        pattern = pattern.replace("%", "\u00a0%")
    text: str = format_percent(fraction, format=pattern, locale=babel_locale(locale))
    return text.translate(_SPACES)


@dataclass(frozen=True, slots=True)
class LocaleFormat:
    """Formatting helpers for one locale, as templates call them."""

    locale: str

    def __post_init__(self) -> None:
        try:
            babel_locale(self.locale)
        except (UnknownLocaleError, ValueError, TypeError) as exc:
            raise FormattingError(
                f"unknown locale {self.locale!r}; use a locale such as nl_NL, nl_BE, de_DE, de_AT"
            ) from exc

    @property
    def language(self) -> str:
        return self.locale.split("_", 1)[0]

    def money(self, amount: Decimal | int | str, currency: str = "EUR") -> str:
        """An amount with its currency: "€ 1.234,50" (nl_NL), "1.234,50 €" (de_DE)."""
        return _money(self.locale, Decimal(str(amount)), currency)

    def number(self, value: Decimal | int | float, decimals: int | None = None) -> str:
        """A number with the locale's separators: "1.234,5"."""
        return _number(self.locale, value, decimals)

    def percent(self, value: Decimal | int | float, decimals: int = 2) -> str:
        """A rate given in percent points (6.27 -> "6,27%" / "6,27 %")."""
        return _percent(self.locale, Decimal(str(value)), decimals)

    def date(self, day: dt.date | dt.datetime | str, style: str = "long") -> str:
        """A date: long "3 november 2026", "3. November 2026"; short "03-11-2026", "03.11.2026"."""
        if style not in DATE_STYLES:
            raise FormattingError(f"date style {style!r} is not one of {', '.join(DATE_STYLES)}")
        if isinstance(day, str):
            try:
                day = dt.date.fromisoformat(day[:10])
            except ValueError as exc:
                raise FormattingError(f"{day!r} is not a date (YYYY-MM-DD)") from exc
        if isinstance(day, dt.datetime):
            day = day.date()
        if style == "short" and self.language in SHORT_DATE:
            return _date(self.locale, day, SHORT_DATE[self.language])
        return _date(self.locale, day, style)

    def plural(self, count: int | Decimal, one: str, other: str) -> str:
        """The word form for `count`: plural(1, "factuur", "facturen") -> "factuur"."""
        form = babel_locale(self.locale).plural_form(count)
        return one if form == "one" else other

    def count(self, count: int, one: str, other: str) -> str:
        """The number with its word: count(2, "Rechnung", "Rechnungen") -> "2 Rechnungen"."""
        return f"{self.number(count)} {self.plural(count, one, other)}"

    def helpers(self) -> dict[str, Any]:
        """The functions templates call: money, number, percent, date, plural, count."""
        return {
            "money": self.money,
            "number": self.number,
            "percent": self.percent,
            "date": self.date,
            "plural": self.plural,
            "count": self.count,
        }
