"""Bench `payjourney plan`: facts + decide + persist for a generated portfolio, on SQLite and
PostgreSQL, against the I/O limit of writing the same scheduled-step rows with COPY.

    .venv/bin/python bench/plan.py --debtors 100000            # both databases
    .venv/bin/python bench/plan.py --debtors 5000 --backends sqlite
    .venv/bin/python bench/plan.py --debtors 1000000 --backends postgresql --keep pj_bench_1m

Prints debtors/s, the phase split, peak RSS of the plan phase, the ratio plan / COPY, the
incremental re-plan of the unchanged portfolio, and p50/p99 of the one-debtor re-decide after an
event (`refresh_customers`, what the daemon, the API and `payjourney record` run) over random
debtors. `--keep NAME` keeps the generated database (PostgreSQL: database NAME; SQLite:
/tmp/NAME.db) and reuses it next time with the same size: the schedule is emptied, the
portfolio is not generated again.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import os
import random
import resource
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from psycopg.types.json import Json  # noqa: E402
from sqlalchemy import Engine, create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from engine.daemon.jobs import refresh_customers  # noqa: E402
from engine.daemon.settings import PROMISE_GRACE  # noqa: E402
from engine.decision.decide import decide  # noqa: E402
from engine.rules.compile import compile_rules  # noqa: E402
from engine.rules.rulespec import load_rules  # noqa: E402
from engine.store import tables as t  # noqa: E402
from engine.store.db import make_engine  # noqa: E402
from engine.store.generate import generate  # noqa: E402
from engine.store.migrate import upgrade  # noqa: E402
from engine.store.planner import default_workers, plan  # noqa: E402

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


def _customers(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(select(func.count()).select_from(t.Customer.__table__)).scalar_one()
        )


def _empty_schedule(engine: Engine) -> None:
    """A reused portfolio starts without a plan: no steps, journeys or fingerprints."""
    with engine.begin() as conn:
        for model in (t.PlanFingerprint, t.ScheduledStep, t.Journey):
            conn.execute(model.__table__.delete())  # type: ignore[attr-defined]


def refresh_latencies(engine: Engine, rules: Any, samples: int) -> list[float]:
    """Seconds of `refresh_customers` for one random debtor at a time (facts, decide, settle in
    one short transaction), as after an event."""
    with engine.connect() as conn:
        ids = list(conn.execute(select(t.Customer.__table__.c.id)).scalars())
    picked = random.Random(7).sample(ids, min(samples, len(ids)))
    later = NOW + dt.timedelta(minutes=5)
    refresh_customers(engine, rules, picked[:5], later, grace=PROMISE_GRACE)  # warm the caches
    seconds = []
    for customer_id in picked:
        clock = time.perf_counter()
        refresh_customers(engine, rules, [customer_id], later, grace=PROMISE_GRACE)
        seconds.append(time.perf_counter() - clock)
    return seconds


class ServerCPU:
    """CPU seconds of the PostgreSQL processes working for one database (its backends and
    their parallel workers), from /proc, sampled in a thread: a backend's time is lost when
    it exits (folded into the postmaster's children's time, with every other database's), so
    each one's last sample counts. Linux only; other agents' databases are not counted."""

    TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def __init__(self, database: str) -> None:
        self.database = database
        self.start: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self._known: dict[int, bool] = {}  # pid: one of ours (a title's database never changes)
        self.idle = _idle_ticks()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _ours(self) -> dict[int, float]:
        found: dict[int, float] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                ours = self._known.get(pid)
                if ours is None:
                    raw = Path(f"/proc/{pid}/cmdline").read_bytes()
                    words = raw.replace(b"\0", b" ").decode(errors="replace").split()
                    ours = words[:1] == ["postgres:"] and (
                        self.database in words
                        or (
                            words[-4:-1] == ["worker", "for", "PID"] and int(words[-1]) in self.last
                        )
                    )
                    if words[:1] == ["postgres:"]:  # a backend just forked has no title yet
                        self._known[pid] = ours
                if ours:
                    ticks = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    found[pid] = (int(ticks[11]) + int(ticks[12])) / self.TICK
            except (OSError, ValueError, IndexError):
                continue  # gone meanwhile, or not a title of ours
        return found

    def _sample(self) -> None:
        for pid, seconds in self._ours().items():
            self.start.setdefault(pid, 0.0 if self._thread is not None else seconds)
            self.last[pid] = seconds

    def __enter__(self) -> ServerCPU:
        with contextlib.suppress(OSError):
            self._sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            with contextlib.suppress(OSError, ValueError, IndexError):
                self._sample()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        with contextlib.suppress(OSError, ValueError, IndexError):
            self._sample()
        self.idle = _idle_ticks() - self.idle

    @property
    def seconds(self) -> float:
        return sum(self.last[pid] - self.start[pid] for pid in self.last)


def _idle_ticks() -> float:
    """Seconds all cores of the machine sat idle since boot (summed over the cores)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return (int(fields[4]) + int(fields[5])) / ServerCPU.TICK  # idle, iowait


@contextlib.contextmanager
def server_cpu(database: str | None) -> Any:
    """ServerCPU of `database` over the block (None: SQLite, nothing to sample)."""
    if database is None or not Path("/proc/self/stat").exists():
        yield None
        return
    with ServerCPU(database) as sampled:
        yield sampled


def percentile(values: list[float], q: int) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1]
        if len(values) > 1
        else values[0]
    )


