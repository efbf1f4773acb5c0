"""Step timing: days relative to the due date, shifts, send windows in the customer's zone, holidays.

Pure arithmetic over dates and zoneinfo; the holiday calendars come from the `holidays` package
(static data, memoised per country and year).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib

from engine.errors import FactSheetError
from engine.rules.spec import SendWindow

UTC = dt.UTC
_SEARCH_DAYS = 400  # a window with any weekday always opens within a year and a bit


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for a customer's time zone; a clear error for an unknown name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise FactSheetError(
            [
                f"customer.timezone: unknown time zone {name!r} (use an IANA name, e.g. Europe/Berlin)"
            ]
        ) from exc


@lru_cache(maxsize=512)
def _holidays(country: str, year: int) -> frozenset[dt.date]:
    try:
        days = set(holidays_lib.country_holidays(country, years=year).keys())
    except NotImplementedError:  # a country the package has no calendar for: weekends only
        return frozenset()
    if country == "NL":
        # Algemene termijnenwet art. 3 lists 5 May every year; the package marks Bevrijdingsdag
        # only every fifth year (when it is a day off for everyone)
        days.add(dt.date(year, 5, 5))
    return frozenset(days)


def is_holiday(day: dt.date, country: str | None, calendars: tuple[str, ...]) -> bool:
    """True when `day` is a public holiday of the customer's country (if we know its calendar)."""
    if country is None or country not in calendars:
        return False
    return day in _holidays(country, day.year)


def holiday_name(day: dt.date, country: str) -> str | None:
    """The holiday's name, for traces."""
    if country == "NL" and (day.month, day.day) == (5, 5):
        return "Liberation Day"
    found = holidays_lib.country_holidays(country, years=day.year).get(day)
    return str(found) if found else None


def is_working_day(day: dt.date, country: str | None) -> bool:
    """Not a Saturday, Sunday or public holiday of `country` (NL: the days of the Algemene
    termijnenwet, 5 May every year included)."""
    return day.weekday() < 5 and (country is None or day not in _holidays(country, day.year))


def term_end(day: dt.date, country: str | None) -> dt.date:
    """The last day of a term that would end on `day`: a term ending on a Saturday, Sunday or
    public holiday runs to the next working day (Algemene termijnenwet art. 1 in the
    Netherlands, § 193 BGB in Germany)."""
    while not is_working_day(day, country):
        day += dt.timedelta(days=1)
    return day


def fixed(moment: dt.datetime) -> dt.datetime:
    """The same instant with a fixed UTC offset: Python never equates a zoneinfo time in a DST
    overlap with one in another zone (PEP 495), so decisions carry fixed offsets."""
    offset = moment.utcoffset()
    assert offset is not None
    return moment.astimezone(dt.timezone(offset))


def local_time(day: dt.date, at: dt.time, tz: ZoneInfo) -> dt.datetime:
    """`day` at wall time `at` in `tz` (fixed offset); a wall time skipped by DST moves forward
    past the gap, a repeated one takes its first occurrence."""
    naive = dt.datetime.combine(day, at)
    aware = naive.replace(tzinfo=tz)
    round_trip = aware.astimezone(UTC).astimezone(tz)
    if round_trip.replace(tzinfo=None) != naive:  # inside a spring-forward gap
        return fixed(round_trip)
    return fixed(aware)


def is_send_day(
    day: dt.date, window: SendWindow, country: str | None, calendars: tuple[str, ...]
) -> bool:
    return day.weekday() in window.days and not is_holiday(day, country, calendars)


def next_send_day(
    day: dt.date, window: SendWindow, country: str | None, calendars: tuple[str, ...]
) -> dt.date:
    """The first day on or after `day` that is a window day and not a public holiday."""
    for offset in range(_SEARCH_DAYS):
        candidate = day + dt.timedelta(days=offset)
        if is_send_day(candidate, window, country, calendars):
            return candidate
    raise ValueError("the send window never opens: give channels.send_window at least one day")


@lru_cache(maxsize=65_536)
def window_bounds(
    day: dt.date, window: SendWindow, tz: ZoneInfo
) -> tuple[dt.datetime, dt.datetime]:
    """When the window opens and closes on `day` in `tz`."""
    return local_time(day, window.start, tz), local_time(day, window.end, tz)


def in_window(
    moment: dt.datetime,
    window: SendWindow,
    tz: ZoneInfo,
    country: str | None,
    calendars: tuple[str, ...],
) -> bool:
    """True when a message may go out at `moment` (aware) for this customer."""
    day = moment.astimezone(tz).date()
    if not is_send_day(day, window, country, calendars):
        return False
    opens, closes = window_bounds(day, window, tz)
    return opens <= moment < closes


def next_window_opening(
    moment: dt.datetime,
    window: SendWindow,
    tz: ZoneInfo,
    country: str | None,
    calendars: tuple[str, ...],
) -> dt.datetime:
    """`moment` itself when the window is open, else the next time it opens."""
    if in_window(moment, window, tz, country, calendars):
        return moment
    day = moment.astimezone(tz).date()
    if not (
        is_send_day(day, window, country, calendars) and moment < window_bounds(day, window, tz)[0]
    ):
        day = _open_send_day(day + dt.timedelta(days=1), window, tz, country, calendars)
    return window_bounds(day, window, tz)[0]


def _open_send_day(
    day: dt.date, window: SendWindow, tz: ZoneInfo, country: str | None, calendars: tuple[str, ...]
) -> dt.date:
    """The first send day on or after `day` whose window has a minute in it: a window lying
    wholly in a spring-forward gap (Sundays 02:00-03:00 in Amsterdam) is empty that day."""
    day = next_send_day(day, window, country, calendars)
    while not window_bounds(day, window, tz)[0] < window_bounds(day, window, tz)[1]:
        day = next_send_day(day + dt.timedelta(days=1), window, country, calendars)
    return day


def shift_days(value: object, max_shift: int) -> int:
    """Whole days to shift by: rounded down, never negative, capped at `max_shift`."""
    if value is None or isinstance(value, bool):
        return 0
    try:
        days = int(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0
    return max(0, min(days, max_shift))


def effective_shift(at_days: int, shift: int) -> int:
    """`shift_by` moves reminders after the due date only: a step before or on the due date
    keeps its day, so a nudge never goes out after the date it announces."""
    return shift if at_days > 0 else 0


@lru_cache(maxsize=262_144)  # pure: debtors share due dates, offsets and zones
def step_time(
    due: dt.date,
    at_days: int,
    shift: int,
    window: SendWindow,
    tz: ZoneInfo,
    country: str | None,
    calendars: tuple[str, ...],
    pay_hour: int | None = None,
) -> dt.datetime:
    """When a step is due: due date + at (+ shift for steps after the due date), moved to the
    next send day, at the window's start (or, with a typical pay hour, an hour before it, kept
    inside the window)."""
    moved = at_days + effective_shift(at_days, shift)
    day = next_send_day(due + dt.timedelta(days=moved), window, country, calendars)
    at = window.start
    if pay_hour is not None and 0 <= pay_hour <= 23:
        preferred = dt.time(max(pay_hour - 1, 0), 0)
        latest = (dt.datetime.combine(day, window.end) - dt.timedelta(minutes=30)).time()
        at = min(max(preferred, window.start), max(latest, window.start))
    moment = local_time(day, at, tz)
    if not in_window(moment, window, tz, country, calendars):
        # the window does not exist that day: it lies in the spring-forward gap (02:00-03:00)
        moment = next_window_opening(moment, window, tz, country, calendars)
    return moment
