"""GET /v1/customers/{id}/next-message: the stored debtor's next message, as surfaces.md names it."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import NOW, bearer

FIELDS = {
    "customer_id",
    "action",
    "persona",
    "journey",
    "channel",
    "fallback_channels",
    "locale",
    "tone",
    "send_at",
    "amount_due",
    "payment_options",
    "message",
    "trace",
    "ruleset_version",
}


def next_message(client: TestClient, customer: str, now: str = NOW) -> dict:
    answer = client.get(
        f"/v1/customers/{customer}/next-message", params={"now": now}, headers=bearer("preview")
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.parametrize(
    ("customer", "locale", "now"),
    [
        ("C-NL", "nl_NL", NOW),
        # due 20 November: the nudge is stale, the Zahlungserinnerung goes out at due + 5 days
        ("C-DE", "de_DE", "2026-11-25T10:00:00+01:00"),
    ],
)
def test_a_stored_debtor_gets_the_rendered_message_with_the_surfaces_fields(
    any_db_client: TestClient, customer: str, locale: str, now: str
) -> None:
    """On SQLite and PostgreSQL: every field of the preview answer, in the debtor's language."""
    answer = next_message(any_db_client, customer, now)
    assert answer.keys() >= FIELDS
    assert answer["customer_id"] == customer
    assert answer["locale"] == locale
    assert answer["action"] == "send"
    assert answer["message"]["text"]
    assert answer["persona"]["source"].startswith("rules/") or ":" in answer["persona"]["source"]
    assert answer["ruleset_version"].startswith("sha256:")
    assert answer["amount_due"]["formatted"]


def test_send_at_is_in_the_customers_time_zone(client: TestClient) -> None:
    """Asked in UTC, the answer's send time carries the debtor's offset (Amsterdam, +01:00)."""
    answer = next_message(client, "C-NL", "2026-11-24T09:00:00+00:00")
    assert answer["send_at"].endswith("+01:00")


def test_the_bank_transfer_option_carries_an_epc_qr_code_as_a_data_uri(
    client: TestClient,
) -> None:
    """The German debtor can pay by scanning the GiroCode: a PNG data URI."""
    answer = next_message(client, "C-DE")
    transfer = [o for o in answer["payment_options"] if o["method"] == "bank_transfer"]
    assert transfer, answer["payment_options"]
    prefix = "data:image/png;base64,"
    assert transfer[0]["qr"].startswith(prefix)
    assert base64.b64decode(transfer[0]["qr"][len(prefix) :]).startswith(b"\x89PNG")


def test_a_letter_points_at_its_pdf(client: TestClient) -> None:
    """The Dutch debtor, 24 days overdue, gets the 14-day letter; its PDF is one GET away."""
    answer = next_message(client, "C-NL")
    assert answer["channel"] == "letter"
    pdf = client.get(answer["message"]["pdf"], headers=bearer("preview"))
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")


def test_a_debtor_whose_next_step_is_days_away_still_sees_that_message(
    client: TestClient,
) -> None:
    """Before the due date: `wait`, with the step's channel, its template and the message."""
    answer = next_message(client, "C-DE", "2026-11-10T10:00:00+01:00")
    assert answer["action"] == "wait"
    assert answer["channel"] is not None
    assert answer["journey"]["template"]
    assert answer["message"]["text"]


def test_an_unknown_customer_is_404_with_the_fix(client: TestClient) -> None:
    answer = client.get("/v1/customers/C-404/next-message", headers=bearer("preview"))
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["code"] == "customer_not_found" and "payjourney import" in error["message"]


def test_a_malformed_now_is_422_naming_the_parameter(client: TestClient) -> None:
    answer = client.get(
        "/v1/customers/C-NL/next-message", params={"now": "tomorrow"}, headers=bearer("preview")
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["details"][0]["field"] == "now"
