"""API fixtures: a migrated store with a Dutch and a German debtor, tokens, and a TestClient."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from engine.api import ApiConfig, create_app
from engine.api.auth import ApiToken, new_token
from engine.messages.render import template_checks
from engine.rules.rulebook import RuleBook
from engine.store.db import make_engine
from engine.store.importer import import_rows
from tests.conftest import ROOT
from tests.store.conftest import db_url, pg_database  # noqa: F401  (fixtures)

NOW = "2026-11-24T10:00:00+01:00"  # a Tuesday, inside the send window
#: The secret forwarded email DSNs are signed with (Standard Webhooks `whsec_`), for `server`.
DSN_SECRET = "whsec_" + "c2VjcmV0LWZvci1kc24tZm9yd2FyZGluZy0zMmJ5dGVz"

NL_CUSTOMER = {"id": "C-NL", "kind": "consumer", "country": "NL", "name": "Jan de Vries"}
DE_CUSTOMER = {"id": "C-DE", "kind": "consumer", "country": "DE", "name": "Max Müller"}
ROWS: dict[str, list[dict[str, Any]]] = {
    "customers": [NL_CUSTOMER, DE_CUSTOMER],
    "contacts": [
        {
            "id": "K-NL",
            "customer_id": "C-NL",
            "email": "jan@example.nl",
            "street": "Dorpsstraat 1",
            "postal_code": "3511 AB",
            "city": "Utrecht",
        },
        {
            "id": "K-DE",
            "customer_id": "C-DE",
            "email": "max@example.de",
            "street": "Hauptstraße 5",
            "postal_code": "10115",
            "city": "Berlin",
        },
    ],
    "invoices": [
        {
            "id": "INV-NL-1",
            "customer_id": "C-NL",
            "amount": "120.00",
            "currency": "EUR",
            "issue_date": "2026-10-01",
            "due_date": "2026-10-31",
        },
        {
            "id": "INV-DE-1",
            "customer_id": "C-DE",
            "amount": "80.00",
            "currency": "EUR",
            "issue_date": "2026-10-20",
            "due_date": "2026-11-20",
        },
    ],
}


def tokens() -> dict[str, tuple[str, ApiToken]]:
    return {
        "preview": new_token("staff", ["preview"]),
        "events": new_token("erp", ["events"]),
        "all": new_token("ops", ["preview", "events", "metrics"]),
    }


TOKENS = tokens()


def bearer(kind: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[kind][0]}"}


def fill(engine: Engine) -> None:
    import_rows(engine, ROWS, now=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))


def config(url: str, **extra: Any) -> ApiConfig:
    return ApiConfig(
        db_url=url,
        rules_dir=ROOT / "rules",
        templates_dir=ROOT / "templates",
        tokens=tuple(t for _, t in TOKENS.values()),
        secure_cookies=False,
        **extra,
    )


@pytest.fixture
def stored_url(db_url: str) -> str:  # noqa: F811
    """A migrated store (SQLite file or PostgreSQL) holding the NL and DE debtors."""
    engine = make_engine(db_url)
    try:
        fill(engine)
    finally:
        engine.dispose()
    return db_url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """The same store on a SQLite file only (for tests that are not about the database)."""
    from engine.store.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'api.db'}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        fill(engine)
    finally:
        engine.dispose()
    return url


@pytest.fixture(scope="session")
def rulebook() -> RuleBook:
    """The default rules with their templates checked, loaded once for all API tests."""
    return RuleBook(ROOT / "rules", template_checks(ROOT / "templates"))


@pytest.fixture
def client(sqlite_url: str, rulebook: RuleBook) -> Iterator[TestClient]:
    with TestClient(create_app(config(sqlite_url), rulebook=rulebook)) as test_client:
        yield test_client


@pytest.fixture
def any_db_client(stored_url: str, rulebook: RuleBook) -> Iterator[TestClient]:
    with TestClient(create_app(config(stored_url), rulebook=rulebook)) as test_client:
        yield test_client


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(sqlite_url: str) -> Iterator[str]:
    """`payjourney serve` as users start it, on a free port."""
    port = _free_port()
    env = {
        **os.environ,
        "PAYJOURNEY_API_TOKENS": "\n".join(t.line() for _, t in TOKENS.values()),
        "PAYJOURNEY_INSECURE_COOKIES": "1",
        "PAYJOURNEY_DSN_WEBHOOK_SECRET": DSN_SECRET,
    }
    with tempfile.TemporaryFile() as log:  # the server's log: read when it fails to start
        process = subprocess.Popen(
            [sys.executable, "-m", "engine", "serve", "--port", str(port), "--db", sqlite_url],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None:
                    log.seek(0)
                    raise AssertionError(log.read().decode())
                time.sleep(0.1)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=10)
