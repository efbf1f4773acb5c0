"""Legal calculations of a payment request: in default or not, collection costs, statutory interest.

Pure functions over dates and Decimals; the dated interest-rate table is configuration
(`engine/messages/legal_rates.toml`, or a file of your own passed to `RateTable.load`).
Sources: NL art. 6:96, 6:119, 6:119a BW and the Besluit vergoeding voor buitengerechtelijke
incassokosten; DE §§ 286, 288, 247 BGB.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from engine.errors import PayjourneyError

#: Days we assume a posted letter takes to arrive. The Dutch 14-day term starts the day after
#: the debtor *receives* the letter (HR 25-11-2016), and German Verzug starts on receipt of
#: the Mahnung, so every term here counts from the assumed receipt day, never from the date
#: of the letter.
ASSUMED_RECEIPT_DAYS = 2

#: Days of the Dutch statutory 14-day term (art. 6:96 lid 6 BW).
WIK_TERM_DAYS = 14

#: Days after due date and receipt of the invoice after which a German debtor is in default
#: without a Mahnung (§ 286 Abs. 3 BGB).
DE_DEFAULT_AFTER_DAYS = 30

#: The flat fee a German business debtor in default owes (§ 288 Abs. 5 BGB).
DE_BUSINESS_FLAT_FEE = Decimal("40.00")

KINDS = ("consumer", "business")
CENT = Decimal("0.01")
DEFAULT_RATES_PATH = Path(__file__).with_name("legal_rates.toml")


class LegalError(PayjourneyError):
    """A legal calculation was asked for something we have no rule or rate for."""


class UnsupportedCountry(LegalError):
    """No statutory interest or fee rules are implemented for this country."""

    def __init__(self, country: str) -> None:
        self.country = country
        super().__init__(
            f"no statutory interest rules for country {country!r}; payjourney knows NL and DE. "
            "Add the country's series to the rate table and engine/messages/legal.py"
        )


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise LegalError(f"customer kind must be 'consumer' or 'business', not {kind!r}")


def wik_term_end(letter_posted: dt.date, *, receipt_days: int = ASSUMED_RECEIPT_DAYS) -> dt.date:
    """The last day of the 14-day term of a Dutch 14-day letter posted on `letter_posted`.

    The term runs 14 days from the day after the letter is received (assumed `receipt_days`
    after posting), so the debtor may still pay on the returned day.
    """
    received = letter_posted + dt.timedelta(days=receipt_days)
    return received + dt.timedelta(days=WIK_TERM_DAYS)


def is_in_default(
    *,
    country: str,
    kind: str,
    due_date: dt.date,
    today: dt.date,
    first_reminder_sent: dt.date | None,
    invoice_warned_of_default: bool,
    receipt_days: int = ASSUMED_RECEIPT_DAYS,
) -> bool:
    """Whether the debtor is legally in default (verzuim / Verzug) on `today`.

    NL, business: in default the day after the due date, no notice needed (art. 6:119a BW).
    NL, consumer: in default once the term of the 14-day letter has passed (art. 6:96 lid 6 BW);
      `first_reminder_sent` is the day that letter was posted, and the 14 days start the day
      after it is received (assumed `receipt_days` after posting).
    DE (§ 286 BGB): in default once a Mahnung sent *after* the due date has been received
      (assumed `receipt_days` after sending; a reminder sent before the due date is no
      Mahnung), or 30 days after the due date without one: always for businesses, for
      consumers only if the invoice warned them of this (`invoice_warned_of_default`,
      § 286 Abs. 3 Satz 1). We take the invoice as received by its due date.
    BE, business: in default the day after the due date (law of 2 August 2002, art. 5).
    BE, consumer: once the 14-day term of the free first reminder has passed (Code of
      Economic Law, Book XIX); it starts on the third working day after a paper reminder.
    Any other country: False. We claim default only where we know the rules, so no message
    names default interest or costs on a guess; set the fact yourself for such debtors.
    """
    _check_kind(kind)
    country = country.upper()
    if today <= due_date:
        return False
    if country in ("NL", "BE"):
        if kind == "business":
            return True
        if first_reminder_sent is None:
            return False
        if country == "BE":  # the term starts on the third working day after a paper reminder
            start = _add_working_days(first_reminder_sent, 3)
            return today > start + dt.timedelta(days=WIK_TERM_DAYS - 1)
        return today > wik_term_end(first_reminder_sent, receipt_days=receipt_days)
    if country == "DE":
        if first_reminder_sent is not None and first_reminder_sent > due_date:
            received = first_reminder_sent + dt.timedelta(days=receipt_days)
            if today >= received:
                return True
        if kind == "consumer" and not invoice_warned_of_default:
            return False
        return today > due_date + dt.timedelta(days=DE_DEFAULT_AFTER_DAYS)
    return False


@dataclass(frozen=True, slots=True, kw_only=True)
class LegalSettings:
    """The rule pack's `settings.legal` block (every key optional)."""

    receipt_days: int = ASSUMED_RECEIPT_DAYS  # days a posted letter takes to arrive
    collection_cost_vat_rate: Decimal = Decimal(0)  # e.g. 0.21 when you cannot reclaim VAT
    payment_days: int = 7  # the deadline a reminder gives, in days after it is sent
    rates_file: Path | None = None  # your own rate table; default engine/messages/legal_rates.toml
    handoff_to: str | None = None  # who takes over at handoff (agency name); None: a colleague

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> LegalSettings:
        if not data:
            return cls()
        known = (
            "receipt_days",
            "collection_cost_vat_rate",
            "payment_days",
            "rates_file",
            "handoff_to",
        )
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise LegalError(
                f"settings.legal: unknown key(s) {', '.join(unknown)}; known: {', '.join(known)}"
            )
        try:
            return cls(
                receipt_days=int(data.get("receipt_days", ASSUMED_RECEIPT_DAYS)),
                collection_cost_vat_rate=Decimal(str(data.get("collection_cost_vat_rate", 0))),
                payment_days=int(data.get("payment_days", 7)),
                rates_file=Path(str(data["rates_file"])) if data.get("rates_file") else None,
                handoff_to=str(data["handoff_to"]) if data.get("handoff_to") else None,
            )
        except (ValueError, ArithmeticError) as exc:
            raise LegalError(f"settings.legal: {exc}") from exc

    def rates(self) -> RateTable:
        return _load_rates(self.rates_file or DEFAULT_RATES_PATH)


