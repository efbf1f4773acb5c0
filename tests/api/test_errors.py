"""The JSON error format everywhere, body limits, and an access log without personal data."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from engine.api import create_app
from engine.errors import RuleError
from engine.rules.rulebook import RuleBook
from engine.store.db import make_engine
from tests.api.conftest import NOW, bearer, config


@pytest.fixture
def small_client(sqlite_url: str, rulebook: RuleBook) -> Iterator[TestClient]:
    with TestClient(create_app(config(sqlite_url, body_limit=2000), rulebook=rulebook)) as c:
        yield c


def test_a_body_over_the_limit_is_413_before_it_is_read(small_client: TestClient) -> None:
    answer = small_client.post(
        "/v1/preview", content=b"{" + b" " * 5000 + b"}", headers=bearer("preview")
    )
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "body_too_large"


def test_a_chunked_body_over_the_limit_is_413_too(small_client: TestClient) -> None:
    """No Content-Length does not get around the limit."""

    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b" " * 500

    answer = small_client.post("/v1/preview", content=chunks(), headers=bearer("preview"))
    assert answer.status_code == 413


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("get", "/v1/nothing-here", 404), ("delete", "/v1/health", 405)],
)
def test_unknown_paths_and_methods_answer_in_the_json_error_format(
    client: TestClient, method: str, path: str, status: int
) -> None:
    answer = client.request(method, path)
    assert answer.status_code == status
    assert set(answer.json()["error"]) == {"code", "message", "details"}


def test_malformed_json_is_422_not_500(client: TestClient) -> None:
    answer = client.post(
        "/v1/preview",
        content=b'{"customer": ',
        headers={**bearer("preview"), "Content-Type": "application/json"},
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid_request"


def test_the_access_log_names_routes_not_customers(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Paths and queries carry customer ids: the log has the route template only."""
    with caplog.at_level(logging.INFO, logger="payjourney.api.access"):
        client.get(
            "/v1/customers/C-NL/next-message", params={"now": NOW}, headers=bearer("preview")
        )
    lines = [r.getMessage() for r in caplog.records if r.name == "payjourney.api.access"]
    assert lines == [lines[0]] and "/v1/customers/{customer_id}/next-message 200" in lines[0]
    assert "C-NL" not in caplog.text


def test_broken_rules_stop_the_api_at_start(sqlite_url: str, tmp_path: Path) -> None:
    """A typo in the rules never serves: create_app raises with every problem."""
    (tmp_path / "personas.yaml").write_text("personas: [\n", encoding="utf-8")
    with pytest.raises(RuleError):
        create_app(config(sqlite_url).__class__(db_url=sqlite_url, rules_dir=tmp_path))


def test_metrics_count_requests_by_route(client: TestClient) -> None:
    client.get("/v1/health")
    text = client.get("/metrics", headers=bearer("all")).text
    assert 'payjourney_api_requests_total{method="GET",route="/v1/health",status="200"}' in text


def test_a_database_that_went_away_is_503_on_health(sqlite_url: str, rulebook: RuleBook) -> None:
    """Health says `unreachable` rather than failing with a 500."""
    app = create_app(config(sqlite_url), rulebook=rulebook)
    state = app.state.payjourney
    state.engine.dispose()
    state.engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with TestClient(app) as c:
        answer = c.get("/v1/health")
    assert answer.status_code == 503 and answer.json()["database"] == "unreachable"
