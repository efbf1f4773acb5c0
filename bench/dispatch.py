"""Dispatch throughput: due steps decided, rendered, sent to a local SMTP sink and recorded.

    python bench/dispatch.py [--steps 20000] [--runs pg1,pg2,sqlite1,kill]

Each run seeds `--steps` debtors with one due step, starts N `payjourney run` processes (the
real CLI sending through the real email adapter, channels/email.py, configured by environment)
and times until every step is sent.
The sink (aiosmtpd, bench/smtp_sink.py) runs in its own process; its own rate is measured in the
same run by blasting ready-made messages at it from as many client processes as daemons, and
every figure is printed as a ratio to it. `kill` is the 3-daemon SIGKILL scenario of
tests/daemon/test_many_daemons.py at full size. `--profile postgresql|sqlite` samples one
daemon's pass with py-spy and prints where its CPU goes, by stage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import secrets
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from channels.base import OutgoingMessage  # noqa: E402
from channels.outbox import email_bytes  # noqa: E402
from engine.store import tables as t  # noqa: E402
from engine.store.db import make_engine  # noqa: E402
from engine.store.migrate import upgrade  # noqa: E402
from tests.daemon.fleet import fleet_rules, seed, sink_channel_env  # noqa: E402

PG = os.environ.get("PAYJOURNEY_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PAYJOURNEY = Path(sys.executable).with_name("payjourney")
S = t.ScheduledStep.__table__  # type: ignore[attr-defined]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SINK = "smtp-sink" if shutil.which("smtp-sink") else "aiosmtpd"


class SinkProcess:
    """Postfix's smtp-sink (C, fast; records nothing) when installed, else aiosmtpd in its own
    process recording every Message-ID (slower, but proves no doubles)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.ids = workdir / f"sink-{self.port}.ids"
        if SINK == "smtp-sink":
            self.proc = subprocess.Popen(
                ["smtp-sink", "-u", "postfix", f"127.0.0.1:{self.port}", "512"],
                stdout=subprocess.DEVNULL,
            )
            time.sleep(0.5)
            return
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "smtp_sink.py"), str(self.port), str(self.ids)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"

    def stop(self) -> list[str] | None:
        """The Message-IDs received (None when the sink records none)."""
        self.proc.terminate()
        self.proc.wait(timeout=30)
        if SINK == "smtp-sink":
            return None
        return self.ids.read_text().split() if self.ids.exists() else []


def _blast(port: int, count: int, tag: str) -> None:
    smtp = smtplib.SMTP("127.0.0.1", port)
    for n in range(count):
        message = OutgoingMessage(
            idempotency_key=f"sink-{tag}-{n}", channel="email", recipient="a@example.nl",
            locale="nl_NL", text="Geachte heer, " * 60, subject="Betalingsherinnering — € 250,00",
            html="<p>" + "Geachte heer, " * 60 + "</p>",
        )  # fmt: skip
        smtp.sendmail("b@example.nl", ["a@example.nl"], email_bytes(message))
    smtp.quit()


def sink_rate(workdir: Path, clients: int, count: int = 3000) -> float:
    """Messages/s the sink accepts from `clients` client processes sending ready-made mail."""
    sink = SinkProcess(workdir)
    per = count // clients
    started = time.perf_counter()
    procs = [
        multiprocessing.Process(target=_blast, args=(sink.port, per, f"{c}"))
        for c in range(clients)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    seconds = time.perf_counter() - started
    received = sink.stop()
    assert received is None or len(received) == per * clients
    return per * clients / seconds


def fresh_database(kind: str, workdir: Path) -> str:
    if kind == "sqlite":
        url = f"sqlite:///{workdir / f'bench-{secrets.token_hex(3)}.db'}"
    else:
        server = make_url(PG)
        name = f"pj_bench_{os.getpid()}_{secrets.token_hex(3)}"
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = server.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def seed_analyzed(engine: Any, steps: int, rules: Path) -> None:
    """`steps` debtors with one due step each, and the database's statistics brought up to date
    (as autovacuum keeps them on a database in use: planning the facts query for a batch on a
    freshly loaded database without them took twice as long and ran three times as long)."""
    seed(engine, steps, rules, dt.datetime.now(dt.UTC))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))


