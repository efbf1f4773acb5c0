"""Money, dates, numbers and plural forms the way a debtor's locale writes them (Babel).

`LocaleFormat("nl_NL").money(Decimal("1234.5"), "EUR")` -> "€ 1.234,50"; in de_DE "1.234,50 €".
Spaces are plain spaces, not Babel's no-break space: an SMS with U+00A0 in it falls out of the
GSM 03.38 alphabet and costs twice the segments.
"""

from __future__ import annotations

import datetime as dt
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


@dataclass(frozen=True, slots=True)
class LocaleFormat:
    """Formatting helpers for one locale, as templates call them."""

    locale: str

    def __post_init__(self) -> None:
        try:
            Locale.parse(self.locale)
        except (UnknownLocaleError, ValueError, TypeError) as exc:
            raise FormattingError(
                f"unknown locale {self.locale!r}; use a locale such as nl_NL, nl_BE, de_DE, de_AT"
            ) from exc

    @property
    def language(self) -> str:
        return self.locale.split("_", 1)[0]

    def money(self, amount: Decimal | int | str, currency: str = "EUR") -> str:
        """An amount with its currency: "€ 1.234,50" (nl_NL), "1.234,50 €" (de_DE)."""
        value = Decimal(str(amount))
        text: str = format_currency(value, currency, locale=self.locale)
        return text.translate(_SPACES)

    def number(self, value: Decimal | int | float, decimals: int | None = None) -> str:
        """A number with the locale's separators: "1.234,5"."""
        if decimals is not None:
            pattern = "#,##0." + "0" * decimals if decimals > 0 else "#,##0"
            text: str = format_decimal(value, format=pattern, locale=self.locale)
        else:
            text = format_decimal(value, locale=self.locale)
        return text.translate(_SPACES)

    def percent(self, value: Decimal | int | float, decimals: int = 2) -> str:
        """A rate given in percent points (6.27 -> "6,27%" / "6,27 %")."""
        fraction = Decimal(str(value)) / 100
        pattern = "#,##0." + "0" * decimals + "%" if decimals else "#,##0%"
        if self.language == "de":
            pattern = pattern.replace("%", "\u00a0%")
        text: str = format_percent(fraction, format=pattern, locale=self.locale)
        return text.translate(_SPACES)

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
            text: str = _babel_date(day, SHORT_DATE[self.language], locale=self.locale)
        else:
            text = _babel_date(day, style, locale=self.locale)
        return text.translate(_SPACES)

    def plural(self, count: int | Decimal, one: str, other: str) -> str:
        """The word form for `count`: plural(1, "factuur", "facturen") -> "factuur"."""
        form = Locale.parse(self.locale).plural_form(count)
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
