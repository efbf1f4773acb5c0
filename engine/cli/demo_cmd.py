"""`payjourney demo`: the main job end to end on an embedded SQLite file with a generated portfolio."""

from __future__ import annotations

import datetime as dt
import functools
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from engine.cli.context import cli_context, needs_zone, parse_now
from engine.cli.rules_cmds import rate_table_warnings
from engine.cli.summaries import ageing_table, counter_table, persona_table
from engine.decision import timing
from engine.decision.decide import decide
from engine.decision.model import Action, Decision, FactSheet
from engine.messages.render import template_checks
from engine.rules.compile import CompiledRules, compile_rules
from engine.rules.rulebook import validate_dir
from engine.rules.spec import RuleSpec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "facts"
ONE_LADDER = Path(__file__).resolve().parents[2] / "examples" / "rules-one-ladder"
DEMO_DB = Path("payjourney-demo.db")
#: The demo plans at this local time on the latest working day: its output never depends on the hour.
DEMO_HOUR = dt.time(10, 0)


def demo_moment(spec: RuleSpec, clock: dt.datetime) -> dt.datetime:
    """10:00 in the rules' time zone on the latest weekday (not a public holiday) up to today."""
    tz = timing.zone(spec.settings.timezone)
    country = spec.settings.default_locale[-2:]
    day = clock.astimezone(tz).date()
    while day.weekday() >= 5 or timing.is_holiday(day, country, spec.channels.holidays):
        day -= dt.timedelta(days=1)
    return timing.local_time(day, DEMO_HOUR, tz)


def register(app: typer.Typer) -> None:
    """Add `demo` to the app."""

    @app.command()
    def demo(
        ctx: typer.Context,
        debtors: Annotated[int, typer.Option("--debtors", min=10, help="Portfolio size.")] = 2000,
        seed: Annotated[int, typer.Option("--seed", help="Same seed, same portfolio.")] = 7,
        now: Annotated[
            str | None,
            typer.Option(
                "--now",
                help="Plan as of (ISO 8601; default: 10:00 on the latest working day).",
            ),
        ] = None,
        templates: Annotated[Path, typer.Option("--templates", help="Templates directory.")] = Path(
            "templates"
        ),
        database: Annotated[
            Path, typer.Option("--file", help="The demo's SQLite file (recreated).")
        ] = DEMO_DB,
        days: Annotated[
            int, typer.Option("--days", min=0, help="Days to simulate (0: no simulation).")
        ] = 60,
        sim_debtors: Annotated[
            int, typer.Option("--sim-debtors", min=10, help="Simulated portfolio size.")
        ] = 2000,
        compare: Annotated[
            Path, typer.Option("--compare", help="The rule set the rules are compared with.")
        ] = ONE_LADDER,
        out: Annotated[
            Path, typer.Option("--out", help="Folder for the simulation report and outbox.")
        ] = Path("demo-simulation"),
        jobs: Annotated[
            int, typer.Option("--jobs", min=1, help="Processes the simulation runs in.")
        ] = 2,
    ) -> None:
        """Validate the rules, explain example debtors, generate a NL/DE portfolio into a
        fresh SQLite file, plan every debtor's next step and preview a few messages; then
        simulate DAYS days of the daemon under the rules and under --compare, and compare."""
        console = Console(highlight=False)
        console.width = max(console.width, 120)  # tables stay readable when piped
        rules_dir = cli_context(ctx).rules_dir

        console.rule("1. Validate the rule files and templates")
        spec, problems = validate_dir(rules_dir, template_checks(templates))
        if spec is None:
            for problem in problems:
                console.print(str(problem), markup=False)
            raise typer.Exit(1)
        if now is None:
            moment = demo_moment(spec, dt.datetime.now(dt.UTC))
            why = "10:00 on the latest working day, so the output does not depend on the hour"
        else:
            moment = parse_now(now, spec.settings.timezone)
            why = f"--now, read in {spec.settings.timezone}" if needs_zone(now) else "--now"
        problems.extend(rate_table_warnings(spec, moment.date()))
        for problem in problems:
            console.print(str(problem), markup=False)
        warnings = sum(1 for p in problems if p.severity == "warning")
        console.print(
            f"{rules_dir}: {len(spec.personas)} personas, "
            f"{sum(1 for _ in spec.all_journeys())} journeys, ruleset {spec.version[:19]}…"
            + (f", {warnings} warning(s) above" if warnings else ""),
            markup=False,
        )
        console.print(f"as of {moment.strftime('%a %Y-%m-%d %H:%M %z')} ({why})", markup=False)
        rules = compile_rules(spec)

        console.print()
        console.rule("2. Explain example debtors (examples/facts)")
        console.print(_examples_table(rules, moment))

        console.print()
        console.rule(f"3. Generate {debtors:,} debtors into {database} and plan")
        _plan_portfolio(console, rules, database, debtors, seed, moment, templates)
        if days:
            console.print()
            console.rule(f"5. Simulate {days} days: {rules_dir} vs {_shown(compare)}")
            _simulate(
                console,
                rules,
                rules_dir,
                compare,
                days,
                sim_debtors,
                seed,
                moment,
                out,
                jobs,
                templates,
            )


