"""Global CLI options (--db, --rules) and the context every command reads them from."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_DB = "sqlite:///payjourney.db"
DEFAULT_RULES = "rules"


@dataclass(frozen=True, slots=True, kw_only=True)
class CliContext:
    """What the global options said."""

    db_url: str
    rules_dir: Path


def add_global_options(app: typer.Typer) -> None:
    """Attach `--db` and `--rules` (with their env vars) to the app."""

    @app.callback()
    def _options(
        ctx: typer.Context,
        db: Annotated[
            str,
            typer.Option(
                "--db", envvar="PAYJOURNEY_DB", help="Database URL (SQLite or PostgreSQL)."
            ),
        ] = DEFAULT_DB,
        rules: Annotated[
            Path,
            typer.Option("--rules", envvar="PAYJOURNEY_RULES", help="Directory of rule files."),
        ] = Path(DEFAULT_RULES),
    ) -> None:
        ctx.obj = CliContext(db_url=db, rules_dir=rules)


def cli_context(ctx: typer.Context) -> CliContext:
    """The global options, from any command."""
    obj = ctx.find_root().obj
    if not isinstance(obj, CliContext):
        return CliContext(db_url=DEFAULT_DB, rules_dir=Path(DEFAULT_RULES))
    return obj


def parse_now(text: str | None, zone: str = "Europe/Amsterdam") -> dt.datetime:
    """`--now` as an aware datetime; the clock when absent.

    A time without an offset is read in `zone` (the rules' time zone), a bare date as the
    start of that day there (`engine.preview.answer.parse_moment`, which the API uses too).
    """
    from engine.preview.answer import parse_moment

    try:
        return parse_moment(text, zone)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def needs_zone(text: str | None) -> bool:
    """Whether a `--now` value has no offset of its own (so the rules' time zone applies)."""
    if not text:
        return False
    try:
        return dt.datetime.fromisoformat(text.strip()).tzinfo is None
    except ValueError:
        return False


def rules_zone(rules_dir: Path) -> str:
    """The rules' time zone (settings.timezone, else the default locale's country's)."""
    from engine.rules.rulebook import validate_dir

    spec, _ = validate_dir(rules_dir)
    return spec.settings.timezone if spec is not None else "Europe/Amsterdam"


def now_option(ctx: typer.Context, text: str | None, zone: str | None = None) -> dt.datetime:
    """`--now` for a command; when read in the rules' time zone, say so on stderr."""
    if not needs_zone(text):
        return parse_now(text)
    zone = zone or rules_zone(cli_context(ctx).rules_dir)
    moment = parse_now(text, zone)
    typer.echo(f"as of {moment.isoformat()} (--now read in {zone}, the rules' time zone)", err=True)
    return moment


def sending_templates(templates: Path) -> Path:
    """The templates folder of a command that renders messages to send (run, simulate): one
    that does not exist stops the command at start, instead of failing every message."""
    from engine.messages.render import Renderer

    Renderer(templates)  # TemplateProblem, naming the folder and the fix, when it is missing
    return templates
