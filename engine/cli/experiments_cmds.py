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
                title=result.id
                + (f" — {result.label}" if result.label != result.id else "")
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
            table.add_column("unpaid after 7 / 14 / 30 days", justify="right")
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
                    " / ".join(_pct(a.curve.unpaid_at(d)) for d in (7, 14, 30))
                    if a.debtors
                    else "—",
                )
            console.print(table)
            for c in result.comparisons:
                diff = "—" if c.difference is None else f"{c.difference * 100:+.1f} pp"
                console.print(
                    f"  {c.variant} vs {c.control}: {diff}"
                    f" ({_interval(c.low, c.high, signed=True)})"
                )
            console.print(f"[bold]{result.headline}[/bold]")

    personas_app = typer.Typer(
        help="Personas from the data: suggestions, drift, cards.", no_args_is_help=True
    )
    app.add_typer(personas_app, name="personas")

    @personas_app.command("suggest")
    def personas_suggest(
        ctx: typer.Context,
        max_personas: Annotated[
            int, typer.Option("--max", min=2, max=12, help="At most this many personas.")
        ] = 6,
        as_json: JsonOption = False,
        now: NowOption = None,
    ) -> None:
        """Persona rules proposed from the stored behaviour facts, with their figures; the YAML
        (personas and journeys) passes `payjourney validate` as it is."""
        from engine.cli.rules_cmds import load_compiled
        from engine.personas.cards import classify_all
        from engine.personas.suggest import suggest

        context = cli_context(ctx)
        rules = load_compiled(context.rules_dir)
        moment = now_option(ctx, now)
        with open_store(context.db_url) as engine:
            sheets, _ = classify_all(engine, rules, moment)
        try:
            found = suggest(sheets, rules, max_personas=max_personas)
        except ValueError as exc:
            Console(stderr=True, soft_wrap=True).print(f"error: {exc}", markup=False)
            raise typer.Exit(1) from exc
        if as_json:
            payload = {
                "personas": [
                    {
                        "id": p.id,
                        "label": p.label,
                        "when": p.when,
                        "debtors": p.debtors,
                        "share": round(p.share, 4),
                        "typical_days_late": p.typical_days_late,
                        "best_channel": p.best_channel,
                        "now_in": dict(p.now_in),
                        "journeys_from": p.journey_from,
                    }
                    for p in found.personas
                ],
                "agreement_with_current": round(found.agreement_with_current, 4),
                "yaml": found.yaml,
            }
            typer.echo(json.dumps(payload, indent=2))
            return
        console = Console(highlight=False, stderr=True)
        table = Table(title=f"Suggested personas for {len(sheets)} debtors")
        for column in ("persona", "debtors", "typical lateness", "pays after", "now in"):
            table.add_column(column)
        for p in found.personas:
            now_in = ", ".join(f"{pid} {n}" for pid, n in p.now_in[:3])
            late = "—" if p.typical_days_late is None else f"{p.typical_days_late:+g} days"
            table.add_row(p.id, f"{p.debtors} ({p.share:.0%})", late, p.best_channel or "—", now_in)
        console.print(table)
        console.print(
            "agreement with the current personas (adjusted Rand index, 1 = the same split):"
            f" {found.agreement_with_current:.2f}"
        )
        typer.echo(found.yaml, nl=False)  # stdout: the YAML alone, to redirect into a file

    @personas_app.command("drift")
    def personas_drift(
        ctx: typer.Context, as_json: JsonOption = False, now: NowOption = None
    ) -> None:
        """How many debtors changed persona since the last plan, and between which personas."""
        from engine.cli.rules_cmds import load_compiled
        from engine.personas.cards import drift

        context = cli_context(ctx)
        rules = load_compiled(context.rules_dir)
        moment = now_option(ctx, now)
        with open_store(context.db_url) as engine:
            found = drift(engine, rules, moment)
        if as_json:
            typer.echo(json.dumps(found.to_json(), indent=2))
            return
        console = Console(highlight=False)
        if not found.compared:
            console.print("no plan yet: run `payjourney plan` first, then drift shows what moved")
            return
        when = f" ({found.last_plan:%Y-%m-%d %H:%M} UTC)" if found.last_plan else ""
        console.print(
            f"{found.changed} of {found.compared} debtors changed persona since the last plan{when}"
        )
        if found.moves:
            table = Table()
            for column in ("from", "to", "debtors"):
                table.add_column(column)
            for (a, b), n in sorted(found.moves.items(), key=lambda kv: -kv[1]):
                table.add_row(a, b, str(n))
            console.print(table)

    @personas_app.command("show")
    def personas_show(
        ctx: typer.Context,
        persona_id: Annotated[
            str | None, typer.Argument(metavar="[ID]", help="One persona; default: all.")
        ] = None,
        as_json: JsonOption = False,
        now: NowOption = None,
    ) -> None:
        """A card per persona, drawn from the data: debtors and euros, who pays, how they pay,
        what the journey does, and what changed since the last plan."""
        from engine.cli.rules_cmds import load_compiled
        from engine.personas.cards import card_lines, cards

        context = cli_context(ctx)
        rules = load_compiled(context.rules_dir)
        known = [p.id for p in rules.spec.personas]
        if persona_id is not None and persona_id not in known:
            Console(stderr=True, soft_wrap=True).print(
                f"error: unknown persona '{persona_id}'; the rules have: {', '.join(known)}",
                markup=False,
            )
            raise typer.Exit(1)
        moment = now_option(ctx, now)
        with open_store(context.db_url) as engine:
            found = [c for c in cards(engine, rules, moment) if persona_id in (None, c.id)]
        if as_json:
            typer.echo(json.dumps([c.to_json() for c in found], indent=2))
            return
        console = Console(highlight=False)
        for c in found:
            table = Table(title=f"{c.label}  [{c.id}]", caption=c.description or None)
            table.add_column("what", style="bold")
            table.add_column("value")
            for what, value in card_lines(c):
                table.add_row(what, value)
            console.print(table)
