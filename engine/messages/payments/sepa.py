"""SEPA direct debit: the earliest collection date after the 14-day pre-notification."""

from __future__ import annotations

import datetime as dt
import functools

import holidays

#: The SEPA rulebook's default: the debtor is told at least 14 calendar days before a
#: collection, unless the mandate agreed a shorter period.
PRE_NOTIFICATION_DAYS = 14


@functools.lru_cache(maxsize=16)
def _target2_closed(year: int) -> frozenset[dt.date]:
    """The TARGET2 holidays of `year` and the next, built once per year: building the calendar
    took longer than the rest of a message's payment options."""
    return frozenset(holidays.financial_holidays("XECB", years=range(year, year + 2)))


def earliest_collection(
    notified_on: dt.date, *, pre_notification_days: int = PRE_NOTIFICATION_DAYS
) -> dt.date:
    """The first TARGET2 business day at least `pre_notification_days` after the notice."""
    day = notified_on + dt.timedelta(days=pre_notification_days)
    closed = _target2_closed(day.year)
    while day.weekday() >= 5 or day in closed:
        day += dt.timedelta(days=1)
    return day
