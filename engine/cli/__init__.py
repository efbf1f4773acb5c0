"""The `payjourney` command line: one Typer app, each command group in its own module."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

from engine.cli import (
    api_cmds,
    daemon_cmds,
    demo_cmd,
    experiments_cmds,
    payments_cmds,
    rules_cmds,
    schedule_cmds,
    simulate_cmds,
    store_cmds,
    tasks_cmds,
)
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
schedule_cmds.register(app)
demo_cmd.register(app)
payments_cmds.register(app)
api_cmds.register(app)
daemon_cmds.register(app)
experiments_cmds.register(app)
simulate_cmds.register(app)
tasks_cmds.register(app)

#: Global options users may also type after the command (`payjourney explain f.json --rules r/`).
GLOBAL_OPTIONS = ("--db", "--rules")


def hoist_global_options(args: Sequence[str]) -> list[str]:
    """Move `--db X` / `--rules X` (or `--db=X`) found after the command to the front, where
    Click reads global options; everything after `--` stays where it is."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        name = arg.split("=", 1)[0]
        if name in GLOBAL_OPTIONS:
            if "=" in arg:
                front.append(arg)
            else:
                front.extend(args[i : i + 2])
                i += 1
        else:
            rest.append(arg)
        i += 1
    return front + rest


def main() -> None:
    """Entry point of the `payjourney` console script. An error a user can cause (a bad
    file, a refused template, an unreachable database) ends in one clear line and exit 1,
    never in a Python traceback."""
    try:
        app(args=hoist_global_options(sys.argv[1:]))
    except PayjourneyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except OSError as exc:
        print(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        sys.exit(1)