@functools.lru_cache(maxsize=8)
def _load_rates(path: Path) -> RateTable:
    return RateTable.load(path)


# --- Dutch statutory collection costs ------------------------------------------------------

#: (band width, rate): 15% of the first 2,500, 10% of the next 2,500, 5% of the next 5,000,
#: 1% of the next 190,000, 0.5% above (Besluit vergoeding voor buitengerechtelijke
#: incassokosten, art. 2).
WIK_BANDS: tuple[tuple[Decimal | None, Decimal], ...] = (
    (Decimal(2500), Decimal("0.15")),
    (Decimal(2500), Decimal("0.10")),
    (Decimal(5000), Decimal("0.05")),
    (Decimal(190000), Decimal("0.01")),
    (None, Decimal("0.005")),
)
WIK_MINIMUM = Decimal("40.00")
WIK_MAXIMUM = Decimal("6775.00")


@dataclass(frozen=True, slots=True, kw_only=True)
class CollectionCosts:
    """Dutch extrajudicial collection costs for a principal, with VAT when it is charged."""

    principal: Decimal
    costs: Decimal  # by the statutory scale, without VAT
    vat: Decimal  # VAT on the costs; zero unless the creditor cannot reclaim VAT
    total: Decimal  # costs + vat: the amount the 14-day letter names


