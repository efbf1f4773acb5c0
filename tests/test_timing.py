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
    assert local >= due + dt.timedelta(days=at_days + shift)


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
