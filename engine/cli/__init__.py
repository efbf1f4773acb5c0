"""The `payjourney` command line: one Typer app, each command group in its own module."""

from __future__ import annotations

import sys

import typer

from engine.cli import demo_cmd, rules_cmds, store_cmds
from engine.cli.context import add_global_options
from engine.errors import PayjourneyError

app = typer.Typer(
    name="payjourney",
    help="Payment-request journeys for credit management (NL/DE), driven by YAML rules.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
add_global_options(app)
rules_cmds.register(app)
store_cmds.register(app)
demo_cmd.register(app)


def main() -> None:
    """Entry point of the `payjourney` console script. An error a user can cause (a bad
    file, a refused template, an unreachable database) ends in one clear line and exit 1,
    never in a Python traceback."""
    try:
        app()
    except PayjourneyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except OSError as exc:
        print(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        sys.exit(1)
