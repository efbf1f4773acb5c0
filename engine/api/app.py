"""The app factory: `create_app(config)` wires the database, the rules, auth and the routes."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine

from engine.api.config import ApiConfig
from engine.api.errors import install_error_handlers
from engine.api.limits import preview_turns
from engine.api.middleware import ApiMetrics, ApiMiddleware
from engine.api.pages import debtor, staff
from engine.api.pages import personas as persona_pages
from engine.api.routes import customers, events, experiments, health, payments, preview, tasks
from engine.api.routes import webhooks as webhook_routes
from engine.api.state import ApiState, state_of
from engine.api.warmup import prepare_worker
from engine.api.webhooks import WebhookRegistry
from engine.api.webhooks.barzahlen import BarzahlenWebhook
from engine.api.webhooks.delivery import register_delivery_webhooks
from engine.api.webhooks.mollie import MollieWebhook
from engine.messages.payments.mollie import MollieClient
from engine.messages.render import template_checks
from engine.preview.answer import PreviewSettings
from engine.rules.rulebook import RuleBook
from engine.store.db import make_engine
from engine.store.migrate import ensure_ready


def default_registry(config: ApiConfig) -> WebhookRegistry:
    """The webhook verifiers this configuration enables.

    Payment providers here; the channel providers' delivery receipts are registered by
    `create_app`, which has the database their messages are looked up in.
    """
    registry = WebhookRegistry()
    if config.mollie_api_key:
        client = MollieClient(config.mollie_api_key, base_url=config.mollie_base_url)
        registry.register(
            "mollie", MollieWebhook(client, signing_secret=config.mollie_webhook_secret)
        )
    return registry


def _all_webhooks(config: ApiConfig, engine: Engine) -> WebhookRegistry:
    registry = default_registry(config)
    if config.barzahlen_payment_key:  # a paid slip is booked like a statement credit
        registry.register(
            "barzahlen",
            BarzahlenWebhook(
                engine, config.barzahlen_payment_key, hook_url=config.barzahlen_hook_url
            ),
        )
    register_delivery_webhooks(registry, engine, config.channel_env)
    return registry


def create_app(
    config: ApiConfig,
    *,
    webhooks: WebhookRegistry | None = None,
    rulebook: RuleBook | None = None,
    serving: bool = False,
) -> FastAPI:
    """The API for `config`. Fails at start (RuleError, DatabaseNotReady) on bad rules or an
    old schema, so a broken configuration never serves. `rulebook` (default: read from
    `config.rules_dir`, templates checked) lets several apps share rules already loaded."""
    # a server's connections can drop under us (restart, idle timeout): PostgreSQL's are
    # checked when taken from the pool; a SQLite file's cannot drop, and the check cost a
    # statement per request
    engine = make_engine(config.db_url, pool_pre_ping=not config.db_url.startswith("sqlite"))
    ensure_ready(engine)
    if rulebook is None:
        rulebook = RuleBook(config.rules_dir, template_checks(config.templates_dir))
    importlib.import_module("engine.messages.letter_pdf")  # fpdf takes seconds to import

    metrics = ApiMetrics()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # (`serving`: in `payjourney serve`; an app made and dropped again, as tests do, would
        # only pile up frozen garbage)
        if serving:
            prepare_worker(state_of(_app))
        yield
        engine.dispose()

    app = FastAPI(
        lifespan=lifespan,
        title="payjourney",
        version="1",
        summary="The next payment request of each debtor, and why; events in.",
        description='Errors are `{"error": {"code", "message", "details"}}`. Every '
        "endpoint but /v1/health and the webhooks needs `Authorization: Bearer <token>`.",
    )
    app.state.payjourney = ApiState(
        config=config,
        engine=engine,
        rulebook=rulebook,
        # resolved once: a relative folder was resolved per message (a realpath each time)
        preview=PreviewSettings(templates_dir=config.templates_dir.resolve()),
        metrics=metrics,
        preview_turns=preview_turns(),
        webhooks=webhooks if webhooks is not None else _all_webhooks(config, engine),
    )
    install_error_handlers(app)
    for module in (
        health,
        customers,
        preview,
        events,
        payments,
        experiments,
        webhook_routes,
        tasks,
        staff,
        debtor,
    ):
        app.include_router(module.router)
    app.include_router(persona_pages.router)  # the persona cards and experiments, for staff
    app.add_middleware(ApiMiddleware, body_limit=config.body_limit, metrics=metrics)
    return app


def configure_logging() -> None:
    """INFO to stderr with a timestamp (the access log among it), unless logging is set up."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")


def app_from_env() -> FastAPI:
    """The app as configured by environment variables: the factory `payjourney serve --workers
    N` hands to uvicorn, so each worker process builds its own (PAYJOURNEY_DB, PAYJOURNEY_RULES,
    PAYJOURNEY_TEMPLATES, PAYJOURNEY_API_TOKENS and PAYJOURNEY_API_TOKENS_FILE)."""
    import os
    from pathlib import Path

    # a worker is a new interpreter: `serve`'s logging set-up did not come with it, and
    # without it the access log (INFO) went nowhere
    configure_logging()
    tokens_file = os.environ.get("PAYJOURNEY_API_TOKENS_FILE")
    config = ApiConfig.from_env(
        db_url=os.environ.get("PAYJOURNEY_DB", "sqlite:///payjourney.db"),
        rules_dir=Path(os.environ.get("PAYJOURNEY_RULES", "rules")),
        templates_dir=Path(os.environ.get("PAYJOURNEY_TEMPLATES", "templates")),
        tokens_file=Path(tokens_file) if tokens_file else None,
    )
    return create_app(config, serving=True)
