"""The debtor's page in headless Chromium on a phone: opened from the link in a rendered message,
pay, promise, ask for a payment plan and dispute; axe-core finds no serious accessibility
problem; screenshots are kept for a person to look at (PAYJOURNEY_SCREENSHOTS=dir)."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from engine.api import create_app
from engine.decision.decide import decide
from engine.messages.render import render_preview
from engine.rules.rulebook import RuleBook
from engine.store import dialogue
from engine.store import tables as t
from engine.store.db import make_engine
from engine.store.facts_sql import fact_sheet_for
from engine.store.importer import import_rows
from engine.store.message_data import message_data
from engine.store.migrate import upgrade
from tests.api.conftest import _free_port, config
from tests.api.test_browser import chromium, screenshots  # noqa: F401  (fixture)

PHONE = {"width": 390, "height": 844}
#: WCAG 2.1 A and AA rules of axe-core.
WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


class _Checkout(BaseHTTPRequestHandler):
    """Plays the payment provider's checkout page the pay button leads to."""

    def do_GET(self) -> None:
        body = (
            b"<!doctype html><html lang='en'><title>Checkout</title><h1>Test checkout</h1></html>"
        )
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        return None


def _debtors(today: dt.date) -> dict[str, list[dict[str, Any]]]:
    due = (today - dt.timedelta(days=10)).isoformat()
    issued = (today - dt.timedelta(days=40)).isoformat()
    people = [
        ("C-1", "NL", "Jan de Vries"),
        ("C-2", "NL", "Emma Jansen"),
        ("C-3", "DE", "Max Müller"),
    ]
    return {
        "customers": [{"id": c, "kind": "consumer", "country": k, "name": n} for c, k, n in people],
        "contacts": [
            {"id": f"K-{c}", "customer_id": c, "email": f"{c.lower()}@example.org"}
            for c, _, _ in people
        ],
        "invoices": [
            {
                "id": f"INV-{c}",
                "customer_id": c,
                "amount": "120.00",
                "currency": "EUR",
                "issue_date": issued,
                "due_date": due,
            }
            for c, _, _ in people
        ],
    }


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, str, Any]]:
    """The API served by uvicorn on the real clock, a store of three debtors due ten days ago,
    and a checkout page; yields the API's address, the checkout's and the store."""
    url = f"sqlite:///{tmp_path / 'page.db'}"
    engine = make_engine(url)
    upgrade(engine)
    import_rows(
        engine, _debtors(dt.date.today()), now=dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    )
    checkout = ThreadingHTTPServer(("127.0.0.1", 0), _Checkout)
    threading.Thread(target=checkout.serve_forever, daemon=True).start()
    port = _free_port()
    app = create_app(config(url))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    try:
        yield base, f"http://127.0.0.1:{checkout.server_port}", engine
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        checkout.shutdown()
        checkout.server_close()
        engine.dispose()


def message_link(base: str, engine: Any, customer: str, checkout: str) -> str:
    """The personal link as the message renders it (and the message's iDEAL link recorded, as
    the daemon records it, so the page offers the same pay button)."""
    now = dt.datetime.now(dt.UTC)
    rules = RuleBook(Path("rules")).current
    facts = fact_sheet_for(engine, customer, now)
    decision = decide(rules, facts, now)
    with engine.begin() as conn:
        token = dialogue.issue_link(
            conn, customer_id=customer, journey=str(decision.persona), now=now
        )
        conn.execute(
            t.Message.__table__.insert().values(  # type: ignore[attr-defined]
                id=f"M-{customer}",
                customer_id=customer,
                channel="email",
                status="sent",
                status_history=[],
                created_at=now,
                sent_at=now,
                trace=[
                    {
                        "rule": "dispatch",
                        "payment_links": [
                            {
                                "method": "ideal",
                                "url": f"{checkout}/pay/{customer}",
                                "provider": "test",
                            }
                        ],
                    }
                ],
            )
        )
    import dataclasses

    from engine.decision.model import Action

    assert decision.template is not None  # the step that is (or will be) sent
    shown = dataclasses.replace(decision, action=Action.SEND, channel="email", send_at=now)
    answer = render_preview(
        shown,
        facts,
        invoices=message_data(engine, customer, now).invoices,
        settings=rules.spec.settings,
        page_url=f"{base}/p/{token}",
    )
    found = re.search(r"(http://127\.0\.0\.1:\d+/p/[A-Za-z0-9_-]+)", answer["message"]["text"])
    assert found, answer["message"]["text"]
    return found.group(1)


def no_serious_problems(page: Any) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options=WCAG)
    serious = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not serious, results.generate_report()


def test_a_debtor_pays_promises_plans_and_disputes_on_a_phone(
    chromium: str,  # noqa: F811  (the fixture)
    site: tuple[str, str, Any],
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, checkout, engine = site
    shots = screenshots(tmp_path)
    links = {c: message_link(base, engine, c, checkout) for c in ("C-1", "C-2", "C-3")}
    in_a_week = (dt.date.today() + dt.timedelta(days=7)).isoformat()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--lang=nl-NL"])
        context = browser.new_context(
            viewport=PHONE, is_mobile=True, has_touch=True, bypass_csp=True, locale="nl-NL"
        )
        page = context.new_page()

        page.goto(links["C-1"])
        expect(page.locator("h1")).to_contain_text("betaling aan")
        expect(page.locator("#amount")).to_have_text("€ 120,00")
        page.screenshot(path=str(shots / "debtor-nl.png"), full_page=True)
        no_serious_problems(page)
        page.get_by_role("link", name=re.compile("Betaal € 120,00 met iDEAL")).click()
        expect(page.locator("h1")).to_have_text("Test checkout")
        page.go_back()

        page.get_by_label("Ik betaal op").fill(in_a_week)
        page.get_by_role("button", name="Betaalafspraak maken").click()
        expect(page.locator("#done")).to_contain_text("Afgesproken")
        page.screenshot(path=str(shots / "debtor-nl-promised.png"), full_page=True)
        no_serious_problems(page)

        page.goto(links["C-2"])
        page.get_by_label("Aantal termijnen").select_option("3")
        page.get_by_role("button", name="Betalingsregeling aanvragen").click()
        expect(page.locator("#done")).to_contain_text("betalingsregeling staat")
        expect(page.locator("#plan-now tbody tr")).to_have_count(3)
        page.screenshot(path=str(shots / "debtor-nl-plan.png"), full_page=True)

        page.goto(links["C-3"])
        expect(page.locator("h1")).to_contain_text("Zahlung an")
        page.get_by_label("Was stimmt nicht?").fill("Die Ware kam beschädigt an.")
        page.get_by_role("button", name="Absenden").click()
        expect(page.locator("#done")).to_contain_text("wir klären das")
        page.screenshot(path=str(shots / "debtor-de-disputed.png"), full_page=True)
        no_serious_problems(page)

        page.goto(f"{base}/p/not-a-real-token")
        expect(page.locator("h1")).to_contain_text("Deze link werkt niet meer")
        no_serious_problems(page)
        browser.close()

    with engine.connect() as conn:
        tasks = conn.execute(t.Task.__table__.select()).all()  # type: ignore[attr-defined]
        plans = conn.execute(t.PaymentPlan.__table__.select()).all()  # type: ignore[attr-defined]
    assert [(x.customer_id, x.kind) for x in tasks] == [("C-3", "dispute")]
    assert [(x.customer_id, x.status) for x in plans] == [("C-2", "active")]
