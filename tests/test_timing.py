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


AMSTERDAM = timing.zone("Europe/Amsterdam")


def test_a_wall_time_in_the_spring_forward_gap_is_read_after_the_gap() -> None:
    """02:30 on 29 Mar 2026 does not exist in Amsterdam: it is 03:30 summer time."""
    moment = timing.local_time(dt.date(2026, 3, 29), dt.time(2, 30), AMSTERDAM)
    assert moment.isoformat() == "2026-03-29T03:30:00+02:00"
    normal = timing.local_time(dt.date(2026, 3, 30), dt.time(8, 0), AMSTERDAM)
    assert normal.isoformat() == "2026-03-30T08:00:00+02:00"


def test_a_fixed_time_keeps_the_customers_own_offset() -> None:
    """09:00 in Amsterdam stays 09:00+01:00, whatever zone the machine runs in."""
    moment = dt.datetime(2026, 11, 23, 9, 0, tzinfo=AMSTERDAM)
    assert timing.fixed(moment).isoformat() == "2026-11-23T09:00:00+01:00"


def test_holidays_count_only_for_calendars_the_rules_name() -> None:
    """Christmas is a holiday for an NL customer under NL calendars; not for BE unless named."""
    christmas = dt.date(2026, 12, 25)
    assert timing.is_holiday(christmas, "NL", ("NL", "DE"))
    assert not timing.is_holiday(christmas, "BE", ("NL", "DE"))
    assert timing.is_holiday(christmas, "BE", ("BE",))
    assert not timing.is_holiday(christmas, None, ("NL",))


def test_a_holiday_has_a_name_for_the_trace_and_a_working_day_has_none() -> None:
    """25 Dec is 'Christmas Day' in NL; 23 Dec is no holiday."""
    assert timing.holiday_name(dt.date(2026, 12, 25), "NL") == "Christmas Day"
    assert timing.holiday_name(dt.date(2026, 12, 23), "NL") is None
    assert timing.holiday_name(dt.date(2026, 5, 1), "DE") == "Labor Day"


def test_a_window_that_never_opens_is_refused_with_the_fix() -> None:
    """No send day at all: the error says to give send_window at least one day."""
    never = SendWindow(days=frozenset(), start=dt.time(8), end=dt.time(20))
    try:
        timing.next_send_day(dt.date(2026, 1, 1), never, None, ())
    except ValueError as exc:
        assert str(exc) == "the send window never opens: give channels.send_window at least one day"
    else:
        raise AssertionError("a window without days must be refused")


WEEKDAYS = SendWindow(days=frozenset(range(5)), start=dt.time(8), end=dt.time(20))


def test_the_window_closes_at_its_end_and_opens_at_its_start() -> None:
    """08:00 is open, 20:00 is already closed; before 08:00 it opens at 08:00 the same day."""
    monday = dt.date(2026, 11, 23)

    def t(hour: int, minute: int = 0) -> dt.datetime:
        return timing.local_time(monday, dt.time(hour, minute), AMSTERDAM)

    assert timing.in_window(t(8), WEEKDAYS, AMSTERDAM, "NL", ("NL",))
    assert not timing.in_window(t(20), WEEKDAYS, AMSTERDAM, "NL", ("NL",))
    assert timing.next_window_opening(t(7, 59), WEEKDAYS, AMSTERDAM, "NL", ("NL",)) == t(8)
    assert timing.next_window_opening(t(20), WEEKDAYS, AMSTERDAM, "NL", ("NL",)) == (
        timing.local_time(dt.date(2026, 11, 24), dt.time(8), AMSTERDAM)
    )


def test_early_on_a_holiday_the_window_opens_on_the_next_working_day() -> None:
    """06:00 on Christmas Day (a Friday) in NL: not 08:00 that day, but Monday 28 Dec."""
    early = timing.local_time(dt.date(2026, 12, 25), dt.time(6), AMSTERDAM)
    opening = timing.next_window_opening(early, WEEKDAYS, AMSTERDAM, "NL", ("NL",))
    assert opening.isoformat() == "2026-12-28T08:00:00+01:00"


def test_late_evening_utc_is_already_the_next_day_for_the_customer() -> None:
    """23:30 UTC on Sunday is 00:30 Monday in Amsterdam: the window opens at 08:00 that Monday."""
    moment = dt.datetime(2026, 11, 22, 23, 30, tzinfo=dt.UTC)
    opening = timing.next_window_opening(moment, WEEKDAYS, AMSTERDAM, "NL", ("NL",))
    assert opening.isoformat() == "2026-11-23T08:00:00+01:00"


def test_no_shift_for_unknown_or_yes_no_values() -> None:
    """shift_by on an unknown fact, a boolean or text is no shift at all."""
    assert [timing.shift_days(v, 10) for v in (None, True, False, "soon", 0)] == [0, 0, 0, 0, 0]
    assert timing.shift_days(3.9, 10) == 3


def test_an_evening_window_in_new_york_opens_the_same_evening() -> None:
    """01:30 UTC Tuesday is 20:30 Monday in New York: a 21:00-23:00 window opens at 21:00 Monday."""
    new_york = timing.zone("America/New_York")
    evening = SendWindow(days=frozenset(range(7)), start=dt.time(21), end=dt.time(23))
    moment = dt.datetime(2026, 11, 24, 1, 30, tzinfo=dt.UTC)
    opening = timing.next_window_opening(moment, evening, new_york, "US", ())
    assert opening.isoformat() == "2026-11-23T21:00:00-05:00"


def test_a_window_lost_in_the_spring_forward_gap_sends_on_the_next_send_day() -> None:
    """Sundays 02:00-03:00 in Amsterdam: 29 Mar 2026 has no such minute, 5 Apr is Easter: 12 Apr."""
    gap = SendWindow(days=frozenset({6}), start=dt.time(2), end=dt.time(3))
    moment = timing.step_time(dt.date(2026, 3, 29), 0, 0, gap, AMSTERDAM, "NL", ("NL",))
    assert moment.isoformat() == "2026-04-12T02:00:00+02:00"
    night = SendWindow(days=frozenset({6}), start=dt.time(0), end=dt.time(3))
    paying = timing.step_time(dt.date(2026, 3, 29), 0, 0, night, AMSTERDAM, "NL", ("NL",), 3)
    assert timing.in_window(paying, night, AMSTERDAM, "NL", ("NL",))


def test_after_a_day_lost_to_the_gap_the_very_next_send_day_is_used() -> None:
    """Sunday and Monday 02:00-03:00: the Sunday of the clock change is lost, Monday is not."""
    window = SendWindow(days=frozenset({0, 6}), start=dt.time(2), end=dt.time(3))
    moment = timing.step_time(dt.date(2026, 3, 29), 0, 0, window, AMSTERDAM, None, ())
    assert moment.isoformat() == "2026-03-30T02:00:00+02:00"
