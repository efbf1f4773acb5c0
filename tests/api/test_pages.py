"""The staff page: sign in with a token, find a debtor, see the message beside its trace."""

from __future__ import annotations

from fastapi.testclient import TestClient

from engine.api import create_app
from engine.rules.rulebook import RuleBook
from engine.store.db import make_engine
from engine.store.importer import import_rows
from tests.api.conftest import NOW, TOKENS, bearer, config


def signed_in(client: TestClient, kind: str = "preview") -> TestClient:
    answer = client.post(
        "/login", data={"token": TOKENS[kind][0], "next": "/preview"}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    return client


def test_without_a_session_the_page_sends_staff_to_sign_in(client: TestClient) -> None:
    answer = client.get("/preview/C-NL", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/preview/C-NL"


def test_a_wrong_token_at_sign_in_is_refused(client: TestClient) -> None:
    answer = client.post("/login", data={"token": "pj_nope"}, follow_redirects=False)
    assert answer.status_code == 401 and "not known" in answer.text


def test_an_events_token_cannot_sign_in_to_the_page(client: TestClient) -> None:
    answer = client.post("/login", data={"token": TOKENS["events"][0]}, follow_redirects=False)
    assert answer.status_code == 401


def test_the_session_cookie_holds_no_token(client: TestClient) -> None:
    signed_in(client)
    cookie = client.cookies.get("payjourney_session") or ""
    assert cookie.startswith("staff|") and TOKENS["preview"][0] not in cookie


def test_search_finds_a_debtor_by_part_of_the_name(client: TestClient) -> None:
    page = signed_in(client).get("/preview", params={"q": "müller"})
    assert page.status_code == 200 and 'href="/preview/C-DE"' in page.text


def test_search_by_exact_id_opens_the_debtor(client: TestClient) -> None:
    answer = signed_in(client).get("/preview", params={"q": "C-NL"}, follow_redirects=False)
    assert answer.headers["location"] == "/preview/C-NL"


def test_the_page_shows_the_email_in_a_sandboxed_frame_and_the_trace(client: TestClient) -> None:
    """The German debtor's first reminder: the HTML email without scripts, the QR, the trace."""
    page = signed_in(client).get("/preview/C-DE", params={"now": NOW})
    assert page.status_code == 200
    html = page.text
    assert '<iframe class="email" sandbox=""' in html
    assert 'src="data:image/png;base64,' in html
    assert 'id="trace"' in html and "rules/personas.yaml:" in html
    assert "script-src 'none'" in page.headers["content-security-policy"]


def test_a_letter_is_shown_inline_as_its_pdf(client: TestClient) -> None:
    page = signed_in(client).get("/preview/C-NL", params={"now": NOW})
    assert '<object class="letter"' in page.text
    pdf = client.get(f"/preview/C-NL/letter.pdf?now={NOW.replace('+', '%2B')}")
    assert pdf.content.startswith(b"%PDF-")


def test_a_bearer_token_opens_the_page_too(client: TestClient) -> None:
    page = client.get("/preview/C-DE", params={"now": NOW}, headers=bearer("preview"))
    assert page.status_code == 200


def test_an_unknown_debtor_shows_the_search_with_a_note(client: TestClient) -> None:
    page = signed_in(client).get("/preview/C-404")
    assert page.status_code == 404 and "No customer with id" in page.text


def test_a_whatsapp_message_is_shown_as_a_phone_bubble(sqlite_url: str, rulebook: RuleBook) -> None:
    """A Dutch consumer who opted in to WhatsApp, ten days overdue: the text in a bubble."""
    engine = make_engine(sqlite_url)
    try:
        import_rows(
            engine,
            {
                "customers": [
                    {"id": "C-WA", "kind": "consumer", "country": "NL", "name": "Sanne Bakker"}
                ],
                "contacts": [
                    {
                        "id": "K-WA",
                        "customer_id": "C-WA",
                        "whatsapp": "+31612345678",
                        "consent_whatsapp": True,
                    }
                ],
                "invoices": [
                    {
                        "id": "INV-WA",
                        "customer_id": "C-WA",
                        "amount": "42.50",
                        "currency": "EUR",
                        "issue_date": "2026-10-15",
                        "due_date": "2026-11-14",
                    }
                ],
            },
        )
    finally:
        engine.dispose()
    with TestClient(create_app(config(sqlite_url), rulebook=rulebook)) as client:
        page = client.get("/preview/C-WA", params={"now": NOW}, headers=bearer("preview"))
    assert page.status_code == 200
    assert '<div class="phone whatsapp">' in page.text
    assert 'id="bubble"' in page.text and "42,50" in page.text