def collection_costs(principal: Decimal, *, vat_rate: Decimal = Decimal(0)) -> CollectionCosts:
    """The statutory collection costs (WIK scale) for an unpaid principal in euros.

    `vat_rate` (e.g. Decimal("0.21")) adds VAT on the costs; charge it only when the creditor
    cannot deduct VAT itself (a creditor that files VAT returns charges none).
    """
    if principal < 0:
        raise LegalError(f"the principal must not be negative, got {principal}")
    if not Decimal(0) <= vat_rate < 1:
        raise LegalError(f"vat_rate is a fraction such as 0.21, got {vat_rate}")
    remaining = principal
    costs = Decimal(0)
    for width, rate in WIK_BANDS:
        part = remaining if width is None else min(remaining, width)
        costs += part * rate
        remaining -= part
        if remaining <= 0:
            break
    costs = min(max(costs, WIK_MINIMUM), WIK_MAXIMUM).quantize(CENT, ROUND_HALF_UP)
    vat = (costs * vat_rate).quantize(CENT, ROUND_HALF_UP)
    return CollectionCosts(principal=principal, costs=costs, vat=vat, total=costs + vat)


# --- statutory interest ------------------------------------------------------------------

#: Rate series in the table. NL: wettelijke rente (consumers, art. 6:119 BW) and handelsrente
#: (businesses, art. 6:119a BW), both the full rate in percent. DE: the Basiszinssatz (§ 247
#: BGB), to which § 288 adds 5 points for consumers and 9 for businesses.
SERIES = ("nl_wettelijke_rente", "nl_handelsrente", "de_basiszins")
DE_SURCHARGE = {"consumer": Decimal(5), "business": Decimal(9)}


@dataclass(frozen=True, slots=True, kw_only=True)
class RateTable:
    """Dated interest rates in percent per year: each rate holds from its date to the next."""

    series: Mapping[str, tuple[tuple[dt.date, Decimal], ...]]
    source: str = "<memory>"

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "<memory>") -> RateTable:
        """A table from `{series: {"YYYY-MM-DD": percent, ...}}` (the TOML file's shape)."""
        series: dict[str, tuple[tuple[dt.date, Decimal], ...]] = {}
        for name, rows in data.items():
            if name not in SERIES:
                raise LegalError(
                    f"{source}: unknown rate series {name!r}; expected one of {', '.join(SERIES)}"
                )
            if not isinstance(rows, Mapping) or not rows:
                raise LegalError(f"{source}: [{name}] must map dates to percentages")
            parsed = []
            for key, value in rows.items():
                try:
                    start = key if isinstance(key, dt.date) else dt.date.fromisoformat(str(key))
                    rate = Decimal(str(value))
                except (ValueError, ArithmeticError) as exc:  # Decimal("ten"): InvalidOperation
                    raise LegalError(
                        f'{source}: [{name}] needs rows like "2025-01-01" = 6.0, got {key!r}'
                    ) from exc
                parsed.append((start, rate))
            series[name] = tuple(sorted(parsed))
        return cls(series=series, source=source)

    @classmethod
    def load(cls, path: Path = DEFAULT_RATES_PATH) -> RateTable:
        """Read a TOML rate table (see engine/messages/legal_rates.toml for the shape)."""
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise LegalError(f"cannot read the interest rate table {path}: {exc}") from exc
        return cls.from_mapping(data, source=str(path))

    def rate_on(self, name: str, day: dt.date) -> Decimal:
        """The rate of series `name` that holds on `day`."""
        rows = self.series.get(name)
        if not rows:
            raise LegalError(f"{self.source}: the rate table has no [{name}] series")
        current: Decimal | None = None
        for start, rate in rows:
            if start > day:
                break
            current = rate
        if current is None:
            raise LegalError(
                f"{self.source}: no {name} rate for {day}; the table starts {rows[0][0]} — "
                "add older rates to the table"
            )
        return current

    def changes_between(self, name: str, start: dt.date, end: dt.date) -> list[dt.date]:
        """Dates in (start, end) on which series `name` changes."""
        return [d for d, _ in self.series.get(name, ()) if start < d < end]


@dataclass(frozen=True, slots=True, kw_only=True)
class InterestPeriod:
    """Interest over days at one rate, on one principal."""

    start: dt.date  # first day of interest
    end: dt.date  # day after the last day of interest
    days: int
    rate: Decimal  # percent per year
    principal: Decimal
    interest: Decimal  # unrounded


