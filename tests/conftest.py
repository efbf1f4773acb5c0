"""Shared fixtures: an environment free of PAYJOURNEY_* settings, the default rule pack."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from engine.decision import timing
from engine.rules.compile import CompiledRules, compile_rules
from engine.rules.rulespec import load_rules

# Six of us share two cores, and mutmut runs every test through trampolines: a wall-clock deadline
# per example would fail a correct test by chance (hypothesis' Flaky/DeadlineExceeded)
settings.register_profile("payjourney", deadline=None)
settings.load_profile("payjourney")

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests never see the developer's PAYJOURNEY_* settings."""
    for name in list(os.environ):
        if name.startswith("PAYJOURNEY_"):
            monkeypatch.delenv(name)
    yield


@pytest.fixture(autouse=True, scope="session")
def cold_timing_caches() -> None:
    """Each test session starts with empty timing memos, so a test runs the code it calls and
    never a result memoised earlier in the same process (mutmut forks its workers from one)."""
    for memo in (timing.step_time, timing.window_bounds, timing.zone, timing._holidays):
        memo.cache_clear()


@pytest.fixture(scope="session")
def default_rules() -> CompiledRules:
    return compile_rules(load_rules(RULES))


def at(text: str) -> dt.datetime:
    """An aware datetime from ISO text."""
    moment = dt.datetime.fromisoformat(text)
    assert moment.tzinfo is not None, "tests use aware datetimes"
    return moment
