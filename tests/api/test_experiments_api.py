"""GET /v1/experiments: the read-out over HTTP, 404 for an unknown one, a token required."""

from __future__ import annotations

from fastapi.testclient import TestClient

from engine.store.db import make_engine
from tests.api.conftest import bearer
from tests.experiments.test_readout import NOW, _world


def test_the_api_reads_an_experiment_out(client: TestClient, sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    _world(engine)
    engine.dispose()
    answer = client.get(
        "/v1/experiments/exp-1", params={"now": NOW.isoformat()}, headers=bearer("preview")
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["window_days"] == 14  # not in the rules: the default window
    assert [v["debtors"] for v in body["variants"]] == [10, 12]
    assert body["comparisons"][0]["verdict"].startswith("not enough data yet")
    listing = client.get(
        "/v1/experiments", params={"now": NOW.isoformat()}, headers=bearer("preview")
    )
    assert [e["id"] for e in listing.json()["experiments"]] == ["exp-1"]
    missing = client.get("/v1/experiments/nope", headers=bearer("preview"))
    assert missing.status_code == 404
    assert "unknown experiment 'nope'" in missing.json()["error"]["message"]
    assert client.get("/v1/experiments").status_code == 401


def test_the_staff_page_shows_a_card_per_persona_and_the_experiments(
    client: TestClient, sqlite_url: str
) -> None:
    engine = make_engine(sqlite_url)
    _world(engine)
    engine.dispose()
    assert client.get("/personas", follow_redirects=False).status_code == 303  # sign in first
    page = client.get("/personas", headers=bearer("preview"))
    assert page.status_code == 200, page.text
    assert page.text.count('class="persona-card"') == 8  # the shipped rules' personas
    assert "Particulier in Nederland" in page.text  # a label from the rules
    assert 'id="experiment-exp-1"' in page.text and "not enough data yet" in page.text
    assert "script-src 'none'" in page.headers["content-security-policy"]
