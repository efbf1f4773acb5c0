"""Global CLI options (--db, --rules) and the context every command reads them from."""

from __future__ import annotations

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
