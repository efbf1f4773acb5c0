"""Benchmark: full decisions per second on generated fact sheets, against hand-written Python.

    python bench/decide.py [--sheets 100000] [--rounds 3]

Prints decisions/s for decide() (durable_rules decides the persona, memoised per atom vector),
for the hand-written function (bench/handwritten.py), for raw durable_rules posts and for the
plain-Python evaluator, each as a ratio to the hand-written baseline measured in the same run.
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

from bench.handwritten import decide_by_hand
from bench.portfolio import fact_sheets
from engine.decision.decide import decide
from engine.decision.model import Decision
from engine.rules.compile import compile_rules
from engine.rules.rulespec import load_rules

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


def summary(d: Decision) -> tuple[Any, ...]:
    if d.action.value == "none":
        return (d.persona, "none", None, None, None)
    channel = d.channel if d.action.value in ("send", "wait") else None
    return (d.persona, d.action.value, d.journey_step, channel, d.send_at, list(d.payment_options))


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
    decisions = [decide(cold, s, NOW) for s in sheets]

    mismatches = sum(
        1
        for d, v in zip(decisions, values, strict=True)
        if summary(d)[:5] != decide_by_hand(spec, v, NOW)[:5]
    )

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
    print(f"\ndecide() vs hand-written disagreements: {mismatches}")
    if mismatches:
        raise SystemExit("the hand-written baseline no longer encodes the same rules")


if __name__ == "__main__":
    main()