def _examples_table(rules: CompiledRules, moment: dt.datetime) -> Table:
    table = Table()
    for column in ("debtor", "persona", "action", "step", "channel", "tone", "send at", "why"):
        table.add_column(column, overflow="fold")
    for path in sorted(EXAMPLES.glob("*.json")):
        sheet = FactSheet.from_nested(json.loads(path.read_text(encoding="utf-8")))
        d = decide(rules, sheet, moment)
        table.add_row(
            path.stem,
            d.persona or "-",
            d.action.value,
            f"{d.journey_step}/{d.journey_steps}" if d.journey_step else "-",
            d.channel or "-",
            f"{d.locale} {d.tone}" if d.tone else "-",
            d.send_at.strftime("%Y-%m-%d %H:%M %z") if d.send_at else "-",
            Text(d.reason),
        )
    return table


def _plan_portfolio(
    console: Console,
    rules: CompiledRules,
    database: Path,
    debtors: int,
    seed: int,
    moment: dt.datetime,
    templates: Path,
) -> None:
    from engine.store.db import make_engine
    from engine.store.generate import generate
    from engine.store.migrate import remove_sqlite_file, upgrade
    from engine.store.planner import plan

    remove_sqlite_file(database)
    engine = make_engine(f"sqlite:///{database}")
    try:
        upgrade(engine)
        bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=Console(stderr=True, soft_wrap=True),
        )
        with bar:
            task = bar.add_task("generating", total=debtors)
            portfolio = generate(
                engine,
                debtors=debtors,
                seed=seed,
                today=moment.date(),
                progress=lambda n: bar.advance(task, n),
            )
            task = bar.add_task("planning", total=debtors)
            summary = plan(
                engine,
                functools.partial(decide, rules),
                moment,
                progress=lambda n: bar.advance(task, n),
            )
        console.print(", ".join(f"{k}: {v:,}" for k, v in portfolio.rows.items()))
        console.print(
            persona_table(
                "Debtors with an open balance, per persona",
                dict(summary.personas),
                summary.open_by_persona,
            ),
            ageing_table(
                "Open balance by age", dict(summary.debtors_by_ageing), summary.open_by_ageing
            ),
            counter_table("Actions", "action", dict(summary.actions)),
            counter_table(
                "Next message per channel (due now or planned)", "channel", dict(summary.channels)
            ),
        )
        console.print(
            f"planned {summary.debtors:,} debtors: {summary.scheduled_new:,} step(s) scheduled"
        )

        console.print()
        console.rule("4. Preview the next message of a few stored debtors")
        shown = _previews(console, engine, rules, debtors, moment, templates)
        first = shown[0] if shown else "C-" + "1".zfill(max(6, len(str(debtors))))
        console.print(
            f"\nExplore it: payjourney --db sqlite:///{database} explain --customer {first}"
            f" --render --now {moment.isoformat()}",
            markup=False,
            soft_wrap=True,
        )
        console.print(
            f"            payjourney --db sqlite:///{database} schedule"
            f" --date {moment.date().isoformat()}",
            markup=False,
            soft_wrap=True,
        )
    finally:
        engine.dispose()


def _previews(
    console: Console,
    engine: Any,
    rules: CompiledRules,
    debtors: int,
    moment: dt.datetime,
    templates: Path,
) -> list[str]:
    """One Dutch and one German message: due now if any, else the next one planned."""
    from engine.store.facts_sql import fact_sheet_for

    width = max(6, len(str(debtors)))
    ids = [f"C-{i:0{width}d}" for i in range(1, debtors + 1)]
    candidates: dict[str, tuple[str, FactSheet, Decision]] = {}
    later: dict[str, tuple[str, FactSheet, Decision]] = {}
    for customer_id in ids:
        if len(candidates) >= 2:
            break
        sheet = fact_sheet_for(engine, customer_id, moment)
        d = decide(rules, sheet, moment)
        if d.channel not in ("email", "letter") or not d.template or d.locale is None:
            continue
        if d.action is Action.SEND:
            candidates.setdefault(d.locale, (customer_id, sheet, d))
        elif d.action is Action.WAIT:
            later.setdefault(d.locale, (customer_id, sheet, d))
    for locale, found in later.items():
        if len(candidates) < 2:
            candidates.setdefault(locale, found)
    if not candidates:
        console.print("no debtor has a message planned; every balance is paid or paused")
    for customer_id, sheet, d in candidates.values():
        _preview_panel(console, engine, rules, customer_id, sheet, d, moment, templates)
    return [customer_id for customer_id, _, _ in candidates.values()]


