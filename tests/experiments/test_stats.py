"""The read-out's statistics: intervals that cover at their nominal rate, A/A tests that stay
quiet, a Kaplan-Meier that matches the textbook, sample sizes that match the usual formula."""

from __future__ import annotations

import numpy as np
import pytest

from engine.experiments.stats import (
    arm,
    compare,
    kaplan_meier,
    newcombe,
    sample_size_for,
    wilson,
)

#: Haynes et al. (2013): 23% -> 33% paid within the window after a changed reminder letter.
CONTROL, TREATED = 0.23, 0.33


def test_wilson_matches_a_published_example() -> None:
    """Newcombe (1998) table I: 81/263 -> 0.2553 to 0.3662."""
    low, high = wilson(81, 263)
    assert low == pytest.approx(0.2553, abs=1e-4)
    assert high == pytest.approx(0.3662, abs=1e-4)


def test_newcombe_matches_his_published_example() -> None:
    """Newcombe (1998) table II, example (a): 56/70 vs 48/80 -> difference 0.0524 to 0.3339."""
    low, high = newcombe(48, 80, 56, 70)
    assert low == pytest.approx(0.0524, abs=1e-4)
    assert high == pytest.approx(0.3339, abs=1e-4)


def test_the_difference_interval_covers_the_true_difference_at_about_95_percent() -> None:
    """4,000 seeded experiments of 400 debtors per variant at 23% vs 33% paid."""
    rng = np.random.default_rng(2013)
    n = 400
    s1 = rng.binomial(n, CONTROL, 4000)
    s2 = rng.binomial(n, TREATED, 4000)
    low, high = newcombe(s1, n, s2, n)
    covered = np.mean((low <= TREATED - CONTROL) & (high >= TREATED - CONTROL))
    assert 0.935 <= covered <= 0.965, covered
    # and it finds the effect most of the time at the sample size sized for it
    assert np.mean(low > 0) >= 0.75


def test_small_samples_still_cover() -> None:
    """At 60 debtors per variant (Wald would undercover) the interval still covers >= 93%."""
    rng = np.random.default_rng(7)
    s1 = rng.binomial(60, CONTROL, 4000)
    s2 = rng.binomial(60, TREATED, 4000)
    low, high = newcombe(s1, 60, s2, 60)
    assert np.mean((low <= 0.10) & (high >= 0.10)) >= 0.93


#: 200 experiments at a true 5% rate declare at most 18 with 99% probability (binomial): more
#: would show a rate above nominal. (Exactly 10 of 200 is a coin flip even for a perfect test.)
AA_LIMIT = 18


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_200_a_a_experiments_declare_a_difference_no_more_often_than_5_percent(seed: int) -> None:
    """Both variants at 23%, read once at the fixed horizon: the count of declared differences
    in 200 experiments is consistent with a false-positive rate of at most 5%."""
    rng = np.random.default_rng(seed)
    n = sample_size_for(0.10)
    s1 = rng.binomial(n, CONTROL, 200)
    s2 = rng.binomial(n, CONTROL, 200)
    low, high = newcombe(s1, n, s2, n)
    declared = int(np.sum((low > 0) | (high < 0)))
    assert declared <= AA_LIMIT, declared


def test_peeking_would_break_the_guarantee_the_fixed_horizon_keeps() -> None:
    """Why the read-out waits for the horizon: looking nine times along the way and stopping at
    the first interval that excludes zero declares a difference in far more than 5% of A/A
    experiments; reading once at the horizon stays at 5%."""
    rng = np.random.default_rng(5)
    n, reps = sample_size_for(0.10), 4000
    a = np.cumsum(rng.random((reps, n)) < CONTROL, axis=1)
    b = np.cumsum(rng.random((reps, n)) < CONTROL, axis=1)
    peeked = np.zeros(reps, dtype=bool)
    for k in range(40, n + 1, 40):
        low, high = newcombe(a[:, k - 1], k, b[:, k - 1], k)
        peeked |= (low > 0) | (high < 0)
    low, high = newcombe(a[:, -1], n, b[:, -1], n)
    once = np.mean((low > 0) | (high < 0))
    assert np.mean(peeked) > 0.10
    assert once <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / reps)


def test_the_a_a_false_positive_rate_over_many_replications_is_at_most_nominal() -> None:
    rng = np.random.default_rng(11)
    s1 = rng.binomial(300, CONTROL, 20_000)
    s2 = rng.binomial(300, CONTROL, 20_000)
    low, high = newcombe(s1, 300, s2, 300)
    assert np.mean((low > 0) | (high < 0)) <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / 20_000)


def test_sample_size_matches_the_usual_two_proportion_formula() -> None:
    """23% vs 33% at 95%/80% needs 316 per group (the pooled-variance formula, no continuity
    correction: (1.96·√(2·0.28·0.72) + 0.8416·√(0.23·0.77 + 0.33·0.67))² / 0.1² = 315.3)."""
    assert sample_size_for(0.10, baseline=0.23) == 316
    # without a baseline, the worst case: at least as many as any baseline needs
    assert sample_size_for(0.10) >= max(
        sample_size_for(0.10, baseline=b / 100) for b in range(0, 91, 5)
    )


def test_kaplan_meier_matches_the_textbook_example() -> None:
    """Kleinbaum & Klein's remission data (group 1): S(6)=0.857, S(7)=0.807, S(10)=0.753."""
    times = [6, 6, 6, 7, 10, 13, 16, 22, 23, 6, 9, 10, 11, 17, 19, 20, 25, 32, 32, 34, 35]
    events = [True, True, True, True, True, True, True, True, True] + [False] * 12
    curve = kaplan_meier(times, events)
    assert curve.unpaid_at(6) == pytest.approx(0.857, abs=1e-3)
    assert curve.unpaid_at(7) == pytest.approx(0.807, abs=1e-3)
    assert curve.unpaid_at(10) == pytest.approx(0.753, abs=1e-3)
    assert curve.unpaid_at(23) == pytest.approx(0.448, abs=1e-3)
    assert curve.unpaid_at(5) == 1.0
    assert curve.median() == 23


def test_no_verdict_before_the_fixed_horizon() -> None:
    """A striking difference on too few debtors is reported as not enough data, with how many
    more are needed; at the horizon it becomes a verdict."""
    early_a = arm("a", [30.0] * 40, [False] * 40, [True] * 40, 14)
    early_b = arm("b", [2.0] * 40, [True] * 40, [True] * 40, 14)
    early = compare(early_a, early_b, sample_size=313)
    assert early.verdict.startswith("not enough data yet")
    assert early.still_needed == 313 - 40
    late_a = arm("a", [30.0] * 313, [False] * 313, [True] * 313, 14)
    late_b = arm("b", [2.0] * 313, [True] * 313, [True] * 313, 14)
    assert compare(late_a, late_b, sample_size=313).verdict == "b is paid more often than a"


def test_open_windows_do_not_count_for_the_share_paid() -> None:
    """A debtor still inside their window is censored, not counted as unpaid."""
    result = arm("a", [3.0, 5.0, 20.0], [True, False, False], [True, False, True], 14)
    assert (result.closed, result.paid, result.share) == (2, 1, 0.5)
