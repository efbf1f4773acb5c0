"""Benchmark: the stored preview over HTTP on loopback, against a FastAPI hello-world floor.

    python bench/api.py [--db sqlite:///bench-api.db] [--debtors 100000] [--rate 200]
                        [--seconds 20] [--runs 3] [--wrk-seconds 10]

Fills the database with a generated NL/DE portfolio when it has fewer than --debtors, starts
`payjourney serve` and a hello-world app (bench/hello.py) with the same uvicorn settings, each
in its own process, and loads them from this (third) process:

- open loop at --rate requests/s, --runs times the hello-world then the API (a request is sent
  on schedule whether or not earlier ones returned; latency counts from the scheduled time, so
  a stall is not hidden), over random debtors with an open balance: p50, p90, p99, max, and
  errors; per run also whether the slow requests were the API's or the machine's (how long the
  server waited for a core, the generator's lag, a hello-world probe alongside, the workers'
  share of the requests);
- with wrk (Debian's package), if installed: closed-loop throughput with 8 connections.

Then times the stages of one preview in-process (facts SQL, open invoices, decide, render,
JSON) to say where the time goes. Ratios are against the hello-world measured in the same run.
On a shared machine, run it in a session of its own (docs/api.md, "The tail").
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import itertools
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
    total = 0.0
    for each in [pid, *descendants(pid)]:
        try:  # utime, stime are fields 14, 15 of stat (11, 12 after the name)
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
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
        self.port = int(writer.get_extra_info("sockname")[1])  # our end: which worker has it

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


class _Pool:
    """Keep-alive connections to one server, handed out first in, first out."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port = port
        self.head = (
            "Host: 127.0.0.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        ).encode()
        self.idle: asyncio.Queue[_Connection] = asyncio.Queue()
        self.all: list[_Connection] = []

    async def open(self, count: int) -> None:
        for _ in range(count):
            connection = _Connection(*await asyncio.open_connection("127.0.0.1", self.port))
            self.all.append(connection)
            self.idle.put_nowait(connection)

    async def get(self, path: str) -> tuple[int, int]:
        """(status, our port of the connection used)."""
        connection = await self.idle.get()
        try:
            return await connection.get(path, self.head), connection.port
        finally:
            self.idle.put_nowait(connection)

    def close(self) -> None:
        for connection in self.all:
            connection.writer.close()


def connection_owners(server_pid: int, port: int) -> dict[int, int]:
    """Our (client) port -> pid of the server process holding that connection, from /proc:
    uvicorn's workers share one listening socket and each keeps the connections it accepted."""
    inodes: dict[str, int] = {}  # socket inode -> client port
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if int(local.rsplit(":", 1)[1], 16) == port and fields[3] == "01":  # ESTABLISHED
                inodes[f"socket:[{inode}]"] = int(remote.rsplit(":", 1)[1], 16)
    owners: dict[int, int] = {}
    for pid in [server_pid, *descendants(server_pid)]:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target in inodes:
                owners[inodes[target]] = pid
    return owners


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(entry.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return found


def waited_for_cpu(pid: int) -> float:
    """Seconds the threads of `pid` and its descendants spent runnable but waiting for a core
    (the scheduler's run delay, /proc/PID/task/TID/schedstat field 2); 0 without schedstat.
    Threads that ended since are not counted."""
    total = 0
    for each in [pid, *descendants(pid)]:
        for stat in Path(f"/proc/{each}/task").glob("*/schedstat"):
            try:
                total += int(stat.read_text().split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return total / 1e9


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of all cores so far, from /proc/stat; (0, 0) without it."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else 0.0


#: A request slower than this counts as slow in the report of where the slow ones were.
SLOW = 0.025
#: Requests per second sent to the hello-world alongside the API's run (the floor probe).
PROBE_RATE = 20.0


async def open_loop(
    port: int,
    server_pid: int,
    paths: list[str],
    headers: dict[str, str],
    rate: float,
    seconds: float,
    probe_port: int | None = None,
) -> dict[str, Any]:
    """Send rate x seconds requests on a fixed schedule; latency from the scheduled time.

    One dispatcher sleeps until each request is due and starts it then (4,000 tasks made at
    once, each sleeping until its time, took longer to set up than the first requests' head
    start on a busy machine: they went out late and counted as slow). Also measured: the CPU
    the server's processes and this load generator spent per request; how late the generator
    itself sent (its lag); which worker process held each connection; how busy all cores were
    in each half second; and, with `probe_port`, a hello-world's latency at PROBE_RATE during
    the same seconds (if it is slow when the API is, the machine or the generator was); and
    how long the server's and the generator's threads were ready to run but waited for a core
    (on a quiet machine next to nothing: more means other work had the cores)."""
    total = int(rate * seconds)
    pool = _Pool(port, headers)
    await pool.open(64)
    probe = _Pool(probe_port, {}) if probe_port else None
    if probe:
        await probe.open(4)
    owners = connection_owners(server_pid, port)
    errors = 0
    await asyncio.gather(*(pool.get(random.choice(paths)) for _ in range(200)))  # warm up
    clock = time.monotonic  # what asyncio schedules by (uvloop would count whole ms)
    records: list[tuple[float, float, float, int]] = []  # due, sent, done, our port
    probed: list[float] = []
    busy: list[tuple[float, tuple[int, int]]] = []

    async def one(due: float) -> None:
        nonlocal errors
        sent = clock()
        status, via = await pool.get(random.choice(paths))
        errors += status != 200
        records.append((due, sent, clock(), via))

    async def probe_one(due: float) -> None:
        assert probe is not None
        await probe.get("/hello")
        probed.append(clock() - due)

    async def sample() -> None:
        while True:
            busy.append((clock(), machine_busy()))
            await asyncio.sleep(0.1)

    sampler = asyncio.ensure_future(sample())
    begin = clock() + 0.05
    server_cpu, own_cpu = tree_cpu_seconds(server_pid), time.process_time()
    server_wait, own_wait = waited_for_cpu(server_pid), waited_for_cpu(os.getpid())
    running: list[asyncio.Task[None]] = []
    probe_every = round(rate / PROBE_RATE) if probe else 0
    for i in range(total):
        due = begin + i / rate
        delay = due - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        running.append(asyncio.ensure_future(one(due)))
        if probe_every and i % probe_every == 0:
            running.append(asyncio.ensure_future(probe_one(due)))
    await asyncio.gather(*running)
    elapsed = clock() - begin
    server_cpu = tree_cpu_seconds(server_pid) - server_cpu
    own_cpu = time.process_time() - own_cpu
    server_wait = waited_for_cpu(server_pid) - server_wait
    own_wait = waited_for_cpu(os.getpid()) - own_wait
    sampler.cancel()
    pool.close()
    if probe:
        probe.close()

    latencies = [done - due for due, _, done, _ in records]
    lags = [sent - due for due, sent, _, _ in records]
    per_worker: dict[int, int] = {}
    for *_, via in records:
        per_worker[owners.get(via, 0)] = per_worker.get(owners.get(via, 0), 0) + 1
    # slow requests against how busy the cores were in their half second
    halves: dict[int, list[int]] = {}  # half-second -> [busy, total] jiffies
    for (t0, (b0, a0)), (_, (b1, a1)) in itertools.pairwise(busy):
        half = halves.setdefault(int((t0 - begin) * 2), [0, 0])
        half[0] += b1 - b0
        half[1] += a1 - a0
    saturated = {k for k, (b, a) in halves.items() if a and b / a >= 0.95}
    slow = [due for due, _, done, _ in records if done - due > SLOW]
    slow_saturated = sum(1 for due in slow if int((due - begin) * 2) in saturated)
    first_busy, last_busy = busy[0][1], busy[-1][1]
    return {
        "requests": total,
        "achieved_rps": total / elapsed,
        "p50_ms": pct(latencies, 0.50) * 1000,
        "p90_ms": pct(latencies, 0.90) * 1000,
        "p99_ms": pct(latencies, 0.99) * 1000,
        "max_ms": max(latencies) * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000,
        "errors": errors,
        "server_cpu_ms": server_cpu / total * 1000,
        "client_cpu_ms": own_cpu / total * 1000,
        "server_waited_ms": server_wait / total * 1000,
        "client_waited_ms": own_wait / total * 1000,
        "client_lag_p99_ms": pct(lags, 0.99) * 1000,
        "client_lag_max_ms": max(lags) * 1000,
        "workers": sorted(per_worker.values(), reverse=True),
        "machine_busy": (last_busy[0] - first_busy[0]) / max(1, last_busy[1] - first_busy[1]),
        "slow": len(slow),
        "slow_saturated": slow_saturated,
        "saturated_share": len(saturated) / max(1, 2 * seconds),
        "probe_p99_ms": pct(probed, 0.99) * 1000 if probed else None,
        "load": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
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


def report_run(number: int, results: dict[str, dict[str, Any]]) -> None:
    """One open-loop run's figures: latency, CPU per request, and where the slow ones were."""
    floor = results["hello-world (floor)"]
    print(
        f"\nrun {number}{'':18}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}{'errors':>8}"
        f"{'p99 x floor':>13}{'server CPU':>12}{'client CPU':>12}"
    )
    for name, r in results.items():
        print(
            f"{name:24}{r['p50_ms']:9.1f}{r['p90_ms']:9.1f}{r['p99_ms']:9.1f}{r['max_ms']:9.1f}"
            f"{r['errors']:8d}{r['p99_ms'] / floor['p99_ms']:13.1f}"
            f"{r['server_cpu_ms']:9.2f} ms{r['client_cpu_ms']:9.2f} ms"
        )
    ours = results["GET next-message"]
    probe = ours["probe_p99_ms"]
    print(
        f"  API run: load average {ours['load']:.1f}, all cores {ours['machine_busy']:.0%} busy,"
        f" {ours['saturated_share']:.0%} of its half-seconds at >= 95%; the server's threads"
        f" waited {ours['server_waited_ms']:.2f} ms per request for a core (runnable, not"
        f" running; the floor's {floor['server_waited_ms']:.2f} ms), this generator"
        f" {ours['client_waited_ms']:.2f} ms; requests per worker"
        f" {ours['workers']}; generator lag p99 {ours['client_lag_p99_ms']:.1f} ms, max"
        f" {ours['client_lag_max_ms']:.1f}; hello-world probe ({PROBE_RATE:g} req/s alongside)"
        + (f" p99 {probe:.1f} ms" if probe is not None else " -")
        + f"; {ours['slow']} requests over {SLOW * 1000:g} ms, {ours['slow_saturated']} of them"
        " in half-seconds when all cores were >= 95% busy"
    )
    if ours["server_waited_ms"] > 0.5 * ours["server_cpu_ms"]:
        print(
            "  the API waited for a core half as long as it ran or more: other work had the"
            " cores, so this run's latency is the machine's (docs/api.md, 'The tail', says how"
            " to run the bench in a session of its own)"
        )


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
        "--runs", type=int, default=3, help="open-loop runs (each: hello-world, then the API)"
    )
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
    runs: list[dict[str, dict[str, Any]]] = []
    try:
        api, hello = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{hello_port}"
        paths = [f"/v1/customers/{i}/next-message?now={NOW.replace('+', '%2B')}" for i in ids]
        headers = {"Authorization": f"Bearer {secret}"}
        print(
            f"open loop: {args.rate:g} requests/s for {args.seconds:g} s each, {args.runs}"
            " run(s) of the hello-world then the API ...",
            flush=True,
        )
        for _ in range(args.runs):
            floor_run = asyncio.run(
                open_loop(hello_port, servers[1].pid, ["/hello"], {}, args.rate, args.seconds)
            )
            api_run = asyncio.run(
                open_loop(
                    api_port,
                    servers[0].pid,
                    paths,
                    headers,
                    args.rate,
                    args.seconds,
                    probe_port=hello_port,
                )
            )
            runs.append({"hello-world (floor)": floor_run, "GET next-message": api_run})
            report_run(len(runs), runs[-1])
        with tempfile.TemporaryDirectory() as folder:
            hello_rps = wrk(hello, None, "/hello", None, args.wrk_seconds)
            api_rps = wrk(api, wrk_script(ids, Path(folder)), "/", secret, args.wrk_seconds)
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)

    p99s = [run["GET next-message"]["p99_ms"] for run in runs]
    print(
        f"\nGET next-message p99 over {len(runs)} run(s): "
        + " / ".join(f"{p:.1f}" for p in p99s)
        + f" ms at {args.rate:g} req/s; goal p99 < 25 ms: "
        + ("met in every run" if max(p99s) < 25 else f"NOT met in {sum(p >= 25 for p in p99s)}")
    )
    if api_rps and hello_rps:
        print(
            f"closed-loop throughput (wrk, 8 connections): {api_rps:,.0f} req/s, the floor"
            f" {hello_rps:,.0f}: {api_rps / hello_rps:.2f}x"
        )
    print("\nwhere the time of one preview goes (in-process CPU time, mean of 200, warmed):")
    for stage, ms in stages(args.db, ids).items():
        print(f"  {stage:20}{ms:8.2f} ms")


if __name__ == "__main__":
    main()
