"""Benchmark: the stored preview over HTTP on loopback, against a FastAPI hello-world floor.

    python bench/api.py [--db sqlite:///bench-api.db] [--debtors 100000] [--rate 200]
                        [--seconds 20] [--wrk-seconds 10]

Fills the database with a generated NL/DE portfolio when it has fewer than --debtors, starts
`payjourney serve` and a hello-world app (bench/hello.py) with the same uvicorn settings, each
in its own process, and loads them from this (third) process:

- open loop at --rate requests/s (a request is sent on schedule whether or not earlier ones
  returned; latency counts from the scheduled time, so a stall is not hidden), over random
  debtors with an open balance: p50, p90, p99, max, and errors;
- with wrk (Debian's package), if installed: closed-loop throughput with 8 connections.

Then times the stages of one preview in-process (facts SQL, open invoices, decide, render,
JSON) to say where the time goes. Ratios are against the hello-world measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.api.auth import new_token  # noqa: E402
from engine.store.db import make_engine  # noqa: E402

print = functools.partial(print, flush=True)  # progress shows up when piped

NOW = "2026-11-24T10:00:00+01:00"
#: The debtors a preview is asked about: those with something open (the others answer `none`
#: at once, and would flatter the figures).
OPEN_BALANCE = text(
    "SELECT DISTINCT i.customer_id FROM invoice i LEFT JOIN (SELECT invoice_id, sum(amount) AS"
    " paid FROM payment GROUP BY invoice_id) p ON p.invoice_id = i.id"
    " WHERE i.amount > coalesce(p.paid, 0) ORDER BY 1"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_portfolio(db: str, debtors: int) -> list[str]:
    """The ids of debtors with an open balance, generating the portfolio first when the
    database has too few debtors."""
    from sqlalchemy import func, select

    from engine.store import tables as t
    from engine.store.migrate import upgrade

    engine = make_engine(db)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            count = conn.execute(select(func.count()).select_from(t.Customer)).scalar() or 0
        if count < debtors:
            print(f"generating {debtors:,} debtors into {db} (once) ...", flush=True)
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "engine",
                    "--db",
                    db,
                    "generate",
                    "--debtors",
                    str(debtors),
                    "--seed",
                    "7",
                    "--today",
                    "2026-11-23",
                ],
                cwd=ROOT,
                check=True,
                stdout=subprocess.DEVNULL,
            )
        with engine.connect() as conn:
            return list(conn.execute(OPEN_BALANCE).scalars())
    finally:
        engine.dispose()


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by process `pid` and its live descendants
    (uvicorn's worker processes), from /proc; 0 where /proc is missing."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        child = int(entry.parent.name)
        stats[child] = fields
        children.setdefault(int(fields[1]), []).append(child)
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        if current in stats:  # utime, stime are fields 14, 15 of stat (11, 12 after the name)
            total += (int(stats[current][11]) + int(stats[current][12])) / tick
        todo.extend(children.get(current, ()))
    return total


def start(args: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    for _ in range(600):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            if process.poll() is not None:
                raise SystemExit(
                    f"server {' '.join(args)} exited with {process.returncode}"
                ) from None
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"server on port {port} did not start")


class _Connection:
    """One keep-alive HTTP/1.1 connection: a minimal client, so the load generator costs less
    than the servers it measures (httpx's pool does not keep up with 200 requests/s here)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def get(self, path: str, head: bytes) -> int:
        self.writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\n" + head)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])


async def open_loop(
    port: int,
    server_pid: int,
    paths: list[str],
    headers: dict[str, str],
    rate: float,
    seconds: float,
) -> dict[str, Any]:
    """Send rate x seconds requests on a fixed schedule; latency from the scheduled time.
    Also the CPU the server's processes and this load generator spent per request."""
    total = int(rate * seconds)
    head = (
        "Host: 127.0.0.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    ).encode()
    idle: asyncio.Queue[_Connection] = asyncio.Queue()
    for _ in range(64):
        idle.put_nowait(_Connection(*await asyncio.open_connection("127.0.0.1", port)))
    latencies: list[float] = []
    errors = 0

    async def request(path: str) -> None:
        nonlocal errors
        connection = await idle.get()
        try:
            if await connection.get(path, head) != 200:
                errors += 1
        finally:
            idle.put_nowait(connection)

    await asyncio.gather(*(request(random.choice(paths)) for _ in range(100)))  # warm up
    loop = asyncio.get_running_loop()
    begin = loop.time() + 0.1
    server_cpu, own_cpu = tree_cpu_seconds(server_pid), time.process_time()

    async def one(i: int) -> None:
        due = begin + i / rate
        await asyncio.sleep(max(0.0, due - loop.time()))
        await request(random.choice(paths))
        latencies.append(loop.time() - due)

    await asyncio.gather(*(one(i) for i in range(total)))
    elapsed = loop.time() - begin
    server_cpu = tree_cpu_seconds(server_pid) - server_cpu
    own_cpu = time.process_time() - own_cpu
    while not idle.empty():
        idle.get_nowait().writer.close()
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {
        "requests": total,
        "achieved_rps": total / elapsed,
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": latencies[-1] * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000,
        "errors": errors,
        "server_cpu_ms": server_cpu / total * 1000,
        "client_cpu_ms": own_cpu / total * 1000,
    }


def wrk(
    base: str, path_lua: str | None, path: str, token: str | None, seconds: int
) -> float | None:
    """Closed-loop requests/s with wrk (8 connections, 2 threads), when wrk is installed."""
    if shutil.which("wrk") is None:
        return None
    args = ["wrk", "-t2", "-c8", f"-d{seconds}s"]
    if token:
        args += ["-H", f"Authorization: Bearer {token}"]
    if path_lua:
        args += ["-s", path_lua]
    done = subprocess.run([*args, base + path], capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    return None


def wrk_script(ids: list[str], folder: Path) -> str:
    sample = random.sample(ids, min(len(ids), 2000))
    lua = folder / "ids.lua"
    listed = ",".join(json.dumps(i) for i in sample)
    lua.write_text(
        f"ids = {{{listed}}}\n"
        "request = function()\n"
        f'  local path = "/v1/customers/" .. ids[math.random(#ids)] .. "/next-message?now={NOW.replace("+", "%2B")}"\n'
        "  return wrk.format(nil, path)\n"
        "end\n",
        encoding="utf-8",
    )
    return str(lua)


def stages(db: str, ids: list[str], n: int = 200) -> dict[str, float]:
    """Mean milliseconds of CPU per stage of one stored preview, in-process."""
    from engine.decision.decide import decide
    from engine.messages.render import render_preview
    from engine.rules.rulebook import RuleBook
    from engine.store.facts_sql import fact_sheet_for
    from engine.store.heap import keep_freed_heap
    from engine.store.message_data import message_data

    rules = RuleBook(ROOT / "rules").current
    keep_freed_heap()  # as the served app does (engine/store/heap.py): SQLite's scratch reused
    engine = make_engine(db)
    now = dt.datetime.fromisoformat(NOW)
    spent = {
        "facts SQL": 0.0,
        "open invoices SQL": 0.0,
        "decide + trace": 0.0,
        "render": 0.0,
        "JSON": 0.0,
    }
    # every stage is warmed on 2n other debtors first, as a served worker is: Jinja compiles a
    # template on its first use (tens of milliseconds), which counted as "render" before
    drawn = random.sample(ids, 3 * n)
    clock = time.process_time  # CPU time: what other work on the machine does not inflate
    try:
        for i, cid in enumerate(drawn):
            t0 = clock()
            facts = fact_sheet_for(engine, cid, now)
            t1 = clock()
            data = message_data(engine, cid, now)
            t2 = clock()
            decision = decide(rules, facts, now)
            answer = decision.to_json()
            t3 = clock()
            answer.update(  # as the API answers: a letter's PDF only when its URL is asked
                render_preview(
                    decision,
                    facts,
                    settings=rules.spec.settings,
                    invoices=data.invoices,
                    address=data.address,
                    today=now.date(),
                    letter_pdf=False,
                )
            )
            t4 = clock()
            json.dumps(answer, default=str)
            t5 = clock()
            if i < 2 * n:
                continue
            for key, (a, b) in zip(
                spent, ((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5)), strict=True
            ):
                spent[key] += b - a
    finally:
        engine.dispose()
    return {k: v / n * 1000 for k, v in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", default=f"sqlite:///{ROOT / 'bench-api.db'}")
    parser.add_argument("--debtors", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--wrk-seconds", type=int, default=10)
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="uvicorn workers, both servers (default: one per core, as docs/api.md advises)",
    )
    args = parser.parse_args()

    ids = ensure_portfolio(args.db, args.debtors)
    print(
        f"{args.debtors:,} debtors in {args.db}; {len(ids):,} with an open balance are asked;"
        f" {args.workers} worker(s) per server; {os.cpu_count()} cores"
    )
    secret, token = new_token("bench", ["preview"])
    env = {**os.environ, "PAYJOURNEY_API_TOKENS": token.line()}
    api_port, hello_port = free_port(), free_port()
    uvicorn = [
        sys.executable,
        "-m",
        "uvicorn",
        "--no-access-log",
        "--log-level",
        "warning",
        "--host",
        "127.0.0.1",
    ]
    servers = [
        start(
            [
                sys.executable,
                "-m",
                "engine",
                "--db",
                args.db,
                "serve",
                "--port",
                str(api_port),
                "--workers",
                str(args.workers),
            ],
            env,
            api_port,
        ),
        start(
            [
                *uvicorn,
                "--workers",
                str(args.workers),
                "--port",
                str(hello_port),
                "bench.hello:app",
            ],
            env,
            hello_port,
        ),
    ]
    results: dict[str, dict[str, Any]] = {}
    try:
        api, hello = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{hello_port}"
        paths = [f"/v1/customers/{i}/next-message?now={NOW.replace('+', '%2B')}" for i in ids]
        headers = {"Authorization": f"Bearer {secret}"}
        print(f"open loop: {args.rate:g} requests/s for {args.seconds:g} s each ...", flush=True)
        results["hello-world (floor)"] = asyncio.run(
            open_loop(hello_port, servers[1].pid, ["/hello"], {}, args.rate, args.seconds)
        )
        results["GET next-message"] = asyncio.run(
            open_loop(api_port, servers[0].pid, paths, headers, args.rate, args.seconds)
        )
        with tempfile.TemporaryDirectory() as folder:
            results["hello-world (floor)"]["wrk_rps"] = wrk(
                hello, None, "/hello", None, args.wrk_seconds
            )
            results["GET next-message"]["wrk_rps"] = wrk(
                api, wrk_script(ids, Path(folder)), "/", secret, args.wrk_seconds
            )
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)

    floor = results["hello-world (floor)"]
    print(
        f"\n{'':24}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}{'errors':>8}"
        f"{'wrk req/s':>11}{'p99 x floor':>13}{'server CPU':>12}{'client CPU':>12}"
    )
    for name, r in results.items():
        rps = f"{r['wrk_rps']:,.0f}" if r.get("wrk_rps") else "-"
        print(
            f"{name:24}{r['p50_ms']:9.1f}{r['p90_ms']:9.1f}{r['p99_ms']:9.1f}{r['max_ms']:9.1f}"
            f"{r['errors']:8d}{rps:>11}{r['p99_ms'] / floor['p99_ms']:13.1f}"
            f"{r['server_cpu_ms']:9.2f} ms{r['client_cpu_ms']:9.2f} ms"
        )
    ours = results["GET next-message"]
    print(
        f"\np50 {ours['p50_ms'] / floor['p50_ms']:.1f}x and p99 {ours['p99_ms'] / floor['p99_ms']:.1f}x "
        f"the hello-world floor at {args.rate:g} req/s; goal p99 < 25 ms: "
        + ("met" if ours["p99_ms"] < 25 else "NOT met")
    )
    if ours.get("wrk_rps") and floor.get("wrk_rps"):
        print(f"closed-loop throughput: {ours['wrk_rps'] / floor['wrk_rps']:.2f}x the floor's")
    print(
        "(server and client CPU: milliseconds of CPU per request in the open-loop run, all of"
        " the server's processes; the client is this load generator, on the same cores)"
    )
    print("\nwhere the time of one preview goes (in-process CPU time, mean of 200, warmed):")
    for stage, ms in stages(args.db, ids).items():
        print(f"  {stage:20}{ms:8.2f} ms")


if __name__ == "__main__":
    main()
