"""Money, dates, numbers and plurals the way each locale writes them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from engine.messages.formatting import FormattingError, LocaleFormat

NOV_3 = dt.date(2026, 11, 3)


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("nl_NL", "€ 1.234,50"),
        ("de_DE", "1.234,50 €"),
        ("nl_BE", "€ 1.234,50"),
        ("de_AT", "€ 1.234,50"),
    ],
)
def test_an_amount_is_written_as_the_locale_writes_it(locale: str, expected: str) -> None:
    assert LocaleFormat(locale).money(Decimal("1234.5"), "EUR") == expected


def test_money_has_plain_spaces_so_an_sms_stays_in_the_gsm_alphabet() -> None:
    assert "\u00a0" not in LocaleFormat("de_DE").money(Decimal(10))


@pytest.mark.parametrize(
    ("locale", "style", "expected"),
    [
        ("nl_NL", "long", "3 november 2026"),
        ("nl_NL", "short", "03-11-2026"),
        ("nl_NL", "full", "dinsdag 3 november 2026"),
        ("de_DE", "long", "3. November 2026"),
        ("de_DE", "short", "03.11.2026"),
        ("de_AT", "long", "3. November 2026"),
        ("nl_BE", "long", "3 november 2026"),
    ],
)
def test_dates_long_and_short(locale: str, style: str, expected: str) -> None:
    assert LocaleFormat(locale).date(NOV_3, style) == expected


def test_a_date_may_come_as_iso_text() -> None:
    assert LocaleFormat("de_DE").date("2026-11-03") == "3. November 2026"


def test_numbers_and_percentages() -> None:
    nl, de = LocaleFormat("nl_NL"), LocaleFormat("de_DE")
    assert nl.number(Decimal("1234.5"), 2) == "1.234,50"
    assert nl.percent(Decimal("6.27")) == "6,27%"
    assert de.percent(Decimal("6.27")) == "6,27 %"


def test_plural_forms() -> None:
    nl, de = LocaleFormat("nl_NL"), LocaleFormat("de_DE")
    assert nl.count(1, "factuur", "facturen") == "1 factuur"
    assert nl.count(3, "factuur", "facturen") == "3 facturen"
    assert de.count(2, "Rechnung", "Rechnungen") == "2 Rechnungen"
    assert de.plural(1, "Rechnung", "Rechnungen") == "Rechnung"


def test_an_unknown_locale_says_which_locales_work() -> None:
    with pytest.raises(FormattingError, match="nl_NL"):
        LocaleFormat("xx_YY")


def test_an_unknown_date_style_is_refused() -> None:
    with pytest.raises(FormattingError, match="long"):
        LocaleFormat("nl_NL").date(NOV_3, "fancy")