def cpu_seconds() -> float:
    """CPU time of this process and its finished workers (not the database server's)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def run(
    backend: str,
    url: str,
    debtors: int,
    invoices: float,
    rules: Any,
    *,
    replan: bool,
    workers: int | None,
    samples: int,
) -> dict[str, Any]:
    engine = make_engine(url)
    upgrade(engine)
    started = time.perf_counter()
    reused = _customers(engine) == debtors
    if reused:
        _empty_schedule(engine)
        invoice_count = _count(engine, t.Invoice)
    else:
        portfolio = generate(
            engine, debtors=debtors, seed=42, today=NOW.date(), invoices_per_debtor=invoices
        )
        invoice_count = portfolio.rows.get("invoice", 0)
    generated = time.perf_counter() - started
    if backend == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    decider = functools.partial(decide, rules)
    database = make_url(url).database if backend == "postgresql" else None
    # counted before the sampling thread starts (a process with other threads plans in-process)
    workers = workers if workers is not None else default_workers(engine)
    reset_peak_rss()
    cpu = cpu_seconds()
    with server_cpu(database) as server:
        load = os.getloadavg()[0]
        summary = plan(engine, decider, NOW, batch=5000, workers=workers)
    cpu = cpu_seconds() - cpu
    rss = peak_rss_mb()
    worker_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    rows = step_rows(engine)
    baseline = (
        copy_baseline(engine, rows) if backend == "postgresql" else insert_baseline(engine, rows)
    )
    del rows
    scheduled = _count(engine, t.ScheduledStep)
    # the first re-plan decides once more the debtors whose journey the plan started (their
    # messages_sent now counts from that start); the second finds every fact as it was
    replans = []
    for _ in range(2 * replan):
        clock = cpu_seconds()
        with server_cpu(database) as again_server:
            again = plan(engine, decider, NOW, batch=5000, workers=workers)
        server_s = again_server.seconds if again_server is not None else None
        replans.append((again, cpu_seconds() - clock, server_s))
    latencies = refresh_latencies(engine, rules, samples) if samples else []
    engine.dispose()
    return {
        "backend": backend,
        "debtors": debtors,
        "invoices": invoice_count,
        "generate_s": generated,
        "reused": reused,
        "plan_s": summary.seconds,
        "plan_cpu_s": cpu,
        "plan_server_cpu_s": server.seconds if server is not None else None,
        "plan_idle_s": server.idle if server is not None else None,
        "load": (load, os.getloadavg()[0]),
        "facts_s": summary.facts_seconds,
        "decide_s": summary.decide_seconds,
        "persist_s": summary.persist_seconds,
        "workers": summary.workers,
        "scheduled": scheduled,
        "baseline_s": baseline,
        "baseline": "COPY" if backend == "postgresql" else "executemany INSERT",
        "peak_rss_mb": rss,
        "replans": replans,
        "worker_rss_mb": worker_rss,
        "latencies": latencies,
    }


def _count(engine: Engine, model: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model.__table__)).scalar_one())


def _cpu(python: float, server: float | None, debtors: int) -> str:
    """CPU seconds of Python and of the PostgreSQL backends, and per 100,000 debtors."""
    per = 100_000 / debtors
    text = f"{python:.1f} CPU s in Python ({python * per:.2f} per 100k debtors)"
    if server is not None:
        text += f", {server:.1f} CPU s in PostgreSQL ({server * per:.2f} per 100k)"
    return text


def report(r: dict[str, Any]) -> str:
    rate = r["debtors"] / r["plan_s"]
    how = "reused" if r["reused"] else "generated"
    lines = [
        f"{r['backend']:>10}: {r['debtors']:,} debtors, {r['invoices']:,} invoices"
        f" ({how} in {r['generate_s']:.1f}s)",
        f"plan {r['plan_s']:.2f}s = {rate:,.0f} debtors/s on {r['workers']} worker(s),"
        f" load average {r['load'][0]:.1f} at the start, {r['load'][1]:.1f} at the end"
        f"  [summed over workers: facts {r['facts_s']:.2f}s, decide {r['decide_s']:.2f}s,"
        f" persist {r['persist_s']:.2f}s]",
        f"CPU: {_cpu(r['plan_cpu_s'], r['plan_server_cpu_s'], r['debtors'])}"
        + (
            f"; the machine's cores sat idle {r['plan_idle_s']:.1f} s of"
            f" {r['plan_s'] * (os.cpu_count() or 1):.1f} core-seconds"
            if r["plan_idle_s"] is not None
            else ""
        ),
        f"{r['scheduled']:,} scheduled steps; {r['baseline']} of the same rows"
        f" {r['baseline_s']:.2f}s; plan / baseline = {r['plan_s'] / r['baseline_s']:.1f}x",
        f"peak RSS of the plan phase {r['peak_rss_mb']:.0f} MB in this process,"
        f" {r['worker_rss_mb']:.0f} MB in the largest worker",
    ]
    for number, (again, again_cpu, again_server) in enumerate(r["replans"], 1):
        lines.append(
            f"re-plan {number} at the same time {again.seconds:.2f}s"
            f" ({_cpu(again_cpu, again_server, r['debtors'])})"
            f" ({again.seconds / r['plan_s']:.0%} of the plan): {again.unchanged:,} unchanged,"
            f" {again.debtors - again.unchanged:,} re-decided, {again.scheduled_new} new steps"
            f"  [facts {again.facts_seconds:.2f}s, decide {again.decide_seconds:.2f}s,"
            f" persist {again.persist_seconds:.2f}s]"
        )
    if r["latencies"]:
        ms = [s * 1000 for s in r["latencies"]]
        lines.append(
            f"one debtor re-decided after an event (refresh_customers), {len(ms)} random debtors:"
            f" p50 {percentile(ms, 50):.1f} ms, p99 {percentile(ms, 99):.1f} ms,"
            f" max {max(ms):.1f} ms"
        )
    lines.append(f"at this rate 1M debtors take {1_000_000 / rate:.0f}s")
    return "\n            ".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--debtors", type=int, default=100_000)
    parser.add_argument("--invoices-per-debtor", type=float, default=3.0)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg", default=os.environ.get("PAYJOURNEY_TEST_PG", PG))
    parser.add_argument("--no-replan", action="store_true", help="Skip the incremental re-plan.")
    parser.add_argument(
        "--workers", type=int, default=None, help="Worker processes (default: one per core)."
    )
    parser.add_argument(
        "--refresh-samples", type=int, default=1000, help="Debtors for the re-decide latency."
    )
    parser.add_argument(
        "--keep",
        metavar="NAME",
        help="Keep the generated database under NAME and reuse it when it has --debtors debtors.",
    )
    args = parser.parse_args()
    rules = compile_rules(load_rules(ROOT / "rules"))
    options = {
        "replan": not args.no_replan,
        "workers": args.workers,
        "samples": args.refresh_samples,
    }
    results = []
    for backend in args.backends.split(","):
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                path = f"/tmp/{args.keep}.db" if args.keep else f"{tmp}/bench.db"
                results.append(
                    run(
                        backend,
                        f"sqlite:///{path}",
                        args.debtors,
                        args.invoices_per_debtor,
                        rules,
                        **options,
                    )
                )
            continue
        server = make_url(args.pg)
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        name = args.keep or f"pj_bench_{secrets.token_hex(4)}"
        with admin.connect() as conn:
            found = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).first()
            if found is None:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = server.set(database=name).render_as_string(hide_password=False)
            results.append(
                run(backend, url, args.debtors, args.invoices_per_debtor, rules, **options)
            )
        finally:
            if not args.keep:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    with contextlib.suppress(OSError):
        print(f"load average at the end: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    for r in results:
        print(report(r))


if __name__ == "__main__":
    main()
