"""Timing arithmetic, as properties: inside the window, never on a holiday, monotonic, DST-safe."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.decision import timing
from engine.rules.spec import SendWindow

ZONES = ["Europe/Amsterdam", "Europe/Berlin", "Europe/Brussels", "UTC", "America/New_York"]
CALENDARS = ("NL", "DE", "BE", "AT")

windows = st.builds(
    lambda days, start, length: SendWindow(
        days=frozenset(days),
        start=dt.time(start // 60, start % 60),
        end=dt.time(
            min(start + length, 23 * 60 + 59) // 60, min(start + length, 23 * 60 + 59) % 60
        ),
    ),
    st.sets(st.integers(0, 6), min_size=1),
    st.integers(0, 20 * 60),
    st.integers(60, 12 * 60),
)
dates = st.dates(dt.date(2025, 1, 1), dt.date(2028, 12, 31))
countries = st.sampled_from(["NL", "DE", "BE", "AT", "FR", None])


@settings(max_examples=300)
@given(
    dates,
    st.integers(-10, 60),
    st.integers(0, 10),
    windows,
    st.sampled_from(ZONES),
    countries,
    st.none() | st.integers(0, 23),
)
def test_a_step_time_is_inside_the_window_and_never_on_a_holiday(
    due: dt.date,
    at_days: int,
    shift: int,
    window: SendWindow,
    zone: str,
    country: str | None,
    pay_hour: int | None,
) -> None:
    """Whatever the due date, shift, window, zone and pay hour: the send time is allowed."""
    tz = timing.zone(zone)
    moment = timing.step_time(due, at_days, shift, window, tz, country, CALENDARS, pay_hour)
    assert timing.in_window(moment, window, tz, country, CALENDARS)
    local = moment.astimezone(tz).date()
    assert not timing.is_holiday(local, country, CALENDARS)
    moved = at_days + (shift if at_days > 0 else 0)
    assert local >= due + dt.timedelta(days=moved)


@settings(max_examples=300)
@given(dates, st.integers(-10, 0), st.integers(0, 30), st.sampled_from(ZONES), countries)
def test_shift_by_never_moves_a_step_before_the_due_date(
    due: dt.date, at_days: int, shift: int, zone: str, country: str | None
) -> None:
    """A usually-late debtor's nudge two days before the due date stays before it: shift_by
    moves reminders after the due date only."""
    tz = timing.zone(zone)
    every_day = SendWindow(days=frozenset(range(7)), start=dt.time(9), end=dt.time(17))
    moment = timing.step_time(due, at_days, shift, every_day, tz, None, ())
    assert moment.astimezone(tz).date() == due + dt.timedelta(days=at_days)


@settings(max_examples=300)
@given(dates, countries)
def test_a_term_ends_on_a_working_day(day: dt.date, country: str | None) -> None:
    """A term that would end on a weekend or public holiday ends on the next working day,
    never earlier and never on a weekend."""
    end = timing.term_end(day, country)
    assert end >= day
    assert end.weekday() < 5
    assert timing.is_working_day(end, country)
    assert all(
        not timing.is_working_day(day + dt.timedelta(days=d), country)
        for d in range((end - day).days)
    )


def test_a_fourteen_day_term_ending_on_saturday_runs_to_monday() -> None:
    """Posted Thursday 5 November 2026, received 7 November: a term ending Saturday 21 November
    runs to Monday 23 November (Atw art. 1; § 193 BGB)."""
    assert timing.term_end(dt.date(2026, 11, 21), "NL") == dt.date(2026, 11, 23)
    assert timing.term_end(dt.date(2026, 11, 21), "DE") == dt.date(2026, 11, 23)


def test_the_fifth_of_may_is_a_dutch_holiday_every_year() -> None:
    """Bevrijdingsdag counts every year (Atw art. 3), also in 2026 when it is not a day off:
    no Dutch reminder goes out on 5 May and a Dutch term ending then runs to 6 May."""
    assert timing.is_holiday(dt.date(2026, 5, 5), "NL", CALENDARS)
    assert timing.term_end(dt.date(2026, 5, 5), "NL") == dt.date(2026, 5, 6)
    assert timing.term_end(dt.date(2026, 5, 5), "DE") == dt.date(2026, 5, 5)
    weekdays = SendWindow(days=frozenset(range(5)), start=dt.time(9), end=dt.time(17))
    tz = timing.zone("Europe/Amsterdam")
    moment = timing.step_time(dt.date(2026, 5, 1), 4, 0, weekdays, tz, "NL", CALENDARS)
    assert moment.date() == dt.date(2026, 5, 6)


def test_good_friday_and_easter_monday_end_no_dutch_or_german_term() -> None:
    """A term ending Good Friday 3 April 2026 runs past Easter to Tuesday 7 April."""
    assert timing.term_end(dt.date(2026, 4, 3), "NL") == dt.date(2026, 4, 7)
    assert timing.term_end(dt.date(2026, 4, 3), "DE") == dt.date(2026, 4, 7)


@settings(max_examples=200)
@given(
    dates,
    st.lists(st.integers(-10, 60), min_size=2, max_size=6).map(sorted),
    st.integers(0, 10),
    windows,
    st.sampled_from(ZONES),
    countries,
)
def test_later_steps_never_come_earlier(
    due: dt.date, ats: list[int], shift: int, window: SendWindow, zone: str, country: str | None
) -> None:
    """Step times follow the order of their `at`."""
    tz = timing.zone(zone)
    times = [timing.step_time(due, a, shift, window, tz, country, CALENDARS) for a in ats]
    assert times == sorted(times)


@settings(max_examples=300)
@given(
    st.datetimes(dt.datetime(2025, 1, 1), dt.datetime(2028, 12, 31), timezones=st.just(dt.UTC)),
    windows,
    st.sampled_from(ZONES),
    countries,
)
def test_the_next_window_opening_is_now_or_later_and_open(
    now: dt.datetime, window: SendWindow, zone: str, country: str | None
) -> None:
    """next_window_opening never goes back in time and always lands in the window."""
    tz = timing.zone(zone)
    opening = timing.next_window_opening(now, window, tz, country, CALENDARS)
    assert opening >= now
    assert timing.in_window(opening, window, tz, country, CALENDARS)


@given(
    st.integers(-100, 100) | st.floats(-100, 100, allow_nan=False) | st.none(), st.integers(0, 30)
)
def test_a_shift_is_whole_days_never_negative_and_capped(value: float | None, cap: int) -> None:
    """shift_by rounds down, never moves a step earlier, and stops at the cap."""
    shift = timing.shift_days(value, cap)
    assert 0 <= shift <= cap
    if value is not None and 0 <= value < cap:
        assert shift == int(value)


def test_dst_days_neither_drop_nor_double_a_daily_send() -> None:
    """Across both 2026 DST changes, a 02:30 window start yields one send a day, in order."""
    tz = timing.zone("Europe/Amsterdam")
    window = SendWindow(days=frozenset(range(7)), start=dt.time(2, 30), end=dt.time(20, 0))
    for start in (dt.date(2026, 3, 27), dt.date(2026, 10, 23)):
        times = [timing.step_time(start, d, 0, window, tz, None, ()) for d in range(5)]
        assert [t.astimezone(tz).date() for t in times] == [
            start + dt.timedelta(days=d) for d in range(5)
        ]
        assert times == sorted(times)


def test_a_window_inside_the_spring_forward_gap_moves_the_step_to_the_next_day() -> None:
    """A 02:00-03:00 window does not exist on 29 March 2026 in Amsterdam: the step goes out the
    next day at 02:00, inside the window (found by the property above)."""
    window = SendWindow(days=frozenset(range(7)), start=dt.time(2, 0), end=dt.time(3, 0))
    tz = timing.zone("Europe/Amsterdam")
    moment = timing.step_time(dt.date(2026, 3, 29), 0, 0, window, tz, None, CALENDARS, None)
    assert moment.astimezone(tz).replace(tzinfo=None) == dt.datetime(2026, 3, 30, 2, 0)
    assert timing.in_window(moment, window, tz, None, CALENDARS)
