"""Legal calculations: in default or not, the Dutch collection-cost scale, statutory interest."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.messages.legal import (
    DEFAULT_RATES_PATH,
    Interest,
    LegalError,
    LegalSettings,
    RateTable,
    UnsupportedCountry,
    collection_costs,
    interest_series,
    is_in_default,
    late_fees,
    rate_changes_missed,
    statutory_interest,
    wik_term_end,
)

D = dt.date
DUE = D(2026, 10, 1)
RATES = RateTable.load()


def _default(**kw: object) -> bool:
    args: dict[str, object] = {
        "country": "NL",
        "kind": "business",
        "due_date": DUE,
        "today": D(2026, 10, 2),
        "first_reminder_sent": None,
        "invoice_warned_of_default": False,
    }
    args.update(kw)
    return is_in_default(**args)  # type: ignore[arg-type]


def test_a_dutch_business_is_in_default_the_day_after_the_due_date() -> None:
    """art. 6:119a BW: no notice needed between businesses."""
    assert not _default(today=DUE)
    assert _default(today=DUE + dt.timedelta(days=1))


def test_a_dutch_consumer_is_not_in_default_without_the_14_day_letter() -> None:
    assert not _default(kind="consumer", today=D(2027, 6, 1))


def test_the_14_day_term_starts_the_day_after_the_letter_is_received() -> None:
    """Posted 1 Nov, received 3 Nov, 14 days later is 17 Nov: in default from 18 Nov."""
    posted = D(2026, 11, 1)
    assert wik_term_end(posted) == D(2026, 11, 17)
    kw = {"kind": "consumer", "first_reminder_sent": posted}
    assert not _default(today=D(2026, 11, 15), **kw)  # 14 days after posting: too early
    assert not _default(today=D(2026, 11, 17), **kw)
    assert _default(today=D(2026, 11, 18), **kw)


def test_a_german_business_is_in_default_30_days_after_the_due_date() -> None:
    kw = {"country": "DE"}
    assert not _default(today=DUE + dt.timedelta(days=30), **kw)
    assert _default(today=DUE + dt.timedelta(days=31), **kw)


def test_a_german_consumer_is_in_default_after_30_days_only_when_the_invoice_warned() -> None:
    later = DUE + dt.timedelta(days=60)
    assert not _default(country="DE", kind="consumer", today=later)
    assert _default(country="DE", kind="consumer", today=later, invoice_warned_of_default=True)


def test_a_mahnung_after_the_due_date_puts_a_german_debtor_in_default_on_receipt() -> None:
    sent = DUE + dt.timedelta(days=5)
    kw = {"country": "DE", "kind": "consumer", "first_reminder_sent": sent}
    assert not _default(today=sent + dt.timedelta(days=1), **kw)
    assert _default(today=sent + dt.timedelta(days=2), **kw)


def test_a_reminder_sent_before_the_due_date_is_no_mahnung() -> None:
    early = DUE - dt.timedelta(days=2)
    kw = {"country": "DE", "kind": "consumer", "first_reminder_sent": early}
    assert not _default(today=DUE + dt.timedelta(days=10), **kw)


def test_nobody_is_in_default_on_or_before_the_due_date() -> None:
    for country in ("NL", "DE"):
        for kind in ("consumer", "business"):
            assert not _default(
                country=country,
                kind=kind,
                today=DUE,
                first_reminder_sent=DUE - dt.timedelta(days=40),
                invoice_warned_of_default=True,
            )


def test_belgium_follows_its_own_rules() -> None:
    """BE: businesses after the due date; a consumer's 14 days start on the third working day
    after the first reminder: sent Friday 6 Nov, the term runs 11-24 Nov."""
    assert _default(country="BE", today=DUE + dt.timedelta(days=1))
    kw = {"country": "BE", "kind": "consumer", "first_reminder_sent": D(2026, 11, 6)}
    assert not _default(today=D(2026, 11, 24), **kw)
    assert _default(today=D(2026, 11, 25), **kw)


def test_a_country_without_known_rules_is_never_claimed_in_default() -> None:
    assert not _default(country="FR", today=DUE + dt.timedelta(days=400))


def test_interest_for_an_unknown_country_is_refused_with_a_hint() -> None:
    with pytest.raises(UnsupportedCountry, match="rate table"):
        statutory_interest(
            country="FR",
            kind="business",
            principal=Decimal(1),
            start=DUE,
            end=DUE + dt.timedelta(days=1),
            rates=RATES,
        )
    with pytest.raises(LegalError, match="consumer"):
        _default(kind="person")


@pytest.mark.parametrize(
    ("principal", "costs"),
    [
        ("0", "40.00"),
        ("100", "40.00"),
        ("266.66", "40.00"),
        ("267", "40.05"),
        ("2500", "375.00"),
        ("3000", "425.00"),
        ("5000", "625.00"),
        ("10000", "875.00"),
        ("200000", "2775.00"),
        ("1000000", "6775.00"),
        ("5000000", "6775.00"),
    ],
)
def test_the_collection_cost_scale_at_each_band_edge(principal: str, costs: str) -> None:
    result = collection_costs(Decimal(principal))
    assert result.costs == Decimal(costs)
    assert result.vat == 0
    assert result.total == Decimal(costs)


def test_vat_on_collection_costs_is_added_when_configured() -> None:
    result = collection_costs(Decimal(2500), vat_rate=Decimal("0.21"))
    assert (result.costs, result.vat, result.total) == (
        Decimal("375.00"),
        Decimal("78.75"),
        Decimal("453.75"),
    )


@given(st.decimals(min_value=0, max_value=10**7, places=2))
def test_collection_costs_never_fall_outside_40_to_6775(principal: Decimal) -> None:
    costs = collection_costs(principal).costs
    assert Decimal(40) <= costs <= Decimal(6775)


@given(
    st.decimals(min_value=0, max_value=10**6, places=2),
    st.decimals(min_value=0, max_value=10**6, places=2),
)
def test_more_principal_never_means_fewer_collection_costs(a: Decimal, b: Decimal) -> None:
    low, high = sorted((a, b))
    assert collection_costs(low).costs <= collection_costs(high).costs


def test_the_shipped_rate_table_has_the_rates_of_2025() -> None:
    assert RATES.rate_on("nl_wettelijke_rente", D(2025, 3, 1)) == Decimal("6.0")
    assert RATES.rate_on("de_basiszins", D(2025, 7, 1)) == Decimal("1.27")
    assert RATES.rate_on("de_basiszins", D(2025, 6, 30)) == Decimal("2.27")


def test_german_consumer_interest_is_the_base_rate_plus_5_points_split_at_a_change() -> None:
    """1000 EUR from 2025-06-01 to 2025-08-01: 30 days at 7.27%, 31 days at 6.27%."""
    result = statutory_interest(
        country="DE",
        kind="consumer",
        principal=Decimal(1000),
        start=D(2025, 6, 1),
        end=D(2025, 8, 1),
        rates=RATES,
    )
    assert [(p.days, p.rate) for p in result.periods] == [
        (30, Decimal("7.27")),
        (31, Decimal("6.27")),
    ]
    expected = Decimal(1000) * (Decimal("7.27") * 30 + Decimal("6.27") * 31) / 100 / 365
    assert result.amount == expected.quantize(Decimal("0.01"))
    assert result.amount == Decimal("11.30")


def test_german_business_interest_is_the_base_rate_plus_9_points() -> None:
    result = statutory_interest(
        country="DE",
        kind="business",
        principal=Decimal(10000),
        start=D(2025, 7, 1),
        end=D(2025, 7, 1) + dt.timedelta(days=365),
        rates=RATES,
    )
    assert result.amount == Decimal("1027.00")


def test_dutch_consumer_interest_compounds_after_each_year() -> None:
    """1000 EUR at 6% for two years in 2025-2027: 60 in year one, 63.60 in year two."""
    table = RateTable.from_mapping({"nl_wettelijke_rente": {"2025-01-01": 6}})
    result = statutory_interest(
        country="NL",
        kind="consumer",
        principal=Decimal(1000),
        start=D(2025, 1, 1),
        end=D(2027, 1, 1),
        rates=table,
    )
    assert [p.principal for p in result.periods] == [Decimal(1000), Decimal(1060)]
    assert result.amount == Decimal("123.60")


def test_dutch_commercial_interest_crosses_the_july_change() -> None:
    result = statutory_interest(
        country="NL",
        kind="business",
        principal=Decimal(36500),
        start=D(2025, 6, 21),
        end=D(2025, 7, 11),
        rates=RATES,
    )
    # 10 days at 11.15% and 10 days at 10.15% on 36,500: 111.50 + 101.50
    assert result.amount == Decimal("213.00")


def test_interest_over_an_empty_period_is_zero() -> None:
    result = statutory_interest(
        country="NL",
        kind="consumer",
        principal=Decimal(100),
        start=DUE,
        end=DUE,
        rates=RATES,
    )
    assert result.amount == Decimal("0.00") and result.periods == ()


def test_a_date_before_the_table_starts_says_to_add_rates() -> None:
    with pytest.raises(LegalError, match="add older rates"):
        RATES.rate_on("de_basiszins", D(2000, 1, 1))


def test_a_bad_rate_table_names_the_series() -> None:
    with pytest.raises(LegalError, match="unknown rate series 'fr_taux'"):
        RateTable.from_mapping({"fr_taux": {"2025-01-01": 3}})


def test_late_fees_only_once_in_default() -> None:
    kw = {"principal": Decimal(500)}
    assert late_fees(country="DE", kind="business", in_default=False, **kw) == 0
    assert late_fees(country="DE", kind="business", in_default=True, **kw) == Decimal(40)
    assert late_fees(country="DE", kind="consumer", in_default=True, **kw) == 0
    assert late_fees(country="NL", kind="consumer", in_default=True, **kw) == Decimal("75.00")


# ------------------------------------------------------------------ settings and the rate table


def test_legal_settings_default_to_two_receipt_days_no_vat_and_seven_payment_days() -> None:
    """No settings.legal block, or an empty one: the documented defaults and the shipped table."""
    for given_ in (None, {}):
        settings = LegalSettings.from_mapping(given_)
        assert (settings.receipt_days, settings.collection_cost_vat_rate) == (2, Decimal(0))
        assert (settings.payment_days, settings.rates_file, settings.handoff_to) == (7, None, None)
    assert LegalSettings().rates() == RateTable.load(DEFAULT_RATES_PATH)


def test_legal_settings_read_every_key(tmp_path: Path) -> None:
    """Each key of settings.legal lands in its field, numbers as numbers, the table from its file."""
    table = tmp_path / "rates.toml"
    table.write_text('[de_basiszins]\n"2025-01-01" = 2.0\n', encoding="utf-8")
    settings = LegalSettings.from_mapping(
        {
            "receipt_days": "3",
            "collection_cost_vat_rate": 0.21,
            "payment_days": 10,
            "rates_file": str(table),
            "handoff_to": "Incassobureau Noord",
        }
    )
    assert settings == LegalSettings(
        receipt_days=3,
        collection_cost_vat_rate=Decimal("0.21"),
        payment_days=10,
        rates_file=table,
        handoff_to="Incassobureau Noord",
    )
    assert settings.rates().rate_on("de_basiszins", D(2025, 6, 1)) == Decimal("2.0")


def test_a_misspelt_or_malformed_legal_setting_names_the_key_and_the_known_ones() -> None:
    """`recieve_days` is refused with the list of known keys; a non-number says settings.legal."""
    with pytest.raises(LegalError) as typo:
        LegalSettings.from_mapping({"recieve_days": 2, "payment_days": 7})
    assert str(typo.value) == (
        "settings.legal: unknown key(s) recieve_days; known: receipt_days, "
        "collection_cost_vat_rate, payment_days, rates_file, handoff_to"
    )
    for bad in ({"receipt_days": "two"}, {"collection_cost_vat_rate": "a fifth"}):
        with pytest.raises(LegalError, match=r"^settings\.legal: "):
            LegalSettings.from_mapping(bad)


def test_a_rate_table_is_read_sorted_by_date_whatever_the_file_order(tmp_path: Path) -> None:
    """Rows out of order in the file: each rate still holds from its own date to the next."""
    path = tmp_path / "rates.toml"
    path.write_text(
        '[nl_handelsrente]\n"2025-07-01" = 10.15\n"2025-01-01" = 11.15\n', encoding="utf-8"
    )
    table = RateTable.load(path)
    assert table.source == str(path)
    assert table.series["nl_handelsrente"] == (
        (D(2025, 1, 1), Decimal("11.15")),
        (D(2025, 7, 1), Decimal("10.15")),
    )
    assert table.rate_on("nl_handelsrente", D(2025, 6, 30)) == Decimal("11.15")
    assert table.rate_on("nl_handelsrente", D(2025, 7, 1)) == Decimal("10.15")
    assert table.rate_on("nl_handelsrente", D(2025, 1, 1)) == Decimal("11.15")
    assert table.changes_between("nl_handelsrente", D(2025, 1, 1), D(2025, 7, 1)) == []
    assert table.changes_between("nl_handelsrente", D(2024, 12, 31), D(2025, 7, 2)) == [
        D(2025, 1, 1),
        D(2025, 7, 1),
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('[nl_handelsrente]\n"01-07-2025" = 10\n', 'needs rows like "2025-01-01" = 6.0'),
        ('[nl_handelsrente]\n"2025-07-01" = "ten"\n', 'needs rows like "2025-01-01" = 6.0'),
        ("nl_handelsrente = 10\n", "[nl_handelsrente] must map dates to percentages"),
        ("[nl_handelsrente]\n", "[nl_handelsrente] must map dates to percentages"),
        ("[nl_handelsrente\n", "cannot read the interest rate table"),
    ],
)
def test_a_malformed_rate_table_says_what_a_row_looks_like(
    tmp_path: Path, text: str, problem: str
) -> None:
    """Wrong date format, a non-number, an empty series or broken TOML: the file and the fix."""
    path = tmp_path / "rates.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(LegalError) as error:
        RateTable.load(path)
    assert problem in str(error.value) and str(path) in str(error.value)


def test_a_missing_rate_table_file_is_named() -> None:
    """A rates_file that does not exist: the error names it."""
    with pytest.raises(
        LegalError, match=r"cannot read the interest rate table /nowhere/rates\.toml"
    ):
        RateTable.load(Path("/nowhere/rates.toml"))


def test_a_series_missing_from_the_table_is_named() -> None:
    """Asking German rates of a Dutch-only table names the series and the table."""
    table = RateTable.from_mapping({"nl_handelsrente": {"2025-01-01": 11}}, source="mine.toml")
    with pytest.raises(LegalError, match=r"^mine\.toml: the rate table has no \[de_basiszins\]"):
        table.rate_on("de_basiszins", D(2025, 3, 1))
    assert table.changes_between("de_basiszins", D(2025, 1, 1), D(2026, 1, 1)) == []


def test_each_country_and_kind_has_its_interest_series_and_surcharge() -> None:
    """NL: wettelijke rente / handelsrente as they are; DE: base rate + 5 or + 9 points."""
    assert interest_series("nl", "consumer") == ("nl_wettelijke_rente", Decimal(0))
    assert interest_series("NL", "business") == ("nl_handelsrente", Decimal(0))
    assert interest_series("de", "consumer") == ("de_basiszins", Decimal(5))
    assert interest_series("DE", "business") == ("de_basiszins", Decimal(9))
    with pytest.raises(LegalError, match="'consumer' or 'business', not 'person'"):
        interest_series("NL", "person")


@pytest.mark.parametrize(
    ("today", "since"),
    [
        (D(2026, 1, 1), D(2026, 1, 1)),
        (D(2026, 6, 30), D(2026, 1, 1)),
        (D(2026, 7, 1), D(2026, 7, 1)),
        (D(2026, 12, 31), D(2026, 7, 1)),
    ],
)
def test_a_rate_table_not_confirmed_since_the_last_1_january_or_1_july_is_flagged(
    today: dt.date, since: dt.date
) -> None:
    """Rates change every six months: a series whose newest row predates the last change date."""
    table = RateTable.from_mapping(
        {"nl_handelsrente": {"2025-07-01": 10.15}, "de_basiszins": {str(since): 1.27}}
    )
    assert rate_changes_missed(table, today) == [("nl_handelsrente", D(2025, 7, 1), since)]


def test_german_business_default_interest_over_a_leap_day_counts_actual_days() -> None:
    """Actual/365: 29 Feb 2028 is one more day of interest, never compounded in Germany."""
    table = RateTable.from_mapping({"de_basiszins": {"2027-01-01": 1.0}})
    interest = statutory_interest(
        country="DE",
        kind="business",
        principal=Decimal(3650),
        start=D(2027, 3, 1),
        end=D(2029, 3, 1),
        rates=table,
    )
    assert [p.days for p in interest.periods] == [731]
    assert interest.amount == Decimal("731.00")  # 3650 * 10% / 365 = 1.00 a day


# ------------------------------------------------------------------ the slips mutation testing found


def _interest(
    country: str, kind: str, principal: str, start: dt.date, end: dt.date, **rows: float
) -> Interest:
    table = RateTable.from_mapping({name: {"2020-01-01": rate} for name, rate in rows.items()})
    return statutory_interest(
        country=country,
        kind=kind,
        principal=Decimal(principal),
        start=start,
        end=end,
        rates=table,
    )


def test_dutch_interest_compounds_after_every_year_not_only_the_first() -> None:
    """1000 EUR at 6% for three years: 60, then 63.60, then 67.42 (on 1123.60)."""
    result = _interest(
        "NL", "consumer", "1000", D(2029, 1, 1), D(2032, 1, 1), nl_wettelijke_rente=6
    )
    assert [(p.start, p.end, p.days) for p in result.periods] == [
        (D(2029, 1, 1), D(2030, 1, 1), 365),
        (D(2030, 1, 1), D(2031, 1, 1), 365),
        (D(2031, 1, 1), D(2032, 1, 1), 365),
    ]
    assert [p.principal for p in result.periods] == [
        Decimal(1000),
        Decimal(1060),
        Decimal("1123.60"),
    ]
    assert result.amount == Decimal("191.02")  # 60 + 63.60 + 67.416


def test_a_rate_change_inside_a_year_still_adds_the_whole_years_interest() -> None:
    """NL: a change on 1 July in year one: both halves are added to the principal a year on."""
    table = RateTable.from_mapping({"nl_wettelijke_rente": {"2029-01-01": 6, "2029-07-02": 12}})
    result = statutory_interest(
        country="NL",
        kind="consumer",
        principal=Decimal(3650),
        start=D(2029, 1, 1),
        end=D(2030, 1, 2),
        rates=table,
    )
    first_year = 3650 * Decimal("0.06") * 182 / 365 + 3650 * Decimal("0.12") * 183 / 365
    assert result.periods[-1].principal == Decimal(3650) + first_year
    assert result.periods[-1].start == D(2030, 1, 1)


def test_a_year_of_interest_from_29_february_ends_on_28_february() -> None:
    """NL compounding from a leap day: the anniversaries are 28 Feb 2029 and 28 Feb 2030."""
    result = _interest(
        "NL", "consumer", "100", D(2028, 2, 29), D(2030, 3, 1), nl_wettelijke_rente=5
    )
    assert [p.start for p in result.periods] == [D(2028, 2, 29), D(2029, 2, 28), D(2030, 2, 28)]


def test_interest_is_rounded_half_up_to_the_cent() -> None:
    """DE business at 1% + 9 on 100.25 EUR for a year is 10.025: the debtor owes 10.03."""
    result = _interest("DE", "business", "100.25", D(2029, 1, 1), D(2030, 1, 1), de_basiszins=1)
    assert result.amount == Decimal("10.03")


def test_collection_costs_round_half_up_and_vat_too() -> None:
    """15% of 300.30 is 45.045: 45.05; half of that as VAT is 22.525: 22.53."""
    costs = collection_costs(Decimal("300.30"), vat_rate=Decimal("0.5"))
    assert (costs.principal, costs.costs, costs.vat, costs.total) == (
        Decimal("300.30"),
        Decimal("45.05"),
        Decimal("22.53"),
        Decimal("67.58"),
    )


def test_a_principal_just_past_a_band_edge_pays_the_next_bands_rate_on_the_rest() -> None:
    """2,500.50 EUR: 15% of 2,500 plus 10% of the last 50 cents."""
    assert collection_costs(Decimal("2500.50")).costs == Decimal("375.05")


def test_impossible_collection_cost_inputs_are_refused_with_what_was_given() -> None:
    """A negative principal or a VAT rate of 1 (100%) or more: the error shows the value."""
    with pytest.raises(LegalError) as negative:
        collection_costs(Decimal(-1))
    assert str(negative.value) == "the principal must not be negative, got -1"
    for rate in (Decimal(1), Decimal("1.5"), Decimal("-0.1")):
        with pytest.raises(LegalError) as vat:
            collection_costs(Decimal(100), vat_rate=rate)
        assert str(vat.value) == f"vat_rate is a fraction such as 0.21, got {rate}"


def test_dutch_late_fees_include_vat_when_configured() -> None:
    """NL consumer in default on 1000 EUR: 150 costs plus 21% VAT is 181.50."""
    fees = late_fees(
        country="NL",
        kind="consumer",
        in_default=True,
        principal=Decimal(1000),
        vat_rate=Decimal("0.21"),
    )
    assert fees == Decimal("181.50")


def test_an_unsupported_country_is_named_in_the_error() -> None:
    """France: interest and fees are refused, naming FR and where to add it."""
    for call in (
        lambda: interest_series("fr", "business"),
        lambda: late_fees(country="fr", kind="business", in_default=True, principal=Decimal(1)),
    ):
        with pytest.raises(UnsupportedCountry) as error:
            call()
        assert error.value.country == "FR"
        assert str(error.value) == (
            "no statutory interest rules for country 'FR'; payjourney knows NL and DE. "
            "Add the country's series to the rate table and engine/messages/legal.py"
        )


def test_a_later_receipt_moves_the_end_of_the_dutch_14_day_term() -> None:
    """Letters taking 5 days instead of 2: a Dutch consumer is in default 3 days later."""
    posted = D(2026, 11, 2)  # received 7 Nov with 5 days, term to 21 Nov (a Saturday)
    args = {"kind": "consumer", "first_reminder_sent": posted}
    assert _default(today=D(2026, 11, 19), **args)  # default receipt (2 days): term ended 18 Nov
    assert not _default(today=D(2026, 11, 19), receipt_days=5, **args)
    assert _default(today=D(2026, 11, 24), receipt_days=5, **args)


def test_a_reminder_sent_on_the_due_date_itself_is_no_mahnung() -> None:
    """DE: only a Mahnung sent after the due date puts the debtor in default on receipt."""
    args = {"country": "DE", "kind": "consumer", "due_date": DUE}
    assert not _default(first_reminder_sent=DUE, today=DUE + dt.timedelta(days=5), **args)
    later = DUE + dt.timedelta(days=1)
    assert _default(first_reminder_sent=later, today=later + dt.timedelta(days=2), **args)


def test_partial_legal_settings_keep_the_other_defaults() -> None:
    """Only `handoff_to` given: receipt 2 days, no VAT, 7 payment days; blank values are unset."""
    settings = LegalSettings.from_mapping({"handoff_to": "Incasso Noord"})
    assert settings == LegalSettings(handoff_to="Incasso Noord")
    assert settings.collection_cost_vat_rate == Decimal(0) and settings.payment_days == 7
    blank = LegalSettings.from_mapping({"rates_file": "", "handoff_to": ""})
    assert (blank.rates_file, blank.handoff_to) == (None, None)


def test_several_unknown_legal_settings_are_listed_together() -> None:
    """Two typos: both named, comma-separated, in one error."""
    with pytest.raises(LegalError, match=r"unknown key\(s\) payday, vat; known: "):
        LegalSettings.from_mapping({"vat": 0.21, "payday": 7})


def test_rate_table_errors_name_the_source_and_what_exists() -> None:
    """A table built in memory says <memory>; an unknown series lists the three known ones."""
    with pytest.raises(LegalError) as unknown:
        RateTable.from_mapping({"fr_taux": {"2025-01-01": 3}})
    assert str(unknown.value) == (
        "<memory>: unknown rate series 'fr_taux'; expected one of "
        "nl_wettelijke_rente, nl_handelsrente, de_basiszins"
    )
    table = RateTable.from_mapping({"de_basiszins": {"2025-01-01": 2, "2025-07-01": 1}})
    with pytest.raises(LegalError) as early:
        table.rate_on("de_basiszins", D(2024, 12, 31))
    assert str(early.value) == (
        "<memory>: no de_basiszins rate for 2024-12-31; the table starts 2025-01-01 — "
        "add older rates to the table"
    )
