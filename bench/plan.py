"""Bench `payjourney plan`: facts + decide + persist for a generated portfolio, on SQLite and
PostgreSQL, against the I/O limit of writing the same scheduled-step rows with COPY.

    .venv/bin/python bench/plan.py --debtors 100000            # both databases
    .venv/bin/python bench/plan.py --debtors 5000 --backends sqlite

Prints debtors/s, the phase split, peak RSS of the plan phase and the ratio plan / COPY.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from psycopg.types.json import Json  # noqa: E402
from sqlalchemy import Engine, create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from engine.decision.decide import decide  # noqa: E402
from engine.rules.compile import compile_rules  # noqa: E402
from engine.rules.rulespec import load_rules  # noqa: E402
from engine.store import tables as t  # noqa: E402
from engine.store.db import make_engine  # noqa: E402
from engine.store.generate import generate  # noqa: E402
from engine.store.migrate import upgrade  # noqa: E402
from engine.store.planner import plan  # noqa: E402

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
S = t.ScheduledStep.__table__  # type: ignore[attr-defined]
COPY_COLUMNS = [c.name for c in S.columns if c.name != "id"]


def reset_peak_rss() -> None:
    """Reset the kernel's high-water mark so VmHWM measures the next phase only (Linux)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step_rows(engine: Engine) -> list[tuple[Any, ...]]:
    """The scheduled-step rows the plan wrote, as the driver gets them (for the baselines)."""
    with engine.connect() as conn:
        cols = ", ".join(COPY_COLUMNS)
        return list(conn.exec_driver_sql(f"SELECT {cols} FROM scheduled_step").all())


def copy_baseline(engine: Engine, rows: list[tuple[Any, ...]]) -> float:
    """Seconds to COPY the same rows into an empty table of the same shape (PostgreSQL)."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(
            "CREATE TEMP TABLE copy_target (LIKE scheduled_step INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        started = time.perf_counter()
        cols = ", ".join(COPY_COLUMNS)
        with cursor.copy(f"COPY copy_target ({cols}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for row in rows:
                copy.write_row([Json(v) if isinstance(v, list | dict) else v for v in row])
        raw.commit()
        return time.perf_counter() - started
    finally:
        raw.close()


def insert_baseline(engine: Engine, rows: list[tuple[Any, ...]]) -> float:
    """Seconds to executemany-INSERT the same rows into an empty table (SQLite's I/O limit)."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("CREATE TEMP TABLE copy_target AS SELECT * FROM scheduled_step WHERE 0")
        marks = ", ".join("?" for _ in COPY_COLUMNS)
        started = time.perf_counter()
        cursor.executemany(
            f"INSERT INTO copy_target ({', '.join(COPY_COLUMNS)}) VALUES ({marks})", rows
        )
        raw.commit()
        return time.perf_counter() - started
    finally:
        raw.close()


def run(
    backend: str, url: str, debtors: int, invoices: float, rules: Any, replan: bool
) -> dict[str, Any]:
    engine = make_engine(url)
    upgrade(engine)
    started = time.perf_counter()
    portfolio = generate(
        engine, debtors=debtors, seed=42, today=NOW.date(), invoices_per_debtor=invoices
    )
    generated = time.perf_counter() - started
    if backend == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    reset_peak_rss()
    summary = plan(engine, functools.partial(decide, rules), NOW, batch=5000)
    rss = peak_rss_mb()
    rows = step_rows(engine)
    baseline = (
        copy_baseline(engine, rows) if backend == "postgresql" else insert_baseline(engine, rows)
    )
    with engine.connect() as conn:
        scheduled = conn.execute(select(func.count()).select_from(S)).scalar_one()
    again = plan(engine, functools.partial(decide, rules), NOW, batch=5000) if replan else None
    engine.dispose()
    return {
        "backend": backend,
        "debtors": debtors,
        "invoices": portfolio.rows.get("invoice", 0),
        "generate_s": generated,
        "plan_s": summary.seconds,
        "facts_s": summary.facts_seconds,
        "decide_s": summary.decide_seconds,
        "persist_s": summary.persist_seconds,
        "scheduled": scheduled,
        "baseline_s": baseline,
        "baseline": "COPY" if backend == "postgresql" else "executemany INSERT",
        "peak_rss_mb": rss,
        "replan_s": again.seconds if again else None,
        "replan_new": again.scheduled_new if again else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--debtors", type=int, default=100_000)
    parser.add_argument("--invoices-per-debtor", type=float, default=3.0)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg", default=os.environ.get("PAYJOURNEY_TEST_PG", PG))
    parser.add_argument("--no-replan", action="store_true", help="Skip the idempotency re-plan.")
    args = parser.parse_args()
    rules = compile_rules(load_rules(ROOT / "rules"))
    results = []
    for backend in args.backends.split(","):
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                results.append(
                    run(
                        backend,
                        f"sqlite:///{tmp}/bench.db",
                        args.debtors,
                        args.invoices_per_debtor,
                        rules,
                        not args.no_replan,
                    )
                )
            continue
        server = make_url(args.pg)
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        name = f"pj_bench_{secrets.token_hex(4)}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = server.set(database=name).render_as_string(hide_password=False)
            results.append(
                run(backend, url, args.debtors, args.invoices_per_debtor, rules, not args.no_replan)
            )
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    for r in results:
        rate = r["debtors"] / r["plan_s"]
        print(
            f"{r['backend']:>10}: {r['debtors']:,} debtors, {r['invoices']:,} invoices"
            f" (generated in {r['generate_s']:.1f}s)\n"
            f"            plan {r['plan_s']:.2f}s = {rate:,.0f} debtors/s"
            f"  [waiting for facts {r['facts_s']:.2f}s, decide {r['decide_s']:.2f}s,"
            f" persist {r['persist_s']:.2f}s]\n"
            f"            {r['scheduled']:,} scheduled steps; {r['baseline']} of the same rows"
            f" {r['baseline_s']:.2f}s; plan / baseline = {r['plan_s'] / r['baseline_s']:.1f}x\n"
            f"            peak RSS of the plan phase {r['peak_rss_mb']:.0f} MB"
            + (
                f"; re-plan {r['replan_s']:.2f}s, {r['replan_new']} new (idempotent)\n"
                if r["replan_s"] is not None
                else "\n"
            )
            + f"            at this rate 1M debtors take {1_000_000 / rate:.0f}s"
        )


if __name__ == "__main__":
    main()
