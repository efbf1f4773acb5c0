"""The statistics of reading an experiment: Wilson and Newcombe intervals, power, Kaplan-Meier. Pure.

The interval functions use arithmetic only, so they take floats or numpy arrays alike: the
calibration tests run thousands of replications in one vectorised call.

Peeking guard: a fixed horizon. The sample per variant is stated (or derived from the uplift)
before the experiment starts, and a verdict is only given once every variant has that many
debtors whose outcome window has closed. Intervals shown before then are marked as monitoring,
never as a result: looking at a 95% interval every day and stopping when it excludes zero would
declare far more than 5% of no-effect experiments a success.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

#: Two-sided confidence level of every interval, and the power a sample size is sized for.
CONFIDENCE = 0.95
POWER = 0.80


def z_for(confidence: float = CONFIDENCE) -> float:
    """The normal quantile of a two-sided interval (1.96 for 95%)."""
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


def wilson(successes: Any, n: Any, z: float | None = None) -> tuple[Any, Any]:
    """Wilson score interval of a proportion (floats or numpy arrays; n > 0)."""
    z = z_for() if z is None else z
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * ((p * (1 - p) / n + z2 / (4 * n * n)) ** 0.5)
    return centre - half, centre + half


def newcombe(s1: Any, n1: Any, s2: Any, n2: Any, z: float | None = None) -> tuple[Any, Any]:
    """Newcombe's hybrid score interval of p2 - p1 (his method 10), from two Wilson intervals.

    Coverage stays close to nominal at small samples and extreme shares, where the plain Wald
    interval of a difference does not (Newcombe 1998, Statistics in Medicine 17:873-890).
    """
    p1, p2 = s1 / n1, s2 / n2
    l1, u1 = wilson(s1, n1, z)
    l2, u2 = wilson(s2, n2, z)
    d = p2 - p1
    low = d - ((p2 - l2) ** 2 + (u1 - p1) ** 2) ** 0.5
    high = d + ((u2 - p2) ** 2 + (p1 - l1) ** 2) ** 0.5
    return low, high


def sample_size_for(
    uplift: float,
    baseline: float | None = None,
    confidence: float = CONFIDENCE,
    power: float = POWER,
) -> int:
    """Debtors per variant to detect a difference `uplift` in share paid (two-sided test).

    Without a baseline the worst case is assumed (shares around one half, the largest
    variance), so the number can be fixed before any data comes in.
    """
    if not 0 < uplift < 1:
        raise ValueError(f"uplift must be a share between 0 and 1, not {uplift}")
    p1 = 0.5 - uplift / 2 if baseline is None else min(max(baseline, 0.0), 1 - uplift)
    p2 = p1 + uplift
    bar = (p1 + p2) / 2
    za, zb = z_for(confidence), NormalDist().inv_cdf(power)
    top = za * math.sqrt(2 * bar * (1 - bar)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(top * top / (uplift * uplift))


@dataclass(frozen=True, slots=True, kw_only=True)
class KaplanMeier:
    """A Kaplan-Meier estimate of the share still unpaid over time."""

    times: tuple[float, ...]  # the distinct event times (days), ascending
    unpaid: tuple[float, ...]  # S(t): share still unpaid just after each time
    at_risk: tuple[int, ...]
    events: tuple[int, ...]

    def unpaid_at(self, t: float) -> float:
        """S(t): the estimated share still unpaid at day t."""
        share = 1.0
        for time, s in zip(self.times, self.unpaid, strict=True):
            if time > t:
                break
            share = s
        return share

    def median(self) -> float | None:
        """The first day by which half have paid; None when fewer than half ever did."""
        for time, s in zip(self.times, self.unpaid, strict=True):
            if s <= 0.5:
                return time
        return None


def kaplan_meier(durations: Sequence[float], paid: Sequence[bool]) -> KaplanMeier:
    """Kaplan-Meier from each debtor's days to payment (paid) or days observed (not paid yet).

    At a tie, payments come before censoring (the usual convention).
    """
    if len(durations) != len(paid):
        raise ValueError("durations and paid must be the same length")
    rows = sorted(zip(durations, paid, strict=True), key=lambda r: (r[0], not r[1]))
    at_risk = len(rows)
    share = 1.0
    times: list[float] = []
    unpaid: list[float] = []
    risks: list[int] = []
    counts: list[int] = []
    i = 0
    while i < len(rows):
        t = rows[i][0]
        events = censored = 0
        while i < len(rows) and rows[i][0] == t:
            if rows[i][1]:
                events += 1
            else:
                censored += 1
            i += 1
        if events:
            share *= 1 - events / at_risk
            times.append(float(t))
            unpaid.append(share)
            risks.append(at_risk)
            counts.append(events)
        at_risk -= events + censored
    return KaplanMeier(
        times=tuple(times), unpaid=tuple(unpaid), at_risk=tuple(risks), events=tuple(counts)
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Arm:
    """One variant's outcome so far."""

    variant: str
    debtors: int  # with a first message in the experiment
    closed: int  # whose window has closed: they count for the share paid
    paid: int  # of the closed ones, paid within the window
    share: float | None
    low: float | None
    high: float | None
    curve: KaplanMeier
    median_days: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Comparison:
    """A variant against the control: difference in share paid (variant - control)."""

    variant: str
    control: str
    difference: float | None
    low: float | None
    high: float | None
    still_needed: int  # debtors per variant still to close their window before a verdict
    verdict: str  # the plain-language reading


