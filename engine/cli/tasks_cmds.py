"""`payjourney tasks`: disputes, questions, replies and arrangements awaiting a person."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from engine.cli.context import cli_context
from engine.cli.store_access import open_store


def register(app: typer.Typer) -> None:
    """Add `tasks` to the app."""

    @app.command()
    def tasks(
        ctx: typer.Context,
        show: Annotated[str, typer.Option("--status", help="open, closed or all.")] = "open",
        customer: Annotated[
            str | None, typer.Option("--customer", help="Only this debtor's tasks.")
        ] = None,
        close: Annotated[
            int | None, typer.Option("--close", help="Close the task with this id.")
        ] = None,
        approve: Annotated[
            int | None,
            typer.Option("--approve", help="Approve the arrangement task with this id."),
        ] = None,
        refuse: Annotated[
            int | None,
            typer.Option("--refuse", help="Refuse the arrangement task with this id."),
        ] = None,
        note: Annotated[
            str | None, typer.Option("--note", help="What was done (kept with the task).")
        ] = None,
        history: Annotated[
            bool, typer.Option("--history", help="Show each debtor's latest messages and events.")
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="As JSON.")] = False,
    ) -> None:
        """Disputes, questions, replies and arrangements awaiting a person (oldest first); close,
        approve or refuse one by id."""
        from engine.store import dialogue as store

        options = cli_context(ctx)
        if show not in ("open", "closed", "all"):
            raise typer.BadParameter("open, closed or all", param_hint="--status")
        chosen = [(i, a) for i, a in ((close, None), (approve, True), (refuse, False)) if i]
        if len(chosen) > 1:
            raise typer.BadParameter("one of --close, --approve, --refuse at a time")
        with open_store(options.db_url) as engine:
            if chosen:
                _close(ctx, engine, chosen[0][0], chosen[0][1], note)
                return
            rows = store.tasks(engine, status=None if show == "all" else show, customer_id=customer)
            stories = (
                {
                    str(r["customer_id"]): store.history(engine, str(r["customer_id"]), limit=5)
                    for r in rows
                }
                if (history or as_json)
                else {}
            )
        if as_json:
            out = [
                {
                    **{k: _plain(v) for k, v in r.items() if k != "event_id"},
                    "history": [
                        {k: _plain(v) for k, v in h.items()} for h in stories[str(r["customer_id"])]
                    ],
                }
                for r in rows
            ]
            typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
            return
        console = Console(highlight=False)
        if not rows:
            console.print(f"no {show if show != 'all' else ''} tasks".replace("  ", " "))
            return
        table = Table(title=f"{len(rows)} task(s)")
        for column in ("id", "kind", "customer", "since", "status", "what"):
            table.add_column(column)
        for r in rows:
            what = r["text"] or _summary(r["data"])
            table.add_row(
                str(r["id"]),
                r["kind"],
                r["customer_id"],
                _plain(r["created_at"])[:16],
                r["status"],
                escape(what or ""),
            )
        console.print(table)
        for customer_id, story in stories.items():
            console.print(f"\n[bold]{escape(customer_id)}[/bold]")
            for h in story:
                console.print(f"  {_plain(h['at'])[:16]}  {h['what']:<9} {escape(h['detail'])}")


def _close(
    ctx: typer.Context, engine: Any, task_id: int, approve: bool | None, note: str | None
) -> None:
    from engine.cli.rules_cmds import load_compiled
    from engine.daemon import dialogue

    rules = load_compiled(cli_context(ctx).rules_dir)
    try:
        dialogue.close(
            engine,
            rules,
            task_id,
            now=dt.datetime.now(dt.UTC),
            by="cli",
            note=note,
            approve=approve,
        )
    except (LookupError, ValueError) as exc:
        Console(stderr=True, soft_wrap=True, highlight=False).print(str(exc), markup=False)
        raise typer.Exit(1) from None
    verb = {None: "closed", True: "approved", False: "refused"}[approve]
    typer.echo(f"task {task_id} {verb}")


def _summary(data: dict[str, Any]) -> str:
    if "promise" in data:
        p = data["promise"]
        return f"promise: {p.get('amount')} {p.get('currency')} by {p.get('until')}"
    return "; ".join(str(r) for r in data.get("reasons", ()))


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()
    return value
