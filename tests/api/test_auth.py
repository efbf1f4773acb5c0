"""Bearer tokens with scopes: who may read previews, who may write events, and how they fail."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from engine.api.auth import TokenConfigError, find_token, new_token, parse_tokens
from tests.api.conftest import NOW, TOKENS, bearer


def test_health_answers_without_a_token(client: TestClient) -> None:
    """Load balancers probe /v1/health without credentials."""
    answer = client.get("/v1/health")
    assert answer.status_code == 200
    assert answer.json()["database"] == "ok"
    assert answer.json()["ruleset_version"].startswith("sha256:")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/v1/customers/C-NL/next-message"),
        ("post", "/v1/preview"),
        ("post", "/v1/events"),
        ("get", "/metrics"),
    ],
)
def test_every_endpoint_but_health_needs_a_bearer_token(
    client: TestClient, method: str, path: str
) -> None:
    """No token: 401 in the JSON error format, with a WWW-Authenticate challenge."""
    answer = client.request(method, path, json={})
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"
    assert "Bearer" in answer.headers["www-authenticate"]


def test_an_unknown_token_is_refused(client: TestClient) -> None:
    """A made-up token gets 401, like none."""
    answer = client.get(
        "/v1/customers/C-NL/next-message", headers={"Authorization": "Bearer pj_made_up"}
    )
    assert answer.status_code == 401


def test_a_preview_token_cannot_write_events(client: TestClient) -> None:
    """Scopes: `preview` is read-only; posting an event with it is 403 and names the scope."""
    event = {"id": "E-1", "customer_id": "C-NL", "kind": "paid", "occurred_at": NOW}
    answer = client.post("/v1/events", json=event, headers=bearer("preview"))
    assert answer.status_code == 403
    assert "'events' scope" in answer.json()["error"]["message"]


def test_an_events_token_cannot_read_previews(client: TestClient) -> None:
    """An ERP's `events` token does not show debtors' messages."""
    answer = client.get("/v1/customers/C-NL/next-message", headers=bearer("events"))
    assert answer.status_code == 403


def test_tokens_are_configured_as_hashes_and_found_by_their_secret() -> None:
    """The configuration line holds a SHA-256, never the secret; the secret finds its token."""
    secret, token = new_token("erp", ["events"])
    line = token.line()
    assert secret not in line and line.startswith("erp:events:sha256:")
    (parsed,) = parse_tokens(f"# the ERP\n{line}\n")
    assert find_token([parsed], secret) == parsed
    assert find_token([parsed], secret + "x") is None


def test_a_malformed_token_line_says_how_to_write_one() -> None:
    """A typo in the configuration fails at start with the expected form."""
    with pytest.raises(TokenConfigError, match="name:scopes:sha256"):
        parse_tokens("erp:events:abc")
    with pytest.raises(TokenConfigError, match="unknown scope"):
        parse_tokens("erp:write:sha256:" + "0" * 64)


def test_the_scopes_of_each_test_token_are_what_the_tests_assume() -> None:
    assert TOKENS["preview"][1].scopes == {"preview"}
