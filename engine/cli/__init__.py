"""The `payjourney` command line: one Typer app, each command group in its own module."""

from __future__ import annotations

import typer

from engine.cli import daemon_cmds, demo_cmd, rules_cmds, store_cmds
from engine.cli.context import add_global_options

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
daemon_cmds.register(app)


def main() -> None:
    """Entry point of the `payjourney` console script."""
    app()