def arm(
    variant: str,
    durations: Sequence[float],
    paid: Sequence[bool],
    closed: Sequence[bool],
    window: int,
) -> Arm:
    """An arm's share paid within `window` days (closed windows only) and its Kaplan-Meier curve."""
    n_closed = sum(1 for c in closed if c)
    n_paid = sum(
        1 for d, p, c in zip(durations, paid, closed, strict=True) if c and p and d <= window
    )
    share = low = high = None
    if n_closed:
        share = n_paid / n_closed
        low, high = wilson(n_paid, n_closed)
    curve = kaplan_meier(durations, paid)
    return Arm(
        variant=variant,
        debtors=len(durations),
        closed=n_closed,
        paid=n_paid,
        share=share,
        low=low,
        high=high,
        curve=curve,
        median_days=curve.median(),
    )


def compare(control: Arm, other: Arm, sample_size: int) -> Comparison:
    """The difference in share paid with its interval, and what may be concluded from it."""
    still = max(0, sample_size - control.closed) + max(0, sample_size - other.closed)
    still_per_variant = max(sample_size - control.closed, sample_size - other.closed, 0)
    if not control.closed or not other.closed:
        return Comparison(
            variant=other.variant,
            control=control.variant,
            difference=None,
            low=None,
            high=None,
            still_needed=still_per_variant,
            verdict="not enough data yet: no debtor's window has closed in both variants",
        )
    low, high = newcombe(control.paid, control.closed, other.paid, other.closed)
    difference = other.paid / other.closed - control.paid / control.closed
    if still:
        verdict = (
            f"not enough data yet: {still_per_variant} more debtors per variant must reach the end"
            f" of their window before the fixed horizon of {sample_size}; the interval is for"
            " monitoring only, do not stop early on it"
        )
    elif low > 0:
        verdict = f"{other.variant} is paid more often than {control.variant}"
    elif high < 0:
        verdict = f"{other.variant} is paid less often than {control.variant}"
    else:
        verdict = (
            f"no difference shown between {other.variant} and {control.variant}: the interval"
            " includes zero"
        )
    return Comparison(
        variant=other.variant,
        control=control.variant,
        difference=difference,
        low=float(low),
        high=float(high),
        still_needed=still_per_variant,
        verdict=verdict,
    )