def _preview_panel(
    console: Console,
    engine: Any,
    rules: CompiledRules,
    customer_id: str,
    sheet: FactSheet,
    d: Decision,
    moment: dt.datetime,
    templates: Path,
) -> None:
    from engine.messages.render import render_preview
    from engine.store.message_data import message_data

    data = message_data(engine, customer_id, moment)
    rendered = render_preview(
        d,
        sheet,
        templates_dir=templates,
        settings=rules.spec.settings,
        today=moment.date(),
        invoices=data.invoices,
        address=data.address,
    )
    message = rendered.get("message") or {}
    options = ", ".join(o.get("method", "?") for o in rendered.get("payment_options", []))
    when = "now" if d.action is Action.SEND else f"at {d.send_at:%Y-%m-%d %H:%M %z}"
    # template text is shown as it is: never read as Rich markup ("[link ...]" stays visible)
    body = Group(
        Text(str(message.get("subject") or ""), style="bold"),
        Text(""),
        Text(str(message.get("text") or "")),
    )
    console.print(
        Panel(
            body,
            title=Text(
                f"{customer_id} · {d.persona} · step {d.journey_step} · {d.channel} · "
                f"{d.locale} {d.tone} · {when}"
            ),
            subtitle=Text(f"payment options: {options}"),
        )
    )


def _simulate(
    console: Console,
    rules: CompiledRules,
    rules_dir: Path,
    compare: Path,
    days: int,
    debtors: int,
    seed: int,
    moment: dt.datetime,
    out: Path,
    jobs: int,
    templates: Path,
) -> None:
    """Replay `days` days of the daemon on a generated portfolio under both rule sets, print the
    comparison and three next messages (NL u, NL jij, DE Sie) from the simulated store."""
    from engine.cli.simulate_cmds import messages_table, print_comparison, run_simulation
    from engine.simulation.compare import Comparison
    from engine.store.db import make_engine

    console.print(
        f"{debtors:,} generated debtors whose invoices fall due during the run; the daemon's"
        " own loop (nightly plan, hourly dispatch) on a simulated clock, the outbox delivering"
        " into the behaviour model (engine/simulation/behaviour.yaml)",
        markup=False,
    )
    comparison, page, table = run_simulation(
        console,
        rule_sets=[("persona journeys", rules_dir), ("one ladder", compare)],
        days=days,
        debtors=debtors,
        seed=seed,
        runs=1,
        first_day=moment.date(),
        out=out,
        templates=templates,
        outbox=True,
        jobs=jobs,
    )
    assert isinstance(comparison, Comparison)
    print_comparison(console, comparison)
    console.print(messages_table(comparison))
    result = comparison.results["persona journeys"][comparison.seeds[0]]
    end = comparison.portfolio.end.replace(hour=10)
    engine = make_engine(f"sqlite:///{result.database}")
    try:
        console.rule("Three next messages after the run (NL u, NL jij, DE Sie)", style="dim")
        _three_messages(console, engine, rules, debtors, end, templates)
    finally:
        engine.dispose()
    console.print(
        f"report: {page}\nfigures: {table}\noutbox of the persona journeys: {result.outbox}",
        markup=False,
    )


def _three_messages(
    console: Console,
    engine: Any,
    rules: CompiledRules,
    debtors: int,
    moment: dt.datetime,
    templates: Path,
) -> None:
    from engine.store.facts_sql import fact_sheets_for

    width = max(6, len(str(debtors)))
    ids = [f"C-{i:0{width}d}" for i in range(1, debtors + 1)]
    wanted = [("nl_NL", "u"), ("nl_NL", "jij"), ("de_DE", "Sie")]
    found: dict[tuple[str, str], tuple[str, FactSheet, Decision]] = {}
    for customer_id, sheet in fact_sheets_for(engine, ids, moment).items():
        d = decide(rules, sheet, moment)
        key = (str(d.locale), str(d.tone))
        if key in wanted and key not in found and d.template and d.channel in ("email", "letter"):
            found[key] = (customer_id, sheet, d)
    for key in (k for k in wanted if k in found):  # in the order the heading names them
        customer_id, sheet, d = found[key]
        _preview_panel(console, engine, rules, customer_id, sheet, d, moment, templates)


def _shown(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
