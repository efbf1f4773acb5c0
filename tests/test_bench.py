"""The benchmark's hand-written baseline gives decide()'s whole answer, so its speed ratio is fair."""

from __future__ import annotations

import datetime as dt

import pytest

from bench.decide import disagreements
from bench.handwritten import FIELDS
from bench.portfolio import fact_sheets
from engine.rules.compile import CompiledRules
from tests.conftest import at


@pytest.mark.parametrize(
    "now",
    [
        at("2026-11-23T10:00:00+00:00"),  # Monday, in the send window
        at("2026-11-23T06:30:00+00:00"),  # Monday, before the window opens
        at("2026-11-28T12:00:00+00:00"),  # Saturday: waits for Monday
        at("2026-12-25T10:00:00+00:00"),  # Christmas: a holiday in NL and DE
    ],
    ids=["monday-open", "monday-early", "saturday", "christmas"],
)
def test_the_hand_written_baseline_agrees_with_decide_on_every_field(
    default_rules: CompiledRules, now: dt.datetime
) -> None:
    """1,500 generated debtors: persona, action, step, channels, time, locale, tone, options agree."""
    sheets = fact_sheets(1500, seed=11, today=now.date())
    found = disagreements(default_rules.spec, default_rules, sheets, now)
    assert found == [], found[:3]


def test_the_comparison_covers_payment_options_and_fallbacks() -> None:
    """The answer compared is the whole answer, not its first five fields."""
    assert {"payment_options", "fallback_channels", "locale", "tone"} <= set(FIELDS)
