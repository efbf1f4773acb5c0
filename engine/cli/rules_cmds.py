"""CLI commands for rule authors: `validate` and `explain`."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from engine.cli.context import cli_context, now_option
from engine.decision.decide import decide
from engine.decision.model import Decision, FactSheet
from engine.errors import PayjourneyError, RuleError, RuleProblem
from engine.messages.render import template_checks
from engine.rules.compile import CompiledRules, compile_rules
from engine.rules.rulebook import validate_dir
from engine.rules.spec import RuleSpec

TemplatesOption = Annotated[
    Path,
    typer.Option("--templates", envvar="PAYJOURNEY_TEMPLATES", help="Templates directory."),
]


def rate_table_warnings(spec: RuleSpec, today: dt.date) -> list[RuleProblem]:
    """A warning per statutory interest series not confirmed since the last rate change date."""
    from engine.messages.legal import LegalError, LegalSettings, rate_changes_missed

    legal = spec.settings.extra.get("legal")
    try:
        settings = LegalSettings.from_mapping(legal if isinstance(legal, dict) else {})
        table = settings.rates()
    except LegalError:
        return []  # the template check reports a bad legal block or rate file
    return [
        RuleProblem(
            path=table.source,
            line=_toml_section_line(table.source, name),
            column=1,
            key_path=name,
            problem=f"the newest {name} rate is from {newest}; rates are set every 1 January "
            f"and 1 July, and none is recorded since {since}",
            hint=f'check the published rate and add a row "{since}" = <percent> (the same rate '
            "again if it did not change)",
            severity="warning",
        )
        for name, newest, since in rate_changes_missed(table, today)
    ]


def whatsapp_template_warnings(spec: RuleSpec, environ: Mapping[str, str]) -> list[RuleProblem]:
    """A warning per WhatsApp step whose template has no approved provider template for its
    journey's locale in PAYJOURNEY_WHATSAPP_TEMPLATES (outside the 24-hour window such a step
    falls back to its next channel). Nothing to say when WhatsApp is not configured here."""
    from channels.base import ChannelConfigError
    from channels.whatsapp import missing_approvals, templates_from_json

    name = environ.get("PAYJOURNEY_WHATSAPP_TEMPLATES", "").strip()
    if not name:
        return []
    try:
        approved = templates_from_json(json.loads(Path(name).read_text(encoding="utf-8")))
    except (OSError, ValueError, ChannelConfigError) as exc:
        return [
            RuleProblem(
                path=name,
                line=1,
                column=1,
                key_path="",
                problem=f"PAYJOURNEY_WHATSAPP_TEMPLATES cannot be read: {exc}",
                hint="see docs/channels.md#whatsapp for the file's shape",
                severity="warning",
            )
        ]
    problems = []
    for journey in spec.all_journeys():
        for step in journey.steps:
            if "whatsapp" not in step.channels or step.template is None:
                continue
            for line in missing_approvals(approved, [(step.template, journey.locale)]):
                problems.append(
                    RuleProblem(
                        path=step.source.path,
                        line=step.source.line,
                        column=step.source.column,
                        key_path="",
                        problem=line,
                        severity="warning",
                    )
                )
    return problems


def _toml_section_line(path: str, section: str) -> int:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return 1
    return next((i for i, line in enumerate(lines, 1) if line.strip() == f"[{section}]"), 1)


def load_compiled(rules_dir: Path) -> CompiledRules:
    """Load, validate and compile the rules; print every problem and exit 1 when they are bad."""
    spec, problems = validate_dir(rules_dir)
    if spec is None:
        err = Console(stderr=True, soft_wrap=True, highlight=False)
        for problem in problems:
            err.print(str(problem), markup=False)
        err.print(f"{rules_dir}: the rules have errors; fix them and run `payjourney validate`")
        raise typer.Exit(1)
    return compile_rules(spec)


def register(app: typer.Typer) -> None:
    """Add `validate` and `explain` to the app."""

    @app.command()
    def validate(
        ctx: typer.Context,
        rules_dir: Annotated[
            Path | None, typer.Argument(help="Rules directory (default: --rules).")
        ] = None,
        templates: TemplatesOption = Path("templates"),
        as_json: Annotated[bool, typer.Option("--json", help="Problems as JSON.")] = False,
    ) -> None:
        """Check the rule files and the templates they name; exit 1 on any error."""
        folder = rules_dir or cli_context(ctx).rules_dir
        spec, problems = validate_dir(folder, template_checks(templates))
        if spec is not None:
            try:  # the rules must also compile: durable_rules has limits of its own
                compile_rules(spec)
            except RuleError as exc:
                problems.extend(exc.problems)
                spec = None
        if spec is not None:
            problems.extend(rate_table_warnings(spec, dt.date.today()))
            problems.extend(whatsapp_template_warnings(spec, os.environ))
        errors = [p for p in problems if p.severity == "error"]
        if as_json:
            typer.echo(
                json.dumps(
                    {"ok": not errors, "problems": [p.to_json() for p in problems]}, indent=2
                )
            )
        else:
            for problem in problems:
                typer.echo(str(problem))
            warnings = len(problems) - len(errors)
            if errors:
                typer.echo(f"{len(errors)} error(s), {warnings} warning(s) in {folder}", err=True)
            else:
                assert spec is not None
                typer.echo(
                    f"{folder}: ok — {len(spec.personas)} personas, "
                    f"{sum(1 for _ in spec.all_journeys())} journeys, "
                    f"{len(spec.payment_options)} payment options"
                    + (f", {warnings} warning(s)" if warnings else "")
                    + f" ({spec.version[:19]})"
                )
        if errors:
            raise typer.Exit(1)

    @app.command()
    def explain(
        ctx: typer.Context,
        facts_file: Annotated[
            Path | None,
            typer.Argument(help="Fact sheet JSON ({customer, balance, behaviour, journey})."),
        ] = None,
        customer: Annotated[
            str | None, typer.Option("--customer", help="Decide for a stored customer instead.")
        ] = None,
        now: Annotated[
            str | None,
            typer.Option(
                "--now",
                help="Decide as of this ISO 8601 time (no offset: the rules' time zone).",
            ),
        ] = None,
        as_json: Annotated[
            bool, typer.Option("--json", help="The preview answer as JSON.")
        ] = False,
        render: Annotated[bool, typer.Option("--render", help="Add the rendered message.")] = False,
        templates: TemplatesOption = Path("templates"),
    ) -> None:
        """The decision for a fact sheet (or a stored customer), with the trace that explains it."""
        options = cli_context(ctx)
        moment = now_option(ctx, now)
        facts = _facts(options.db_url, facts_file, customer, moment)
        rules = load_compiled(options.rules_dir)
        if render:
            decision, answer = _render(facts, rules, templates, options.db_url, customer, moment)
        else:
            decision = decide(rules, facts, moment)
            answer = decision.to_json()
        arranged = _self_service(rules, facts, decision, moment)
        if as_json:
            if arranged is not None:
                answer = {**answer, "self_service": arranged}
            typer.echo(json.dumps(answer, indent=2, ensure_ascii=False))
        else:
            labels = {p.id: p.label for p in rules.spec.personas if p.label != p.id}
            print_decision(decision, answer, labels.get(decision.persona or ""))
            if arranged is not None:
                _print_self_service(arranged)


def _self_service(
    rules: CompiledRules, facts: FactSheet, decision: Decision, now: dt.datetime
) -> dict[str, Any] | None:
    """What the debtor may arrange on their own page, and why (docs/self-service.md)."""
    from engine.decision import timing
    from engine.decision.arrangements import explained

    if decision.persona is None:
        return None
    today = now.astimezone(timing.zone(facts["customer.timezone"] or "Europe/Amsterdam")).date()
    return explained(rules.spec.self_service_for(decision.persona), facts, today)


def _print_self_service(arranged: dict[str, Any]) -> None:
    out = Console(highlight=False, soft_wrap=True)
    out.print(f"\n[bold]self-service[/bold] ({arranged['source']}):")
    for a in arranged["actions"]:
        mark = "[green]open[/green]  " if a["open"] else "[dim]closed[/dim]"
        out.print(f"  {mark} {a['action']:<9} {escape(a['why'])}", markup=True)


def _facts(
    db_url: str, facts_file: Path | None, customer: str | None, now: dt.datetime
) -> FactSheet:
    err = Console(stderr=True, soft_wrap=True, highlight=False)
    if (facts_file is None) == (customer is None):
        err.print("give a fact sheet file or --customer ID (one of them)")
        raise typer.Exit(2)
    try:
        if customer is not None:
            from engine.cli.store_access import open_store
            from engine.store.facts_sql import fact_sheet_for

            with open_store(db_url) as engine:
                return fact_sheet_for(engine, customer, now)
        assert facts_file is not None
        try:
            data = json.loads(facts_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            err.print(f"{facts_file}: no such file")
            raise typer.Exit(2) from None
        except json.JSONDecodeError as exc:
            err.print(f"{facts_file}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}")
            raise typer.Exit(2) from None
        if not isinstance(data, dict):
            err.print(
                f"{facts_file}: expected an object with customer, balance, behaviour, journey"
            )
            raise typer.Exit(2)
        return FactSheet.from_nested(data)
    except PayjourneyError as exc:
        err.print(str(exc), markup=False)
        raise typer.Exit(2) from None


def _render(
    facts: FactSheet,
    rules: CompiledRules,
    templates: Path,
    db_url: str,
    customer: str | None,
    now: dt.datetime,
) -> tuple[Decision, dict[str, Any]]:
    """Decide and render (engine.preview, as the API does); a stored customer's open invoices
    and address come from the store. A letter's PDF is written to a temporary folder."""
    from engine.preview.answer import PreviewSettings, preview_answer

    invoices: tuple[dict[str, Any], ...] = ()
    address: tuple[str, ...] = ()
    if customer is not None:
        from engine.cli.store_access import open_store
        from engine.store.message_data import message_data

        with open_store(db_url) as engine:
            data = message_data(engine, customer, now)
        invoices, address = data.invoices, data.address
    found = preview_answer(
        rules,
        facts,
        now,
        PreviewSettings(templates_dir=templates),
        invoices=invoices,
        address=address,
    )
    write_pdf(found.answer, found.pdf)
    return found.decision, found.answer


