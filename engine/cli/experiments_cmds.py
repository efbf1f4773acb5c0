"""`payjourney experiments [ID]` and `payjourney personas suggest|drift|show`: reading the data back."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from engine.cli.context import cli_context, now_option
from engine.cli.store_access import open_store

NowOption = Annotated[
    str | None,
    typer.Option("--now", help="Read as if it were this time (ISO 8601; default: the clock)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _interval(low: float | None, high: float | None, *, signed: bool = False) -> str:
    if low is None or high is None:
        return "—"
    if signed:
        return f"{low * 100:+.1f} to {high * 100:+.1f} pp"
    return f"{low * 100:.1f}–{high * 100:.1f}%"


def register(app: typer.Typer) -> None:
    """Add `experiments` and the `personas` group to the app."""

    @app.command()
    def experiments(
        ctx: typer.Context,
        experiment_id: Annotated[
            str | None, typer.Argument(metavar="[ID]", help="One experiment; default: all.")
        ] = None,
        window: Annotated[
            int | None,
            typer.Option("--window", help="Days after the first message (default: the rule's)."),
        ] = None,
        as_json: JsonOption = False,
        now: NowOption = None,
    ) -> None:
        """Each variant's debtors, share paid within the window (95% Wilson interval), time to
        pay (Kaplan-Meier), the difference with the control and the sample still needed."""
        from engine.experiments.readout import experiment_ids, read_experiment
        from engine.rules.rulebook import validate_dir

        context = cli_context(ctx)
        spec, _ = validate_dir(context.rules_dir)
        defined = spec.experiments if spec is not None else ()
        moment = now_option(ctx, now)
        with open_store(context.db_url) as engine:
            ids = [experiment_id] if experiment_id else experiment_ids(engine, defined)
            results = [read_experiment(engine, i, moment, defined, window_days=window) for i in ids]
        if as_json:
            typer.echo(json.dumps([r.to_json() for r in results], indent=2))
            return
        console = Console(highlight=False)
        if not results:
            console.print(
                "no experiments: add an `experiments:` section to the rules"
                " (see docs/experiments.md)"
            )
        for result in results:
            table = Table(
                title=f"{result.id} — {result.label}"
                + ("" if result.in_rules else " (no longer in the rules)"),
                caption=(
                    f"share paid within {result.window_days} days of the first message; 95%"
                    f" intervals; fixed horizon {result.sample_size} debtors per variant"
                ),
            )
            for column in ("variant", "debtors", "window closed", "paid", "share paid"):
                table.add_column(column, justify="right" if column != "variant" else "left")
            table.add_column("95% interval")
            table.add_column("median days to pay", justify="right")
            for a in result.arms:
                mark = " (control)" if a.variant == result.control else ""
                table.add_row(
                    a.variant + mark,
                    str(a.debtors),
                    str(a.closed),
                    str(a.paid),
                    _pct(a.share),
                    _interval(a.low, a.high),
                    "—" if a.median_days is None else f"{a.median_days:.1f}",
                )
            console.print(table)
            for c in result.comparisons:
                diff = "—" if c.difference is None else f"{c.difference * 100:+.1f} pp"
                console.print(
                    f"  {c.variant} vs {c.control}: {diff}"
                    f" ({_interval(c.low, c.high, signed=True)})"
                )
            console.print(f"[bold]{result.headline}[/bold]")
