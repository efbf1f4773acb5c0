"""`payjourney simulate`: a rule change's impact on a generated portfolio, before any debtor gets it."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from engine.cli.context import cli_context
from engine.errors import PayjourneyError

DEFAULT_OUT = Path("simulation")


def run_simulation(
    console: Console,
    *,
    rule_sets: Sequence[tuple[str, Path]],
    days: int,
    debtors: int,
    seed: int,
    runs: int,
    first_day: dt.date,
    out: Path,
    templates: Path,
    model_file: Path | None = None,
    fit_db: str | None = None,
    fit_window: int = 14,
    outbox: bool = False,
    jobs: int = 1,
) -> tuple[object, Path, Path]:
    """Validate the rule sets, generate the portfolio, replay it under each rule set and write
    the report. Returns (the comparison, report.html, figures.csv)."""
    from engine.cli.context import sending_templates
    from engine.messages.render import template_checks
    from engine.rules.rulebook import validate_dir
    from engine.simulation.behaviour import DEFAULT_MODEL, load_params
    from engine.simulation.compare import Labelled, compare
    from engine.simulation.fit import fit_rates, response_table
    from engine.simulation.report import DEFAULT_SECTIONS, model_section_for, write_report
    from engine.simulation.report_personas import personas_section
    from engine.simulation.simulate import personas_at_start, prepare_portfolio

    try:
        sending_templates(templates)
    except PayjourneyError as exc:
        console.print(f"error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from exc
    params = load_params(model_file or DEFAULT_MODEL)
    responses = None
    fitted = []
    model = f"{params.path} (every magnitude with its source, below)"
    if fit_db is not None:
        from engine.cli.store_access import open_store

        with open_store(fit_db) as engine:
            fitted = fit_rates(engine, window_days=fit_window)
        if not fitted:
            console.print(
                f"error: --fit found no sent messages in {fit_db}; import your history"
                " (payjourney import) or leave --fit out to use the assumed model",
                markup=False,
                soft_wrap=True,
            )
            raise typer.Exit(1)
        responses = response_table(fitted)
        model = (
            f"response rates fitted from {fit_db} (paid within {fit_window} days after a"
            f" message, per persona x channel x step; cells under 20 messages back off to the"
            f" channel's rate); unreminded payments from {params.path}"
        )
    for label, rules_dir in rule_sets:
        spec, problems = validate_dir(rules_dir, template_checks(templates))
        if spec is None:
            for problem in problems:
                console.print(str(problem), markup=False)
            console.print(
                f"error: the rule set {label} ({rules_dir}) is not valid",
                markup=False,
                soft_wrap=True,
            )
            raise typer.Exit(1)
    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    portfolio = prepare_portfolio(
        out / "portfolio.db", debtors=debtors, seed=seed, first_day=first_day, days=days
    )
    groups = personas_at_start(portfolio, rule_sets[0][1])
    labelled = [Labelled(label=label, rules_dir=path) for label, path in rule_sets]
    seeds = [seed + n for n in range(runs)]
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True, soft_wrap=True),
    )
    with bar:
        task = bar.add_task(
            f"{days} days x {len(labelled)} rule set(s) x {runs} run(s)",
            total=len(seeds) * len(labelled),
        )
        comparison = compare(
            portfolio,
            labelled,
            params=params,
            seeds=seeds,
            groups=groups,
            workdir=out,
            templates_dir=templates,
            responses=responses,
            outbox=outbox,
            jobs=jobs,
            model=model,
            done=lambda *_: bar.advance(task),
        )
    sections = [*DEFAULT_SECTIONS, model_section_for(params, fitted), personas_section]
    page, table = write_report(comparison, out, sections=sections)
    console.print(
        f"simulated {debtors:,} debtors x {days} days x {len(labelled)} rule set(s) x {runs}"
        f" run(s) in {time.perf_counter() - began:.0f} s",
        markup=False,
    )
    return comparison, page, table


def print_comparison(console: Console, comparison: object) -> None:
    """The headline and the per-persona table on the terminal."""
    from engine.simulation.compare import Comparison
    from engine.simulation.metrics import ALL
    from engine.simulation.report import LABELS, fmt_estimate, headline

    assert isinstance(comparison, Comparison)
    console.print(headline(comparison), style="bold", markup=False)
    labels = [r.label for r in comparison.rule_sets]
    shown = (
        "dso",
        "paid_within",
        "days_to_pay",
        "messages_per_debtor",
        "messages_per_1000_eur",
        "handoffs",
    )
    for group in comparison.group_names():
        table = Table(title=group if group != ALL else "all debtors", title_justify="left")
        table.add_column("figure")
        for label in labels:
            table.add_column(label, justify="right")
        if len(labels) > 1:
            table.add_column(f"{labels[1]} − {labels[0]}", justify="right")
        for figure in shown:
            row = [LABELS[figure][0]]
            row += [fmt_estimate(figure, comparison.summary(x, group, figure)) for x in labels]
            if len(labels) > 1:
                row.append(fmt_estimate(figure, comparison.difference(group, figure), signed=True))
            table.add_row(*row)
        console.print(table)


def messages_table(comparison: object) -> Table:
    """Messages sent by persona, channel and step, per rule set (first run)."""
    from engine.simulation.compare import Comparison

    assert isinstance(comparison, Comparison)
    table = Table(title="Messages by persona, channel and step (first run)", title_justify="left")
    for column in ("rule set", "persona", "channel", "step", "sent"):
        table.add_column(column, justify="right" if column == "sent" else "left")
    for rules in comparison.rule_sets:
        by = comparison.runs[rules.label][comparison.seeds[0]].messages_by
        for (journey, channel, step), count in sorted(by.items()):
            table.add_row(rules.label, journey, channel, str(step), f"{count:,}")
    return table


def register(app: typer.Typer) -> None:
    """Add `simulate` to the app."""

    @app.command()
    def simulate(
        ctx: typer.Context,
        days: Annotated[int, typer.Option("--days", min=1, max=366, help="Days to replay.")] = 60,
        compare: Annotated[
            Path | None,
            typer.Option("--compare", help="A second rule set to compare with the --rules one."),
        ] = None,
        seed: Annotated[int, typer.Option("--seed", help="Same seed, same result.")] = 7,
        runs: Annotated[
            int, typer.Option("--runs", min=1, max=50, help="Seeded runs per rule set.")
        ] = 1,
        debtors: Annotated[
            int, typer.Option("--debtors", min=10, help="Generated portfolio size.")
        ] = 300,
        fit: Annotated[
            bool,
            typer.Option(
                "--fit",
                help="Fit the response rates from the --db store's messages and payments.",
            ),
        ] = False,
        fit_window: Annotated[
            int, typer.Option("--fit-window", min=1, help="Days after a message that count.")
        ] = 14,
        model: Annotated[
            Path | None, typer.Option("--model", help="A behaviour model YAML file.")
        ] = None,
        start: Annotated[
            str | None, typer.Option("--start", help="First simulated day (default: today).")
        ] = None,
        out: Annotated[
            Path, typer.Option("--out", help="Folder for the report, CSV and run databases.")
        ] = DEFAULT_OUT,
        outbox: Annotated[
            bool, typer.Option("--outbox", help="Also write every message into the outbox.")
        ] = False,
        jobs: Annotated[int, typer.Option("--jobs", min=1, help="Processes to run in.")] = 1,
        templates: Annotated[Path, typer.Option("--templates", help="Templates directory.")] = Path(
            "templates"
        ),
    ) -> None:
        """Replay DAYS days of the daemon's loop on a generated NL/DE portfolio under the rules
        (and the --compare rules), and write an HTML report and a CSV of the figures."""
        console = Console(highlight=False)
        console.width = max(console.width, 120)
        context = cli_context(ctx)
        rule_sets = [(context.rules_dir.name or str(context.rules_dir), context.rules_dir)]
        if compare is not None:
            name = compare.name or str(compare)
            if name == rule_sets[0][0]:
                name += " (B)"
            rule_sets.append((name, compare))
        try:
            first_day = dt.date.fromisoformat(start) if start else dt.date.today()
        except ValueError as exc:
            raise typer.BadParameter(f"--start: {exc}; use YYYY-MM-DD") from None
        comparison, page, table = run_simulation(
            console,
            rule_sets=rule_sets,
            days=days,
            debtors=debtors,
            seed=seed,
            runs=runs,
            first_day=first_day,
            out=out,
            templates=templates,
            model_file=model,
            fit_db=context.db_url if fit else None,
            fit_window=fit_window,
            outbox=outbox,
            jobs=jobs,
        )
        print_comparison(console, comparison)
        console.print(f"report: {page}\nfigures: {table}", markup=False)
