"""Ageing buckets: how far past its due date a debtor's oldest open invoice is."""

from __future__ import annotations

#: The buckets credit managers report in, in order.
BUCKETS = ("not due", "1-30", "31-60", "61-90", "90+")


def ageing_bucket(days_overdue: int | None) -> str:
    """The bucket for `balance.max_days_overdue` (None or <= 0: not due yet)."""
    if days_overdue is None or days_overdue <= 0:
        return BUCKETS[0]
    if days_overdue <= 30:
        return BUCKETS[1]
    if days_overdue <= 60:
        return BUCKETS[2]
    if days_overdue <= 90:
        return BUCKETS[3]
    return BUCKETS[4]
