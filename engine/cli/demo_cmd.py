"""`payjourney demo`: the main job end to end on an embedded SQLite file with a generated portfolio."""

from __future__ import annotations

import datetime as dt
import functools
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from engine.cli.context import cli_context
from engine.cli.rules_cmds import parse_now
from engine.decision.decide import decide
from engine.decision.model import Action, FactSheet
from engine.messages.render import template_checks
from engine.rules.compile import compile_rules
from engine.rules.rulebook import validate_dir

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "facts"
DEMO_DB = Path("payjourney-demo.db")


def register(app: typer.Typer) -> None:
    """Add `demo` to the app."""

    @app.command()
    def demo(
        ctx: typer.Context,
        debtors: Annotated[int, typer.Option("--debtors", min=10, help="Portfolio size.")] = 2000,
        seed: Annotated[int, typer.Option("--seed", help="Same seed, same portfolio.")] = 7,
        now: Annotated[str | None, typer.Option("--now", help="Plan as of (ISO 8601).")] = None,
        templates: Annotated[Path, typer.Option("--templates", help="Templates directory.")] = Path(
            "templates"
        ),
        database: Annotated[
            Path, typer.Option("--file", help="The demo's SQLite file (recreated).")
        ] = DEMO_DB,
    ) -> None:
        """Validate the rules, explain example debtors, then generate a NL/DE portfolio into a
        fresh SQLite file, plan every debtor's next step and preview a few messages."""
        console = Console(highlight=False)
        console.width = max(console.width, 120)  # tables stay readable when piped
        moment = parse_now(now)
        rules_dir = cli_context(ctx).rules_dir

        console.rule("1. Validate the rule files and templates")
        spec, problems = validate_dir(rules_dir, template_checks(templates))
        for problem in problems:
            console.print(str(problem), markup=False)
        if spec is None:
            raise typer.Exit(1)
        console.print(
            f"{rules_dir}: {len(spec.personas)} personas, "
            f"{sum(1 for _ in spec.all_journeys())} journeys, ruleset {spec.version[:19]}…"
        )
        rules = compile_rules(spec)

        console.print()
        console.rule("2. Explain example debtors (examples/facts)")
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
                d.reason,
            )
        console.print(table)

        console.print()
        console.rule(f"3. Generate {debtors:,} debtors into {database} and plan")
        _plan_portfolio(console, rules, database, debtors, seed, moment, templates)


def _plan_portfolio(
    console: Console,
    rules: object,
    database: Path,
    debtors: int,
    seed: int,
    moment: dt.datetime,
    templates: Path,
) -> None:
    from engine.messages.render import render_preview
    from engine.rules.compile import CompiledRules
    from engine.store.db import make_engine
    from engine.store.facts_sql import fact_sheet_for
    from engine.store.generate import generate
    from engine.store.message_data import message_data
    from engine.store.migrate import upgrade
    from engine.store.planner import plan

    assert isinstance(rules, CompiledRules)
    database.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{database}")
    try:
        upgrade(engine)
        bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
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
        by_persona = Table(title="Debtors with an open balance, per persona", title_justify="left")
        by_persona.add_column("persona")
        by_persona.add_column("debtors", justify="right")
        for persona, count in summary.personas.most_common():
            by_persona.add_row(persona, f"{count:,}")
        actions = Table(title="Actions", title_justify="left")
        actions.add_column("action")
        actions.add_column("debtors", justify="right")
        for action, count in summary.actions.most_common():
            actions.add_row(action, f"{count:,}")
        channels = Table(title="Messages per channel", title_justify="left")
        channels.add_column("channel")
        channels.add_column("debtors", justify="right")
        for channel, count in summary.channels.most_common():
            channels.add_row(channel, f"{count:,}")
        console.print(by_persona, actions, channels)
        rate = summary.debtors / summary.seconds if summary.seconds else 0.0
        console.print(
            f"planned {summary.debtors:,} debtors in {summary.seconds:.1f}s ({rate:,.0f}/s): "
            f"{summary.scheduled_new:,} step(s) scheduled"
        )

        console.print()
        console.rule("4. Preview the next message of a few stored debtors")
        shown: set[str] = set()
        width = max(6, len(str(debtors)))
        ids = [f"C-{i:0{width}d}" for i in range(1, debtors + 1)]
        for customer_id in ids:
            if len(shown) >= 2:
                break
            sheet = fact_sheet_for(engine, customer_id, moment)
            d = decide(rules, sheet, moment)
            if d.action is not Action.SEND or d.channel not in ("email", "letter"):
                continue
            if d.locale in shown:
                continue  # show one Dutch and one German message
            shown.add(d.locale or "")
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
            body = f"[bold]{message.get('subject') or ''}[/bold]\n\n{message.get('text') or ''}"
            console.print(
                Panel(
                    body,
                    title=f"{customer_id} · {d.persona} · step {d.journey_step} · {d.channel} · "
                    f"{d.locale} {d.tone}",
                    subtitle=f"payment options: {options}",
                )
            )
        console.print(
            f"\nExplore it: payjourney --db sqlite:///{database} explain --customer {ids[0]}"
            " --render"
        )
    finally:
        engine.dispose()
