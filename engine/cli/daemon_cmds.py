"""CLI commands of the daemon: run, status, messages, reconcile."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from engine.cli.context import cli_context
from engine.cli.store_cmds import _store
from engine.errors import PayjourneyError

RECONCILED = ("sent", "not_sent")


def _channels(outbox: Path | None, factory: str | None) -> Mapping[str, Any]:
    from engine.daemon.settings import DaemonConfigError

    if outbox is not None and factory is not None:
        raise DaemonConfigError("give --outbox or --channel-factory, not both")
    if outbox is not None:
        from channels.outbox import outbox_channels

        return outbox_channels(outbox)
    if factory is None:  # the real channels, configured by environment (docs/channels.md)
        from channels.registry import build_channels

        return build_channels()
    module_name, _, function = factory.partition(":")
    if not module_name or not function:
        raise DaemonConfigError(
            f"--channel-factory {factory!r}: write module:function, e.g. mycompany.channels:build"
        )
    try:
        build = getattr(importlib.import_module(module_name), function)
    except (ImportError, AttributeError) as exc:
        raise DaemonConfigError(f"--channel-factory {factory!r}: {exc}") from exc
    channels = build()
    if not isinstance(channels, Mapping):
        raise DaemonConfigError(
            f"--channel-factory {factory!r} must return a mapping name -> channel"
        )
    return channels


def _rates(values: list[str]) -> dict[str, float]:
    from engine.daemon.settings import DaemonConfigError

    rates: dict[str, float] = {}
    for value in values:
        name, _, rate = value.partition("=")
        try:
            rates[name.strip()] = float(rate)
        except ValueError as exc:
            raise DaemonConfigError(
                f"--rate {value!r}: write channel=messages-per-second, e.g. --rate email=50"
            ) from exc
    return rates


def _configure_logging() -> None:
    import logging

    import structlog

    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=False)
        if sys.stderr.isatty()
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    # APScheduler says "skipped: maximum number of running instances" whenever a dispatch pass
    # outlasts its interval: that is the design (one pass at a time), not news
    logging.getLogger("apscheduler").setLevel(logging.ERROR)


def register(app: typer.Typer) -> None:
    """Add `run`, `status`, `messages` and `reconcile` to the app."""

    @app.command()
    def run(
        ctx: typer.Context,
        once: Annotated[
            bool, typer.Option("--once", help="One round (events, dispatch), then exit.")
        ] = False,
        outbox: Annotated[
            Path | None,
            typer.Option(
                "--outbox",
                help="Dry run: write every message into this directory (.eml, .json), send nothing.",
            ),
        ] = None,
        channel_factory: Annotated[
            str | None,
            typer.Option(
                "--channel-factory",
                envvar="PAYJOURNEY_CHANNEL_FACTORY",
                help="module:function returning the channel adapters by name (default: the channels PAYJOURNEY_CHANNELS configures, see docs/channels.md).",
            ),
        ] = None,
        lease: Annotated[float, typer.Option("--lease", help="Claim lease, seconds.")] = 60.0,
        batch: Annotated[int, typer.Option("--batch", help="Steps claimed at a time.")] = 200,
        every: Annotated[float, typer.Option("--every", help="Dispatch every N seconds.")] = 2.0,
        rate: Annotated[
            list[str] | None,
            typer.Option("--rate", help="channel=messages/second, e.g. --rate sms=5 (repeat)."),
        ] = None,
        max_attempts: Annotated[
            int, typer.Option("--max-attempts", help="Sends tried per step before `failed`.")
        ] = 5,
        metrics_port: Annotated[
            int | None, typer.Option("--metrics-port", help="Serve Prometheus metrics here.")
        ] = None,
        plan_cron: Annotated[
            str, typer.Option("--plan-cron", help="When the plan runs (crontab).")
        ] = "0 2 * * *",
        timezone: Annotated[
            str, typer.Option("--timezone", help="Time zone of --plan-cron.")
        ] = "Europe/Amsterdam",
        templates: Annotated[
            Path, typer.Option("--templates", envvar="PAYJOURNEY_TEMPLATES")
        ] = Path("templates"),
        daemon_id: Annotated[
            str | None, typer.Option("--daemon-id", help="Name in claims and heartbeats.")
        ] = None,
        statements: Annotated[
            Path | None,
            typer.Option(
                "--statements",
                envvar="PAYJOURNEY_STATEMENTS_DIR",
                help="Import each CAMT.053/MT940 file dropped in this folder (docs/payments.md).",
            ),
        ] = None,
        statements_every: Annotated[
            float, typer.Option("--statements-every", help="Look for statements every N seconds.")
        ] = 30.0,
        public_url: Annotated[
            str | None,
            typer.Option(
                "--public-url",
                envvar="PAYJOURNEY_PUBLIC_URL",
                help="Where `payjourney serve` is reached by debtors (https://...): every message then carries a personal link to the debtor's page (docs/self-service.md).",
            ),
        ] = None,
    ) -> None:
        """The scheduler daemon: sends due steps through the channels, each exactly once.

        SIGTERM/SIGINT stop it cleanly; SIGHUP reloads the rules (so does editing them).
        """
        from engine.cli.context import sending_templates
        from engine.daemon.scheduler import Daemon
        from engine.daemon.settings import DaemonSettings, daemon_name
        from engine.messages.payments.configured import provider_from_env
        from engine.messages.render import template_checks
        from engine.rules.rulebook import RuleBook

        _configure_logging()
        from engine.store.heap import keep_freed_heap

        keep_freed_heap()  # SQLite's per-query scratch memory reused, not refaulted (heap.py)
        err = Console(stderr=True, soft_wrap=True, highlight=False)
        context = cli_context(ctx)
        try:
            settings = DaemonSettings(
                daemon_id=daemon_id or daemon_name(),
                lease=dt.timedelta(seconds=lease),
                batch=batch,
                dispatch_every=dt.timedelta(seconds=every),
                rate_limits=_rates(rate or []),
                max_attempts=max_attempts,
                plan_cron=plan_cron,
                timezone=timezone,
                statements_dir=statements,
                statements_every=dt.timedelta(seconds=statements_every),
                public_url=public_url,
            )
            channels = _channels(outbox, channel_factory)
            rulebook = RuleBook(context.rules_dir, template_checks(sending_templates(templates)))
            payments = provider_from_env()
        except PayjourneyError as exc:
            err.print(f"error: {exc}", markup=False, soft_wrap=True)
            raise typer.Exit(2) from exc
        with _store(ctx) as engine:
            daemon = Daemon(
                engine=engine,
                rulebook=rulebook,
                channels=channels,
                settings=settings,
                payments=payments,
                templates_dir=templates,
            )
            report = daemon.run_once() if once else daemon.run_forever(metrics_port=metrics_port)
        summary = ", ".join(f"{k}: {v}" for k, v in sorted(report.outcomes.items()))
        typer.echo(f"claimed {report.claimed}" + (f" ({summary})" if summary else ""))

    @app.command()
    def status(
        ctx: typer.Context,
        statements: Annotated[
            Path | None,
            typer.Option(
                "--statements",
                envvar="PAYJOURNEY_STATEMENTS_DIR",
                help="The daemon's statement folder: also count files waiting and refused",
            ),
        ] = None,
    ) -> None:
        """Operators' view: due, claimed, sent in the last hour/day, failed, unknown, lag, daemons;
        with --statements, the statement files waiting and refused (in failed/)."""
        from engine.daemon.status import read_status

        with _store(ctx) as engine:
            now = dt.datetime.now(dt.UTC)
            found = read_status(engine, now, statements)
        table = Table(title="payjourney", title_justify="left")
        table.add_column("what")
        table.add_column("count", justify="right")
        for name, value in found.rows():
            table.add_row(name, value)
        Console().print(table)
        daemons = Table(title="Daemons", title_justify="left")
        for column in ("daemon", "alive", "last beat", "rules"):
            daemons.add_column(column)
        for d in found.daemons:
            daemons.add_row(
                d.id,
                "yes" if d.alive else "no",
                d.beat_at.isoformat(timespec="seconds"),
                d.ruleset_version or "",
            )
        Console().print(daemons)

    @app.command()
    def messages(
        ctx: typer.Context,
        status: Annotated[
            str | None, typer.Option("--status", help="sending, sent, failed, unknown, ...")
        ] = None,
        customer: Annotated[str | None, typer.Option("--customer", help="One customer.")] = None,
        limit: Annotated[int, typer.Option("--limit")] = 100,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """The outbox and audit trail: what was sent, to whom, when, under which rules."""
        from engine.daemon.reconcile import list_messages

        with _store(ctx) as engine:
            rows = list_messages(engine, status=status, customer_id=customer, limit=limit)
        if as_json:
            typer.echo(json.dumps(rows, indent=2, ensure_ascii=False, default=str))
            return
        table = Table(title="Messages", title_justify="left")
        for column in ("id", "customer", "step", "channel", "status", "sent at", "error"):
            table.add_column(column)
        for r in rows:
            table.add_row(
                r["id"],
                r["customer_id"],
                str(r["step"]),
                r["channel"],
                r["status"],
                str(r["sent_at"] or ""),
                r["last_error"] or "",
            )
        Console().print(table)

    @app.command()
    def reconcile(
        ctx: typer.Context,
        message_id: Annotated[str, typer.Argument(help="The message whose send is unknown.")],
        sent: Annotated[bool, typer.Option("--sent", help="It did reach the provider.")] = False,
        not_sent: Annotated[
            bool, typer.Option("--not-sent", help="It did not: schedule it again.")
        ] = False,
    ) -> None:
        """Settle a message whose send is `unknown` (after checking with the provider)."""
        from engine.daemon.reconcile import reconcile as run

        if sent == not_sent:
            Console(stderr=True, soft_wrap=True).print("error: say --sent or --not-sent")
            raise typer.Exit(2)
        with _store(ctx) as engine:
            result = run(engine, message_id, sent=sent, now=dt.datetime.now(dt.UTC))
        typer.echo(result)
