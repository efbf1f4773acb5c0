"""CLI commands around the store: db upgrade, import, generate, plan, forget, facts."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy import Engine, func, select

from engine.cli.context import cli_context, now_option
from engine.cli.store_access import open_store
from engine.cli.summaries import ageing_table, counter_table, persona_table
from engine.decision.model import to_json_value

NowOption = Annotated[
    str | None,
    typer.Option(
        "--now",
        help="Decide as if it were this time (ISO 8601; without an offset: in the rules' time"
        " zone; a bare date: the start of that day; default: the clock).",
    ),
]


@contextmanager
def _store(ctx: typer.Context, *, ready: bool = True) -> Iterator[Engine]:
    """The engine for --db, schema ready (see `open_store`)."""
    with open_store(cli_context(ctx).db_url, ready=ready) as engine:
        yield engine


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def register(app: typer.Typer) -> None:
    """Add the store commands to the app."""
    db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
    app.add_typer(db_app, name="db")

    @db_app.command("upgrade")
    def db_upgrade(ctx: typer.Context) -> None:
        """Create or migrate the database schema (SQLite file or PostgreSQL) to this version."""
        from engine.store.migrate import upgrade

        with _store(ctx, ready=False) as engine:
            revision = upgrade(engine)
        typer.echo(f"database at revision {revision}")

    @app.command("import")
    def import_(
        ctx: typer.Context,
        path: Annotated[
            Path, typer.Argument(help="A .csv/.json/.xlsx file, or a directory of them.")
        ],
    ) -> None:
        """Load customers, contacts, invoices, payments, promises, disputes, messages and events.

        Files (and workbook sheets) are named after what they hold (customers.csv, invoices.json,
        a sheet `invoices` in book.xlsx). CSV may use ; , or tab; amounts may have a decimal
        comma, dates may be day-first. Rows are upserted by id; any bad row is reported with
        file and row number and nothing is loaded.
        """
        from engine.store.importer import import_path

        with _store(ctx) as engine:
            report = import_path(engine, path)
        for kind, count in report.rows.items():
            typer.echo(f"{kind}: {count} row(s)")

    @app.command()
    def generate(
        ctx: typer.Context,
        debtors: Annotated[int, typer.Option("--debtors", min=1, help="How many debtors.")] = 1000,
        seed: Annotated[int, typer.Option("--seed", help="Same seed, same portfolio.")] = 1,
        today: Annotated[
            str | None, typer.Option("--today", help="Last day of the history (YYYY-MM-DD).")
        ] = None,
        invoices: Annotated[
            float, typer.Option("--invoices-per-debtor", min=0.5, help="Average invoices.")
        ] = 3.0,
    ) -> None:
        """Write a realistic NL/DE portfolio: B2B and consumers, 18 months of invoices, payments,
        reminders, promises and disputes, drawn per hidden behaviour type."""
        from engine.store.generate import generate as run

        try:
            day = dt.date.fromisoformat(today) if today else dt.date.today()
        except ValueError:
            raise typer.BadParameter(
                f"{today!r} is not a date; give YYYY-MM-DD, e.g. 2026-11-23",
                param_hint="--today",
            ) from None
        console = Console(stderr=True, soft_wrap=True)
        with _store(ctx) as engine, _progress(console) as progress:
            task = progress.add_task("generating", total=debtors)
            result = run(
                engine,
                debtors=debtors,
                seed=seed,
                today=day,
                invoices_per_debtor=invoices,
                progress=lambda n: progress.advance(task, n),
            )
        typer.echo(", ".join(f"{name}: {count}" for name, count in result.rows.items()))

    @app.command()
    def plan(
        ctx: typer.Context,
        now: NowOption = None,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Decide and summarise, write nothing.")
        ] = False,
        batch: Annotated[int, typer.Option("--batch", min=1, help="Debtors per batch.")] = 2000,
        full: Annotated[
            bool,
            typer.Option(
                "--full",
                help="Decide every debtor, also those unchanged since the last plan this hour.",
            ),
        ] = False,
    ) -> None:
        """Derive facts, decide each debtor's next step and persist the schedule (debtors whose
        facts, rules and hour are those of the last plan keep their decision; --full decides
        all)."""
        from engine.cli.rules_cmds import load_compiled
        from engine.decision.decide import decide
        from engine.store import tables as t
        from engine.store.planner import default_workers
        from engine.store.planner import plan as run

        moment = now_option(ctx, now)
        rules = load_compiled(cli_context(ctx).rules_dir)
        console = Console()
        with _store(ctx) as engine:
            customers = t.Customer.__table__  # type: ignore[attr-defined]
            with engine.connect() as conn:
                total = conn.execute(
                    select(func.count()).where(customers.c.forgotten_at.is_(None))
                ).scalar_one()
            # counted before the progress bar starts its thread: the workers only plan chunks
            workers = default_workers(engine)
            with _progress(Console(stderr=True, soft_wrap=True)) as progress:
                task = progress.add_task("planning", total=total)
                advance: Callable[[int], None] = lambda n: progress.advance(task, n)  # noqa: E731
                summary = run(
                    engine,
                    functools.partial(decide, rules),
                    moment,
                    dry_run=dry_run,
                    batch=batch,
                    progress=advance,
                    incremental=not full,
                    workers=workers,
                )
        console.print(
            persona_table(
                "Debtors per persona, with their open balance",
                dict(summary.personas),
                summary.open_by_persona,
            )
        )
        console.print(
            ageing_table(
                "Open balance by age", dict(summary.debtors_by_ageing), summary.open_by_ageing
            )
        )
        console.print(
            counter_table(
                "Sends per channel (next message, due now or planned)",
                "channel",
                dict(summary.channels),
            )
        )
        steps = Table(title="Debtors per journey step", title_justify="left")
        for column in ("persona", "step", "template"):
            steps.add_column(column)
        steps.add_column("debtors", justify="right")
        for (persona, step, template), count in sorted(summary.steps.items()):
            steps.add_row(persona, str(step), template, str(count))
        console.print(steps)
        console.print(counter_table("Actions", "action", dict(summary.actions)))
        rate = summary.debtors / summary.seconds if summary.seconds else 0.0
        if dry_run:
            console.print(f"dry run: {summary.debtors} debtors decided, nothing written")
        else:
            console.print(
                f"{summary.debtors} debtors in {summary.seconds:.1f}s ({rate:,.0f}/s):"
                f" {summary.scheduled_new} step(s) newly scheduled,"
                f" {summary.scheduled_kept} already scheduled, {summary.cancelled} cancelled"
            )
            if summary.unchanged:
                console.print(
                    f"{summary.unchanged} debtor(s) unchanged since the last plan: their decision"
                    " stands, not counted in the tables above (--full decides them again)"
                )
        for customer_id, error in summary.failures[:20]:
            console.print(f"[red]failed[/red] {customer_id}: {error}", highlight=False)
        if summary.failures:
            console.print(f"{len(summary.failures)} debtor(s) could not be decided")
            raise typer.Exit(1)

    @app.command()
    def forget(
        ctx: typer.Context,
        customer_id: Annotated[str, typer.Argument(help="The customer to erase.")],
        yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    ) -> None:
        """Erase a customer's personal data (GDPR art. 17); keep pseudonymised financial and
        audit records."""
        from engine.store.forget import forget as run

        if not yes:
            typer.confirm(
                f"Erase the personal data of {customer_id}? This cannot be undone", abort=True
            )
        with _store(ctx) as engine:
            report = run(engine, customer_id)
        kept = ", ".join(f"{name}: {count}" for name, count in report.records_kept.items() if count)
        typer.echo(
            f"forgot {customer_id}: {report.contacts_deleted} contact(s) deleted;"
            f" kept under {report.pseudonym}: {kept or 'nothing'}"
        )

    @app.command()
    def facts(
        ctx: typer.Context,
        customer_id: Annotated[str, typer.Argument(help="The stored customer's id.")],
        as_json: Annotated[
            bool, typer.Option("--json", help="The nested JSON that `explain` reads.")
        ] = False,
        now: NowOption = None,
    ) -> None:
        """Print the stored customer's derived fact sheet."""
        from engine.store.facts_sql import fact_sheet_for

        moment = now_option(ctx, now)
        with _store(ctx) as engine:
            sheet = fact_sheet_for(engine, customer_id, moment)
        if as_json:
            typer.echo(json.dumps(sheet.to_nested(), indent=2, ensure_ascii=False))
            return
        table = Table(title=f"Facts of {customer_id}", title_justify="left")
        table.add_column("fact")
        table.add_column("value")
        for name in sheet:
            value = to_json_value(sheet[name])
            table.add_row(name, "—" if value is None else json.dumps(value, ensure_ascii=False))
        Console().print(table)
