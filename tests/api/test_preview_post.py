"""POST /v1/preview: the same answer for rows in the body, stored nothing; what-if rules."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from engine.store import tables as t
from engine.store.db import make_engine
from tests.api.conftest import NL_CUSTOMER, NOW, ROOT, ROWS, bearer
from tests.conftest import TOO_LONG_FOR_DURABLE_RULES


def body_for(customer: str, **extra: Any) -> dict[str, Any]:
    """The stored customer's rows as a preview body (no customer_id: it is implied)."""
    own = next(c for c in ROWS["customers"] if c["id"] == customer)

    def mine(kind: str) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in row.items() if k != "customer_id"}
            for row in ROWS[kind]
            if row["customer_id"] == customer
        ]

    return {
        "customer": own,
        "contacts": mine("contacts"),
        "invoices": mine("invoices"),
        "now": NOW,
        **extra,
    }


def post(client: TestClient, body: dict[str, Any]) -> Any:
    return client.post("/v1/preview", json=body, headers=bearer("preview"))


def without_pdf(answer: dict[str, Any]) -> dict[str, Any]:
    if answer.get("message"):
        answer["message"].pop("pdf", None)
    return answer


@pytest.mark.parametrize("customer", ["C-NL", "C-DE"])
def test_posted_rows_get_exactly_the_answer_the_stored_customer_gets(
    client: TestClient, customer: str
) -> None:
    """One fact derivation: the same rows posted or stored give the same decision, trace and
    message, field for field."""
    stored = client.get(
        f"/v1/customers/{customer}/next-message", params={"now": NOW}, headers=bearer("preview")
    ).json()
    posted = post(client, body_for(customer))
    assert posted.status_code == 200, posted.text
    assert without_pdf(posted.json()) == without_pdf(stored)


def test_a_posted_letter_carries_its_pdf_as_a_data_uri(client: TestClient) -> None:
    """Nothing is stored, so the letter comes inline."""
    answer = post(client, body_for("C-NL")).json()
    assert answer["message"]["pdf"].startswith("data:application/pdf;base64,")


def test_a_preview_stores_nothing(client: TestClient, sqlite_url: str) -> None:
    """A made-up customer previewed is not in the store afterwards."""
    body = body_for("C-NL")
    body["customer"] = {**NL_CUSTOMER, "id": "C-NEW"}
    assert post(client, body).status_code == 200
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            customers = conn.execute(select(func.count()).select_from(t.Customer)).scalar()
            found = conn.execute(select(t.Customer.id).where(t.Customer.id == "C-NEW")).first()
    finally:
        engine.dispose()
    assert customers == 2 and found is None


def test_an_invoice_paid_in_the_body_leaves_nothing_to_ask(client: TestClient) -> None:
    """`paid_date` on the only invoice: `none`, nothing open."""
    body = body_for("C-NL")
    body["invoices"][0]["paid_date"] = "2026-11-02"
    answer = post(client, body).json()
    assert answer["action"] == "none" and answer["message"] is None


def test_what_if_rules_replace_the_rule_files_for_one_call(client: TestClient) -> None:
    """A rule author tries a one-step journey by SMS-less email; the stored rules are untouched."""
    rules = {
        "pack.yaml": (
            "personas:\n  - id: everyone\n    when: always\n"
            "journeys:\n  - persona: everyone\n    locale: nl_NL\n    tone: jij\n    steps:\n"
            "      - {at: due + 1d, channel: email, template: reminder-1}\n"
            "payment_options:\n  - method: bank_transfer\n"
        )
    }
    answer = post(client, body_for("C-NL", rules=rules)).json()
    assert answer["persona"]["id"] == "everyone"
    assert answer["persona"]["source"].startswith("pack.yaml:")
    assert (answer["channel"], answer["tone"]) == ("email", "jij")
    default = post(client, body_for("C-NL")).json()
    assert default["persona"]["id"] != "everyone"
    assert default["ruleset_version"] != answer["ruleset_version"]


def test_invalid_what_if_rules_are_422_with_file_line_and_column(client: TestClient) -> None:
    """The problems `payjourney validate` prints, each with file:line:col, in `details`."""
    rules = {"personas.yaml": "personas:\n  - id: x\n    when: customer.kind = 'consumer'\n"}
    answer = post(client, body_for("C-NL", rules=rules))
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_rules"
    first = error["details"][0]
    assert (first["path"], first["line"], first["column"]) == ("personas.yaml", 3, 25)
    assert first["text"].startswith("personas.yaml:3:25: error:")


def test_what_if_rules_durable_rules_cannot_hold_are_422_at_the_persona(
    client: TestClient,
) -> None:
    """Valid rule language that does not compile (a condition too long for durable_rules) is
    the caller's mistake: 422 with the persona's file:line, never a 500."""
    rules = {
        "pack.yaml": (
            f"personas:\n  - id: odd\n    when: {TOO_LONG_FOR_DURABLE_RULES}\n"
            "  - id: everyone\n    when: always\n"
            "journeys:\n  - persona: everyone\n    locale: nl_NL\n    tone: jij\n    steps:\n"
            "      - {at: due + 1d, channel: email, template: reminder-1}\n"
            "  - persona: odd\n    locale: nl_NL\n    tone: jij\n    steps:\n"
            "      - {at: due + 1d, channel: email, template: reminder-1}\n"
            "payment_options:\n  - method: bank_transfer\n"
        )
    }
    answer = post(client, body_for("C-NL", rules=rules))
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_rules"
    (first,) = error["details"]
    assert (first["path"], first["line"], first["column"]) == ("pack.yaml", 2, 5)
    assert "durable_rules cannot hold this condition" in first["text"]


def test_what_if_rules_naming_a_missing_template_are_refused(client: TestClient) -> None:
    """Template checks run on what-if rules too: no render failure later."""
    text = (ROOT / "rules").joinpath("journeys.yaml").read_text(encoding="utf-8")
    rules = {p.name: p.read_text(encoding="utf-8") for p in sorted((ROOT / "rules").glob("*.yaml"))}
    rules["journeys.yaml"] = text.replace("template: reminder-1", "template: no-such-template", 1)
    answer = post(client, body_for("C-NL", rules=rules))
    assert answer.status_code == 422
    assert "no-such-template" in str(answer.json()["error"]["details"])


def test_bad_rows_are_422_naming_each_row_and_field(client: TestClient) -> None:
    """An invoice with a negative amount and one without a due date: both named, by position."""
    body = body_for("C-NL")
    body["invoices"] = [
        {**body["invoices"][0], "amount": "-5.00"},
        {"id": "I-2", "amount": "10.00", "currency": "EUR", "issue_date": "2026-10-01"},
    ]
    answer = post(client, body)
    assert answer.status_code == 422
    details = answer.json()["error"]["details"]
    assert {(d["row"], d["field"]) for d in details} == {
        ("invoices:1", "amount"),
        ("invoices:2", "due_date"),
    }


def test_a_row_for_another_customer_is_refused(client: TestClient) -> None:
    body = body_for("C-NL")
    body["invoices"][0]["customer_id"] = "C-OTHER"
    answer = post(client, body)
    assert answer.status_code == 422 and "one customer" in answer.json()["error"]["message"]


def test_an_unknown_top_level_field_is_422(client: TestClient) -> None:
    answer = post(client, {**body_for("C-NL"), "invoicez": []})
    assert answer.status_code == 422
    assert answer.json()["error"]["details"][0]["field"] == "invoicez"