def drop_database(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    admin.dispose()


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """A process's CPU time so far (user + system, from /proc; 0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime


def backend_pids(engine: Any) -> list[int]:
    """The PostgreSQL backends serving the bench database (the daemons'), not this poller's."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect() as conn:
        pids = conn.execute(
            text(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalars()
        return list(pids)


@dataclass(frozen=True, slots=True)
class Run:
    """One timed run: wall seconds from the first claim to the last `sent`, CPU seconds over
    the same span for the daemons, the PostgreSQL backends serving them and the sink, and how
    many Message-IDs arrived twice (None when the sink records none)."""

    seconds: float
    daemon_cpu: float
    database_cpu: float
    sink_cpu: float
    doubles: int | None


#: A run in which no step was sent for this long has failed (the bench says so and stops).
STALL_SECONDS = 60


def _alive(procs: list[subprocess.Popen[bytes]], workdir: Path) -> None:
    """Stop the bench, showing a log, when a daemon died (a broken daemon never sends)."""
    for proc in procs:
        if proc.poll() is not None:
            logs = sorted(workdir.glob("*.log"), key=lambda p: p.stat().st_mtime)
            tail = logs[-1].read_text(errors="replace")[-3000:] if logs else ""
            for other in procs:
                other.kill()
            sys.exit(f"a daemon exited with {proc.returncode} before the run ended:\n{tail}")


def without_change_tracking(url: str) -> None:
    """Drop the plan change-tracking triggers (migration 0008), to measure what they cost."""
    import importlib

    tracking = importlib.import_module("engine.store.migrations.versions.0008_plan_change_tracking")
    engine = make_engine(url)
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        for table in tracking.WATCHED:
            for kind in ("insert", "update", "delete"):
                on = f" ON {table}" if postgres else ""
                conn.execute(text(f"DROP TRIGGER IF EXISTS pj_stale_plan_{table}_{kind}{on}"))
    engine.dispose()


def run_daemons(
    kind: str, daemons: int, steps: int, workdir: Path, options: str, *, tracking: bool = True
) -> Run:
    """Start `daemons` daemons on a fresh database of `kind` with `steps` due steps and time them
    (`tracking=False`: without the change-tracking triggers)."""
    url = fresh_database(kind, workdir)
    if not tracking:
        without_change_tracking(url)
    engine = make_engine(url)
    rules = fleet_rules(workdir / "rules", options=options)
    seed_analyzed(engine, steps, rules)
    sink = SinkProcess(workdir)
    env = {**os.environ, "PYTHONPATH": str(ROOT), **sink_channel_env(sink.port)}
    command = [
        str(PAYJOURNEY), "--db", url, "--rules", str(rules), "run",
        "--templates", str(ROOT / "templates"), "--every", "0.3", "--batch", "200",
    ]  # fmt: skip
    logs = [open(workdir / f"{kind}-{daemons}-{n}.log", "wb") for n in range(daemons)]  # noqa: SIM115
    procs = [
        subprocess.Popen([*command, "--daemon-id", f"bench-{n}"], env=env, stdout=log, stderr=log)
        for n, log in enumerate(logs)
    ]
    # time from the first claim (imports and start-up are not dispatch)
    with engine.connect() as conn:
        while conn.execute(select(func.count()).where(S.c.status != "scheduled")).scalar_one() == 0:
            _alive(procs, workdir)
            time.sleep(0.05)
            conn.rollback()
    started = time.perf_counter()
    daemon_cpu = -sum(cpu_seconds(p.pid) for p in procs)
    sink_cpu = -cpu_seconds(sink.proc.pid)
    backends = {pid: cpu_seconds(pid) for pid in backend_pids(engine)}
    with engine.connect() as conn:
        progress = (0, time.monotonic())
        while True:
            sent = conn.execute(select(func.count()).where(S.c.status == "sent")).scalar_one()
            conn.rollback()
            if sent >= steps:
                break
            if sent > progress[0]:
                progress = (sent, time.monotonic())
            elif time.monotonic() - progress[1] > STALL_SECONDS:
                for proc in procs:
                    proc.kill()
                sys.exit(f"no step sent for {STALL_SECONDS} s ({sent} of {steps}); see the logs")
            _alive(procs, workdir)
            time.sleep(0.1)
    seconds = time.perf_counter() - started
    daemon_cpu += sum(cpu_seconds(p.pid) for p in procs)
    sink_cpu += cpu_seconds(sink.proc.pid)
    database_cpu = sum(cpu_seconds(pid) - backends.get(pid, 0.0) for pid in backend_pids(engine))
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(timeout=60)
    for log in logs:
        log.close()
    ids = sink.stop()
    engine.dispose()
    drop_database(url)
    doubles = None if ids is None else len(ids) - len(set(ids))
    return Run(seconds, daemon_cpu, database_cpu, sink_cpu, doubles)


#: Where a dispatch pass spends its time: the innermost of these frames on a sampled stack.
STAGES = (
    ("claim due steps", "claim_due"),
    ("facts, journeys, contacts, invoices", "_load"),
    ("re-decide", "_handle"),
    ("render: templates", "render_limited"),
    ("render: EPC QR", "qr_data_uri"),
    ("render: payment links, context", "render_preview"),
    ("render: the rest (MIME hash, message)", "_render"),
    ("outbox rows + claim renewal", "_commit_outbox"),
    ("MIME + SMTP to the sink", "_deliver"),
    ("record sent, journeys on", "_record_sent"),
)


def profile_pass(kind: str, steps: int, options: str, workdir: Path) -> None:
    """One daemon's dispatch pass in this process (what --profile samples): `steps` due steps
    on `kind`, sent through the real email adapter to the sink."""
    from channels.email import SmtpEmailChannel, SmtpSettings
    from engine.daemon.dispatch import Dispatcher
    from engine.daemon.settings import DaemonSettings
    from engine.rules.compile import compile_rules
    from engine.rules.rulespec import load_rules

    url = fresh_database(kind, workdir)
    engine = make_engine(url)
    rules_dir = fleet_rules(workdir / "rules", options=options)
    seed_analyzed(engine, steps, rules_dir)
    rules = compile_rules(load_rules(rules_dir))
    sink = SinkProcess(workdir)
    settings = SmtpSettings(
        host="127.0.0.1", port=sink.port, sender="debiteuren@voorbeeld.example", security="none"
    )
    dispatcher = Dispatcher(
        engine=engine, rules=lambda: rules, channels={"email": SmtpEmailChannel(settings)},
        settings=DaemonSettings(batch=200), clock=lambda: dt.datetime.now(dt.UTC),
    )  # fmt: skip
    dispatcher.run_once(max_batches=1)  # warm: imports, compiled statements and templates
    _measured(dispatcher)
    sink.stop()
    engine.dispose()
    drop_database(url)


def _measured(dispatcher: Any) -> None:
    """The pass --profile counts (its name marks the samples)."""
    started, cpu = time.perf_counter(), time.process_time()
    report = dispatcher.run_once()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"PASS {report.claimed} {seconds:.3f} {cpu:.3f}", flush=True)


def profile(kind: str, steps: int, options: str, workdir: Path) -> None:
    """Sample one daemon's pass with py-spy (pip install py-spy) and say where the time goes."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        sys.exit("--profile needs py-spy: pip install py-spy")
    raw = workdir / "profile.txt"
    command = [
        spy, "record", "-r", "250", "-f", "raw", "-o", str(raw), "--",
        sys.executable, __file__, "--profile-pass", kind, "--steps", str(steps),
        "--options", options,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    line = next(x for x in done.stdout.splitlines() if x.startswith("PASS "))
    claimed, seconds, cpu = line.split()[1:]
    shares: dict[str, int] = dict.fromkeys([name for name, _ in STAGES], 0)
    total = 0
    for sample in raw.read_text().splitlines():
        stack, _, count = sample.rpartition(" ")
        if "_measured (" not in stack:
            continue
        frames = [frame.split(" (")[0].rpartition(".")[2] for frame in stack.split(";")]
        total += int(count)
        depth = {f: i for i, f in enumerate(frames)}  # the innermost stage named on the stack
        found = [(depth[function], name) for name, function in STAGES if function in depth]
        if found:
            shares[max(found)[1]] += int(count)
    rate = int(claimed) / float(seconds)
    print(
        f"one daemon, {kind}, options [{options}]: {claimed} messages in {float(seconds):.1f} s"
        f" ({rate:.0f}/s), {float(cpu) / int(claimed) * 1000:.2f} ms CPU per message in the"
        " daemon's process"
    )
    print("share of the daemon's CPU in the pass (py-spy samples, waits left out):")
    for name, count in shares.items():
        print(f"  {name:40}{count / max(total, 1) * 100:6.1f} %")
    rest = total - sum(shares.values())
    print(f"  {'other (sweep, counting, logging)':40}{rest / max(total, 1) * 100:6.1f} %")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--runs", default="pg1,pg2,sqlite1")
    parser.add_argument(
        "--profile", choices=("postgresql", "sqlite"), help="sample one daemon's pass (py-spy)"
    )
    parser.add_argument(
        "--options",
        default="ideal, bank_transfer",
        help="the step's payment options (bank_transfer: every email carries its EPC QR code)",
    )
    parser.add_argument(
        "--without-change-tracking",
        action="store_true",
        help="drop the plan change-tracking triggers first (what they cost per message)",
    )
    parser.add_argument("--profile-pass", choices=("postgresql", "sqlite"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pj-bench-") as tmp:
        workdir = Path(tmp)
        if args.profile_pass:
            profile_pass(args.profile_pass, args.steps, args.options, workdir)
            return
        if args.profile:
            profile(args.profile, min(args.steps, 3000), args.options, workdir)
            return
        runs = args.runs.split(",")
        if "kill" in runs:
            subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                 str(ROOT / "tests/daemon/test_many_daemons.py")],
                env={**os.environ, "PAYJOURNEY_FLEET_STEPS": str(args.steps)}, check=True,
            )  # fmt: skip
            runs.remove("kill")
        print(f"sink: {SINK}; {args.steps} due steps per run; payment options [{args.options}]")
        print("CPU ms per message: the daemons', the PostgreSQL backends serving them, the sink's")
        print(
            f"{'run':<24}{'msg/s':>8}{'sink msg/s':>12}{'ratio':>7}{'daemon ms':>11}"
            f"{'pg ms':>7}{'sink ms':>9}{'doubles':>9}{'load':>6}"
        )
        for run in runs:
            kind = "sqlite" if run.startswith("sqlite") else "postgresql"
            daemons = int(run[-1])
            limit = sink_rate(workdir, daemons)
            done = run_daemons(
                kind,
                daemons,
                args.steps,
                workdir,
                args.options,
                tracking=not args.without_change_tracking,
            )
            rate = args.steps / done.seconds
            per = 1000 / args.steps
            name = f"{daemons} daemon(s), {kind}"
            shown = "-" if done.doubles is None else str(done.doubles)
            print(
                f"{name:<24}{rate:>8,.0f}{limit:>12,.0f}{rate / limit:>7.2f}"
                f"{done.daemon_cpu * per:>11.3f}{done.database_cpu * per:>7.3f}"
                f"{done.sink_cpu * per:>9.3f}{shown:>9}{os.getloadavg()[0]:>6.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
