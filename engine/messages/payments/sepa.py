"""SEPA direct debit: the earliest collection date after the 14-day pre-notification."""

from __future__ import annotations

import datetime as dt

import holidays

#: The SEPA rulebook's default: the debtor is told at least 14 calendar days before a
#: collection, unless the mandate agreed a shorter period.
PRE_NOTIFICATION_DAYS = 14


def earliest_collection(
    notified_on: dt.date, *, pre_notification_days: int = PRE_NOTIFICATION_DAYS
) -> dt.date:
    """The first TARGET2 business day at least `pre_notification_days` after the notice."""
    day = notified_on + dt.timedelta(days=pre_notification_days)
    closed = holidays.financial_holidays("XECB", years=range(day.year, day.year + 2))
    while day.weekday() >= 5 or day in closed:
        day += dt.timedelta(days=1)
    return day
