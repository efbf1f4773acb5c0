"""Simulation speed: debtor-days per second of a replay of the daemon's loop, and where it goes.

    python bench/simulate.py [--debtors 200] [--days 30] [--rules rules] [--profile]

One run of `engine.simulation.simulate.run_rules` (nightly plan, hourly ticks, every message
rendered and dispatched through the daemon's Dispatcher into the behaviour model) on a
generated portfolio. In the same run, as baselines: the nightly plan alone (planner.plan over
the same portfolio, once) and rendering alone (render_preview of the first due decisions), so
the figures are printed as ratios to them, not as absolute speeds of a shared machine; the
replay's CPU seconds are printed too (the wall clock counts the other processes' turns).
`--profile` runs the replay under cProfile and prints the share of its time per part.
The issue's goal: 10,000 debtors x 90 days in under 60 s (900,000 debtor-days, 15,000/s).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import functools
import logging
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import structlog  # noqa: E402

from engine.decision.decide import decide  # noqa: E402
from engine.decision.model import Action  # noqa: E402
from engine.messages.render import DEFAULT_TEMPLATES_DIR, render_preview  # noqa: E402
from engine.rules.rulebook import RuleBook  # noqa: E402
from engine.simulation.behaviour import load_params  # noqa: E402
from engine.simulation.simulate import prepare_portfolio, run_rules  # noqa: E402
from engine.store.db import make_engine  # noqa: E402
from engine.store.facts_sql import fact_sheets_for  # noqa: E402
from engine.store.message_data import message_data_for  # noqa: E402
from engine.store.planner import plan  # noqa: E402

#: Parts of a replay, by the function whose cumulative time is that part's.
PARTS = {
    "nightly plan": "planner.py:.*\\(plan\\)",
    "  of which scheduled steps' traces": "planner.py:.*\\(step_record\\)",
    "dispatch (all)": "dispatch.py:.*\\(run_once\\)",
    "  of which render": "render.py:.*\\(render_preview\\)",
    "    of which EPC QR": "bank_transfer.py:.*\\(qr_data_uri\\)",
    "    of which letter PDF (off)": "letter_pdf.py:.*\\(write_letter\\)",
    "event watch (re-decides)": "jobs.py:.*\\(__call__\\)",
    "fallbacks on no reaction": "jobs.py:.*\\(fallback_on_no_reaction\\)",
    "recording debtors' events": "simulate.py:.*\\(book\\)",
    "behaviour model": "behaviour.py:.*\\((due|receive)\\)",
    "SQLite statements (all)": "<method 'execute' of 'sqlite3.Cursor' objects>",
    "SQLite commits (all)": "<method 'commit' of 'sqlite3.Connection' objects>",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--debtors", type=int, default=200)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rules", type=Path, default=ROOT / "rules")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    work = Path(tempfile.mkdtemp(prefix="pj-bench-sim-"))
    try:
        first = dt.date(2026, 11, 23)
        began = time.perf_counter()
        portfolio = prepare_portfolio(
            work / "portfolio.db", debtors=args.debtors, seed=7, first_day=first, days=args.days
        )
        generate_s = time.perf_counter() - began
        rules = RuleBook(args.rules).current

        # baseline 1: one nightly plan of the same portfolio (on a copy)
        copy = work / "plan.db"
        shutil.copyfile(portfolio.path, copy)
        engine = make_engine(f"sqlite:///{copy}")
        began = time.perf_counter()
        plan(engine, functools.partial(decide, rules), portfolio.start)
        plan_s = time.perf_counter() - began
        # baseline 2: rendering alone, for the decisions due at the start (up to 50)
        sheets = fact_sheets_for(
            engine, [f"C-{n:06d}" for n in range(1, args.debtors + 1)], portfolio.start
        )
        due = [
            (cid, sheet, d)
            for cid, sheet in sheets.items()
            if (d := decide(rules, sheet, portfolio.start)).template
            and d.action in (Action.SEND, Action.WAIT)
        ][:50]
        data = message_data_for(engine, [c for c, _, _ in due], portfolio.start)
        began = time.perf_counter()
        for cid, sheet, d in due:
            render_preview(
                d,
                sheet,
                templates_dir=DEFAULT_TEMPLATES_DIR,
                invoices=data[cid].invoices,
                settings=rules.spec.settings,
                pdf_dir=work,
                letter_pdf=False,  # as in the replay (Dispatcher(letter_pdfs=False))
                address=data[cid].address,
            )
        render_each = (time.perf_counter() - began) / max(1, len(due))
        engine.dispose()

        profiler = cProfile.Profile() if args.profile else None
        if profiler is not None:
            profiler.enable()
        cpu = time.process_time()
        result = run_rules(
            portfolio, args.rules, params=load_params(), seed=1, database=work / "run.db"
        )
        cpu = time.process_time() - cpu
        if profiler is not None:
            profiler.disable()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    debtor_days = args.debtors * args.days
    print(f"portfolio: {args.debtors:,} debtors, {args.days} days ({generate_s:.1f} s to generate)")
    print(
        f"replay: {result.seconds:.1f} s, {debtor_days / result.seconds:,.0f} debtor-days/s,"
        f" {result.messages:,} messages ({result.messages / result.seconds:.1f}/s overall)"
    )
    # on a shared machine the wall clock counts other processes' turns: CPU time does not
    print(f"replay CPU time: {cpu:.1f} s, {debtor_days / cpu:,.0f} debtor-days per CPU second")
    print(f"baseline nightly plan: {plan_s:.2f} s per plan -> {args.days} plans = "
          f"{plan_s * args.days:.1f} s = {plan_s * args.days / result.seconds:.0%} of the replay")  # fmt: skip
    print(f"baseline render: {render_each * 1000:.0f} ms per message -> {result.messages} messages"
          f" = {render_each * result.messages:.1f} s = "
          f"{render_each * result.messages / result.seconds:.0%} of the replay")  # fmt: skip
    goal = 10_000 * 90 / 60
    print(
        f"goal 10,000 x 90 days in 60 s = {goal:,.0f} debtor-days/s:"
        f" 1/{goal / (debtor_days / result.seconds):,.0f} of it"
    )
    if profiler is not None:
        stats = pstats.Stats(profiler)
        total = sum(v[3] for k, v in stats.stats.items() if k[2] == "run_rules")  # type: ignore[attr-defined]
        print(f"\nwhere the replay's {total:.1f} s go (cProfile, cumulative; parts overlap):")
        import re

        for name, pattern in PARTS.items():
            spent = sum(
                v[3]
                for k, v in stats.stats.items()  # type: ignore[attr-defined]
                if re.search(pattern, f"{k[0]}:{k[1]}({k[2]})")
            )
            print(f"  {name:<34} {spent:7.1f} s  {spent / total:5.0%}")


if __name__ == "__main__":
    main()
