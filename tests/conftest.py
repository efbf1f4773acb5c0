"""Shared fixtures: an environment free of PAYJOURNEY_* settings, the default rule pack."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from engine.decision import timing
from engine.messages.payments import bank_transfer, qr
from engine.rules import expr
from engine.rules.compile import CompiledRules, compile_rules
from engine.rules.rulespec import load_rules

# Six of us share two cores, and mutmut runs every test through trampolines: a wall-clock deadline
# per example would fail a correct test by chance (hypothesis' Flaky/DeadlineExceeded)
settings.register_profile("payjourney", deadline=None)
settings.load_profile("payjourney")

# Under mutmut (it sets MUTANT_UNDER_TEST in the process that runs a mutant's tests) a hypothesis
# test runs at most this many examples: a surviving mutant runs every test that reaches it, and the
# differential tests' hundreds of examples dominated the run. Fewer examples can only let a mutant
# survive, never kill one wrongly; every survivor is looked at by hand (docs/testing.md).
MUTATION_MAX_EXAMPLES = 40


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under mutmut: the fastest tests first (durations from mutmut's own stats run), so a killed
    mutant stops at its first failing test early, and hypothesis tests capped (see above)."""
    if not os.environ.get("MUTANT_UNDER_TEST"):
        return
    durations: dict[str, float] = {}
    stats = Path("mutmut-stats.json")  # mutmut runs the tests in mutants/, next to its stats
    if stats.exists():
        durations = json.loads(stats.read_text(encoding="utf-8")).get("duration_by_test", {})
    items.sort(key=lambda item: durations.get(item.nodeid, 0.0))
    for item in items:
        test = getattr(item, "obj", None)
        inner = getattr(test, "hypothesis", None)
        own = getattr(test, "_hypothesis_internal_use_settings", None)
        if inner is not None and own is not None and own.max_examples > MUTATION_MAX_EXAMPLES:
            test._hypothesis_internal_use_settings = settings(  # type: ignore[union-attr]
                own, max_examples=MUTATION_MAX_EXAMPLES
            )


ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
#: Valid rule language that durable_rules 2.0.28 cannot hold in one rule (its 32 parts, "error
#: code: 113"): `not` pushed down over six or-pairs.
TOO_LONG_FOR_DURABLE_RULES = (
    "not ("
    + " and ".join(
        f"(customer.credit_score == {i} or behaviour.broken_promises == {i})" for i in range(6)
    )
    + ")"
)


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests never see the developer's PAYJOURNEY_* settings."""
    for name in list(os.environ):
        if name.startswith("PAYJOURNEY_"):
            monkeypatch.delenv(name)
    yield


@pytest.fixture(autouse=True, scope="session")
def cold_timing_caches() -> None:
    """Each test session starts with empty timing memos, QR tables and trace memos, so a test runs the code it calls and
    never a result memoised earlier in the same process (mutmut forks its workers from one)."""
    memos = (timing.step_time, timing.window_bounds, timing.zone, timing._holidays)
    codes = (bank_transfer.qr_data_uri, bank_transfer.qr_png)
    tables = (qr._feedback, qr._function_modules, qr._data_positions, qr._template)
    for memo in (*memos, *codes, *tables):
        memo.cache_clear()
    # the trace's memos of persona notes and of each condition's text and check (by object)
    decide_module = importlib.import_module(
        "engine.decision.decide"
    )  # the package exports decide()
    for made in (decide_module._NOTES, expr._SOURCES, expr._PREDICATES):
        made.clear()


@pytest.fixture(scope="session")
def default_rules() -> CompiledRules:
    return compile_rules(load_rules(RULES))


def at(text: str) -> dt.datetime:
    """An aware datetime from ISO text."""
    moment = dt.datetime.fromisoformat(text)
    assert moment.tzinfo is not None, "tests use aware datetimes"
    return moment
