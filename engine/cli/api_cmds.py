"""CLI commands around the API: `serve`, `preview CUSTOMER_ID`, `token new`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from engine.cli.context import cli_context, now_option
from engine.cli.rules_cmds import TemplatesOption, print_decision, write_pdf
from engine.errors import PayjourneyError


def register(app: typer.Typer) -> None:
    """Add `serve`, `preview` and `token` to the app."""
    token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
    app.add_typer(token_app, name="token")

    @app.command()
    def serve(
        ctx: typer.Context,
        host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port.")] = 8000,
        workers: Annotated[int, typer.Option(min=1, help="Worker processes (one per core).")] = 1,
        tokens: Annotated[
            Path | None,
            typer.Option(help="File of token lines (besides PAYJOURNEY_API_TOKENS)."),
        ] = None,
        templates: TemplatesOption = Path("templates"),
    ) -> None:
        """The HTTP API (OpenAPI at /docs) and the staff page at /preview."""
        import uvicorn

        from engine.api import ApiConfig, create_app
        from engine.api.app import configure_logging

        options = cli_context(ctx)
        err = Console(stderr=True, soft_wrap=True, highlight=False)
        try:
            config = ApiConfig.from_env(
                db_url=options.db_url,
                rules_dir=options.rules_dir,
                templates_dir=templates,
                tokens_file=tokens,
            )
            api = create_app(config, serving=True)
        except PayjourneyError as exc:
            err.print(f"error: {exc}", markup=False, soft_wrap=True)
            raise typer.Exit(1) from exc
        if not config.tokens:
            err.print(
                "warning: no API tokens configured; every endpoint but /v1/health answers 401."
                " Create one with `payjourney token new NAME --scope preview`"
            )
        configure_logging()
        # uvicorn's own access log prints paths and queries, which name customers: ours does not
        if workers == 1:
            uvicorn.run(api, host=host, port=port, access_log=False)
            return
        # several processes: each builds its app from the same settings, passed by environment
        os.environ.update(
            PAYJOURNEY_DB=options.db_url,
            PAYJOURNEY_RULES=str(options.rules_dir),
            PAYJOURNEY_TEMPLATES=str(templates),
            PAYJOURNEY_SESSION_SECRET=config.session_secret.hex(),
        )
        if tokens is not None:
            os.environ["PAYJOURNEY_API_TOKENS_FILE"] = str(tokens)
        uvicorn.run(
            "engine.api.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            access_log=False,
        )

    @app.command()
    def preview(
        ctx: typer.Context,
        customer_id: Annotated[str, typer.Argument(help="The stored customer's id.")],
        as_json: Annotated[bool, typer.Option("--json", help="The API's JSON answer.")] = False,
        now: Annotated[str | None, typer.Option("--now", help="As of this ISO 8601 time.")] = None,
        templates: TemplatesOption = Path("templates"),
    ) -> None:
        """The customer's next message, rendered, with the decision trace (what the API says)."""
        from engine.cli.rules_cmds import load_compiled
        from engine.preview.answer import PreviewSettings
        from engine.preview.stored import preview_stored
        from engine.store.db import make_engine
        from engine.store.migrate import ensure_ready

        options = cli_context(ctx)
        moment = now_option(ctx, now)
        rules = load_compiled(options.rules_dir)
        engine = make_engine(options.db_url)
        try:
            ensure_ready(engine)
            found = preview_stored(
                engine, rules, customer_id, moment, PreviewSettings(templates_dir=templates)
            )
        except PayjourneyError as exc:
            Console(stderr=True, soft_wrap=True, highlight=False).print(
                f"error: {exc}", markup=False
            )
            raise typer.Exit(1) from exc
        finally:
            engine.dispose()
        write_pdf(found.answer, found.pdf)
        if as_json:
            typer.echo(json.dumps(found.answer, indent=2, ensure_ascii=False))
        else:
            print_decision(found.decision, found.answer)

    @token_app.command("new")
    def token_new(
        name: Annotated[str, typer.Argument(help="Who the token is for (no ':').")],
        scope: Annotated[
            list[str], typer.Option("--scope", help="preview, events or metrics; repeat.")
        ],
    ) -> None:
        """A new API token: prints the secret once, and the line to configure (its hash)."""
        from engine.api.auth import TokenConfigError, new_token

        if ":" in name or not name.strip():
            raise typer.BadParameter("a token name is a word without ':'")
        try:
            secret, token = new_token(name, scope)
        except TokenConfigError as exc:
            raise typer.BadParameter(str(exc)) from None
        typer.echo(f"token (shown once; give it to the caller): {secret}")
        typer.echo("add this line to PAYJOURNEY_API_TOKENS or the --tokens file:")
        typer.echo(token.line())