@dataclass(frozen=True, slots=True, kw_only=True)
class Interest:
    """Statutory interest on a principal from `start` up to (not including) `end`."""

    amount: Decimal  # rounded to cents
    periods: tuple[InterestPeriod, ...]


def interest_series(country: str, kind: str) -> tuple[str, Decimal]:
    """The rate series and the points added to it for a debtor of this country and kind."""
    _check_kind(kind)
    country = country.upper()
    if country == "NL":
        return ("nl_handelsrente" if kind == "business" else "nl_wettelijke_rente"), Decimal(0)
    if country == "DE":
        return "de_basiszins", DE_SURCHARGE[kind]
    raise UnsupportedCountry(country)


def statutory_interest(
    *,
    country: str,
    kind: str,
    principal: Decimal,
    start: dt.date,
    end: dt.date,
    rates: RateTable,
) -> Interest:
    """Statutory default interest from `start` (first day in default) to `end` (exclusive).

    Days count actual/365. Each rate holds from its date in the table, so a period that
    crosses a change is split. NL compounds yearly (art. 6:119 lid 2 BW: after each year the
    interest is added to the principal); DE never compounds (§ 289 BGB).
    """
    if end <= start:
        return Interest(amount=Decimal("0.00"), periods=())
    name, points = interest_series(country, kind)
    compound = country.upper() == "NL"
    cuts = set(rates.changes_between(name, start, end))
    if compound:
        year = 1
        while (anniversary := _add_years(start, year)) < end:
            cuts.add(anniversary)
            year += 1
    bounds = [start, *sorted(cuts), end]
    periods: list[InterestPeriod] = []
    base = principal
    accrued = Decimal(0)
    years = 1
    for left, right in itertools.pairwise(bounds):
        if compound and left == _add_years(start, years):
            base += accrued
            accrued = Decimal(0)
            years += 1
        rate = rates.rate_on(name, left) + points
        days = (right - left).days
        part = base * rate / Decimal(100) * Decimal(days) / Decimal(365)
        periods.append(
            InterestPeriod(
                start=left, end=right, days=days, rate=rate, principal=base, interest=part
            )
        )
        accrued += part
    total = sum((p.interest for p in periods), Decimal(0)).quantize(CENT, ROUND_HALF_UP)
    return Interest(amount=total, periods=tuple(periods))


def _add_working_days(day: dt.date, count: int) -> dt.date:
    """The `count`-th weekday (Monday-Friday) after `day`."""
    while count:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            count -= 1
    return day


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def late_fees(
    *, country: str, kind: str, in_default: bool, principal: Decimal, vat_rate: Decimal = Decimal(0)
) -> Decimal:
    """What a reminder may add to the principal as a fixed fee, and only when it is owed.

    DE business in default: the EUR 40 flat fee (§ 288 Abs. 5 BGB). NL: the scale costs, once
    the debtor is in default (for consumers: after the 14-day letter's term). Otherwise zero.
    """
    if not in_default:
        return Decimal("0.00")
    _check_kind(kind)
    country = country.upper()
    if country == "DE":
        return DE_BUSINESS_FLAT_FEE if kind == "business" else Decimal("0.00")
    if country == "NL":
        return collection_costs(principal, vat_rate=vat_rate).total
    raise UnsupportedCountry(country)


def rate_changes_missed(table: RateTable, today: dt.date) -> list[tuple[str, dt.date, dt.date]]:
    """Series whose newest row is older than the last 1 January / 1 July on or before `today`.

    Statutory rates are set every six months. A rate may stay the same (then no row was needed),
    but a table that has not been looked at since the last change date deserves a check:
    returns (series, newest row, the change date since which it was not confirmed).
    """
    last_change = dt.date(today.year, 7 if today.month >= 7 else 1, 1)
    return [
        (name, rows[-1][0], last_change)
        for name, rows in table.series.items()
        if rows and rows[-1][0] < last_change
    ]
