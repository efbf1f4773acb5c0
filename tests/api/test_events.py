"""POST /v1/events: recorded once per id, and the debtor's next message follows from it."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from engine.store import tables as t
from engine.store.db import make_engine
from tests.api.conftest import NOW, bearer

PROMISE = {
    "id": "E-PROMISE-1",
    "customer_id": "C-NL",
    "kind": "promised",
    "occurred_at": "2026-11-23T10:00:00+01:00",
    "channel": "phone",
    "data": {"amount": "120.00", "until": "2026-12-05"},
}


def count(url: str, table: type) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)
    finally:
        engine.dispose()


def test_a_promise_to_pay_pauses_the_debtors_next_message(client: TestClient) -> None:
    """Recorded promise: 201, and the next message becomes `none` until the promised date."""
    answer = client.post("/v1/events", json=PROMISE, headers=bearer("events"))
    assert answer.status_code == 201, answer.text
    assert answer.json()["recorded"] is True
    preview = client.get(
        "/v1/customers/C-NL/next-message", params={"now": NOW}, headers=bearer("preview")
    ).json()
    assert preview["action"] == "none" and "promise" in preview["reason"]


def test_the_same_event_twice_is_recorded_once(client: TestClient, sqlite_url: str) -> None:
    """A retry after a timeout: 200 with the first result, one event and one promise stored."""
    first = client.post("/v1/events", json=PROMISE, headers=bearer("events"))
    again = client.post("/v1/events", json=PROMISE, headers=bearer("events"))
    assert (first.status_code, again.status_code) == (201, 200)
    assert {**first.json(), "recorded": None} == {**again.json(), "recorded": None}
    assert again.json()["recorded"] is False
    assert count(sqlite_url, t.Event) == 1
    assert count(sqlite_url, t.PromiseToPay) == 1


def test_a_known_id_with_other_content_is_a_conflict(client: TestClient) -> None:
    """An id names one event: reusing it for another is 409, and the first stands."""
    client.post("/v1/events", json=PROMISE, headers=bearer("events"))
    other = {**PROMISE, "kind": "disputed", "data": {"reason": "wrong amount"}}
    answer = client.post("/v1/events", json=other, headers=bearer("events"))
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "event_id_conflict"


def test_a_dispute_pauses_the_journey(client: TestClient) -> None:
    event = {
        "id": "E-D",
        "customer_id": "C-DE",
        "kind": "disputed",
        "occurred_at": "2026-11-23T10:00:00+01:00",
        "data": {"reason": "not delivered"},
    }
    answer = client.post("/v1/events", json=event, headers=bearer("events"))
    assert answer.status_code == 201 and answer.json()["next_action"] == "none"


def test_an_event_for_an_unknown_customer_is_404(client: TestClient) -> None:
    answer = client.post(
        "/v1/events", json={**PROMISE, "customer_id": "C-404"}, headers=bearer("events")
    )
    assert answer.status_code == 404


def test_an_unknown_event_kind_is_422_listing_the_kinds(client: TestClient) -> None:
    answer = client.post(
        "/v1/events", json={**PROMISE, "kind": "ghosted"}, headers=bearer("events")
    )
    assert answer.status_code == 422
    assert "delivered" in answer.json()["error"]["details"][0]["problem"]