def write_pdf(answer: dict[str, Any], pdf: bytes | None) -> None:
    """Save a letter's PDF in a fresh temporary folder and put its path in the answer."""
    message = answer.get("message")
    if pdf is None or not isinstance(message, dict):
        return
    journey = answer.get("journey") or {}
    name = f"{answer.get('customer_id') or 'letter'}-{journey.get('template') or 'letter'}.pdf"
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="payjourney-letter-")) / name.replace("/", "_")
    path.write_bytes(pdf)
    message["pdf"] = str(path)


def print_decision(
    decision: Decision, answer: dict[str, Any], persona_label: str | None = None
) -> None:
    """The decision and its trace as readable tables."""
    console = Console(highlight=False)
    console.width = max(console.width, 120)  # the trace stays readable when piped
    summary = Table(
        title=f"Decision for {decision.customer_id or 'the fact sheet'}", show_header=False
    )
    summary.add_column("what", style="bold")
    summary.add_column("value")
    summary.add_row("action", f"{decision.action.value} — {decision.reason}")
    if decision.persona:
        label = f" — {persona_label}" if persona_label else ""
        summary.add_row("persona", Text(f"{decision.persona}{label}  ({decision.persona_source})"))
    if decision.journey_steps is not None:
        step = (
            f"{decision.journey_step} of {decision.journey_steps}" if decision.journey_step else "—"
        )
        summary.add_row(
            "journey step", step + (f"  template {decision.template}" if decision.template else "")
        )
    if decision.experiment:
        why = next((t.note for t in decision.trace if t.rule.startswith("experiments[")), "")
        summary.add_row("experiment", Text(f"{decision.experiment}: variant {decision.variant}"))
        summary.add_row("why this variant", Text(why.split(" — ", 1)[-1]))
    if decision.channel:
        fallback = ", ".join(decision.fallback_channels) or "none"
        hours = decision.fallback_after.total_seconds() / 3600 if decision.fallback_after else 0
        after = f" after {hours:g}h without reaction" if hours else ""
        summary.add_row("channel", f"{decision.channel} (fallback: {fallback}{after})")
    if decision.locale:
        summary.add_row("language / tone", f"{decision.locale} / {decision.tone}")
    if decision.send_at:
        summary.add_row("send at", decision.send_at.isoformat())
    if decision.amount_due:
        formatted = (answer.get("amount_due") or {}).get("formatted")
        summary.add_row(
            "amount due",
            formatted or f"{decision.amount_due.amount} {decision.amount_due.currency}",
        )
    if decision.payment_options:
        summary.add_row("payment options", ", ".join(decision.payment_options))
    summary.add_row("ruleset", decision.ruleset_version)
    console.print(summary)
    trace = Table(title="Why (trace)")
    trace.add_column("rule", overflow="fold", max_width=24)
    trace.add_column("source", no_wrap=True)
    trace.add_column("matched")
    trace.add_column("facts", no_wrap=True)
    trace.add_column("note", overflow="fold", ratio=1)
    for entry in decision.trace:
        facts = "\n".join(
            f"{k} = {json.dumps(v, ensure_ascii=False)}"
            for k, v in entry.to_json()["facts"].items()
        )
        trace.add_row(
            entry.rule, str(entry.source or ""), "yes" if entry.matched else "no", facts, entry.note
        )
    console.print(trace)
    message = answer.get("message")
    if isinstance(message, dict):
        # template text is never Rich markup: "[link wordt gemaakt bij verzending]" stays visible
        console.print(f"[bold]Subject:[/bold] {escape(str(message.get('subject') or ''))}")
        console.print(str(message.get("text") or ""), markup=False)
        if message.get("pdf"):
            console.print(f"[bold]Letter PDF:[/bold] {escape(str(message['pdf']))}")

        for option in answer.get("payment_options") or ():
            detail = option.get("url") or option.get("note") or ""
            if option.get("method") == "bank_transfer":
                detail = f"IBAN {option.get('iban_formatted')}, reference {option.get('reference')}"
            console.print(f"[bold]Pay by {option.get('method')}:[/bold] {escape(str(detail))}")
