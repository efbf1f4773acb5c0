"""Benchmark: full decisions per second on generated fact sheets, against hand-written Python.

    python bench/decide.py [--sheets 100000] [--rounds 3]

Prints decisions/s for decide() (durable_rules decides the persona, memoised per atom vector),
for the hand-written function (bench/handwritten.py), for raw durable_rules posts and for the
plain-Python evaluator, each as a ratio to the hand-written baseline measured in the same run.

Before timing, it checks that decide() and the hand-written function give the whole same answer
for every sheet: each field the hand-written function computes (persona, action, step, channel,
fallback channels, send time, locale, tone and payment options; `handwritten.FIELDS`), and exits
non-zero on any disagreement, naming the first few.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.handwritten import FIELDS, decide_by_hand
from bench.portfolio import fact_sheets
from engine.decision.decide import decide
from engine.decision.model import Decision, FactSheet
from engine.rules.compile import CompiledRules, compile_rules
from engine.rules.rulespec import load_rules
from engine.rules.spec import RuleSpec

NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


def stream(fn: Callable[[Any], Any], items: list[Any]) -> Callable[[], None]:
    """Decide each item and drop the answer, as a planning run streams a portfolio in batches
    (keeping 100,000 answers alive would time the garbage collector's walks, not the decisions)."""

    def work() -> None:
        for item in items:
            fn(item)

    return work


def best_of(rounds: int, work: Callable[[], Any]) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def answer(d: Decision) -> tuple[Any, ...]:
    """decide()'s answer in the fields, and the order, of the hand-written function's."""
    return tuple(getattr(d, name) for name in FIELDS)


def disagreements(
    spec: RuleSpec, rules: CompiledRules, sheets: list[FactSheet], now: dt.datetime
) -> list[tuple[FactSheet, dict[str, tuple[Any, Any]]]]:
    """The sheets on which decide() and the hand-written function differ, with the fields that
    differ as (decide, hand-written)."""
    out = []
    for sheet in sheets:
        mine, theirs = answer(decide(rules, sheet, now)), decide_by_hand(spec, sheet.values, now)
        if mine != theirs:
            diff = {f: (a, b) for f, a, b in zip(FIELDS, mine, theirs, strict=True) if a != b}
            out.append((sheet, diff))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sheets", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--rules", type=Path, default=Path(__file__).resolve().parent.parent / "rules"
    )
    args = parser.parse_args()

    spec = load_rules(args.rules)
    print(f"generating {args.sheets:,} fact sheets ...", flush=True)
    sheets = fact_sheets(args.sheets, seed=7, today=NOW.date())
    values = [s.values for s in sheets]

    cold = compile_rules(spec)
    cold.clear_cache()  # the same rules may be registered already: start from an empty memo
    cold_s = best_of(1, stream(lambda s: decide(cold, s, NOW), sheets))
    classes = cold.cache_size
    mismatches = disagreements(spec, cold, sheets, NOW)

    warm = compile_rules(spec)
    for s in sheets:
        decide(warm, s, NOW)
    hand_s = best_of(args.rounds, stream(lambda v: decide_by_hand(spec, v, NOW), values))
    warm_s = best_of(args.rounds, stream(lambda s: decide(warm, s, NOW), sheets))
    sample = values[: min(len(values), 20_000)]
    raw_s = best_of(1, stream(warm.persona_index_durable, sample)) * len(values) / len(sample)
    plain_s = best_of(args.rounds, stream(warm.classify_plain, values))

    n = len(sheets)
    rows = [
        ("hand-written Python (baseline)", hand_s),
        ("decide(), durable_rules, memo warm", warm_s),
        ("decide(), durable_rules, memo cold (first pass)", cold_s),
        ("persona only: raw durable_rules post, no memo", raw_s),
        ("persona+journey+options: plain evaluator", plain_s),
    ]
    print(
        f"\n{n:,} fact sheets, default rule pack ({len(spec.personas)} personas), "
        f"{classes:,} distinct atom vectors (= durable_rules posts on the cold pass)"
    )
    print(f"{'':50} {'decisions/s':>12} {'x baseline time':>16}")
    for label, seconds in rows:
        print(f"{label:50} {n / seconds:12,.0f} {seconds / hand_s:16.2f}")
    print(
        f"\ndecide() vs hand-written, whole answer ({', '.join(FIELDS)}): "
        f"{len(mismatches)} disagreement(s)"
    )
    for sheet, diff in mismatches[:5]:
        print(f"  {sheet['customer.id']}: {diff}")
    if mismatches:
        raise SystemExit("the hand-written baseline no longer encodes the same rules")


if __name__ == "__main__":
    main()
