"""The debtor's own page through HTTP: what the rules allow is offered, each action lands in the
journey's life cycle, limits refuse or queue with the reason shown, and a link is the only key."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from engine.api import create_app
from engine.rules.rulebook import RuleBook
from engine.store import dialogue
from engine.store import tables as t
from engine.store.db import make_engine
from engine.store.facts_sql import fact_sheet_for
from tests.api.conftest import NOW, bearer, config
from tests.conftest import ROOT

AT = dt.datetime.fromisoformat(NOW)


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    found = make_engine(sqlite_url)
    yield found
    found.dispose()


@pytest.fixture
def page(sqlite_url: str, rulebook: RuleBook) -> Iterator[TestClient]:
    """The API with its clock at NOW (Tuesday 24 Nov 2026)."""
    app = create_app(config(sqlite_url), rulebook=rulebook)
    app.state.clock = lambda: AT
    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


def link(
    engine: Engine,
    customer: str = "C-NL",
    *,
    ttl: dt.timedelta = dt.timedelta(days=60),
    journey: str = "consumer-nl",
) -> str:
    with engine.begin() as conn:
        return dialogue.issue_link(conn, customer_id=customer, journey=journey, now=AT, ttl=ttl)


def csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found, "the page has no form"
    return found.group(1)


def post(client: TestClient, token: str, action: str, **fields: Any) -> Any:
    form = client.get(f"/p/{token}").text
    return client.post(f"/p/{token}/{action}", data={"csrf": csrf(form), **fields})


def rows(engine: Engine, model: Any, **where: Any) -> list[Any]:
    table = model.__table__
    query = select(table).where(*(table.c[k] == v for k, v in where.items()))
    with engine.connect() as conn:
        return list(conn.execute(query))


def test_the_page_shows_what_is_open_pay_first_then_what_the_rules_allow(
    page: TestClient, engine: Engine
) -> None:
    """A Dutch consumer (jij) sees the amount, the invoice, how to pay, then promise, plan,
    dispute, question and channel, as the consumer-nl rules offer them."""
    answer = page.get(f"/p/{link(engine)}")
    assert answer.status_code == 200
    html = answer.text
    assert 'lang="nl"' in html
    assert "€ 120,00" in html and "INV-NL-1" in html and "31 oktober 2026" in html
    assert "Je betaling aan" in html  # the journey's tone: jij
    order = [
        html.index(f'id="{part}"')
        for part in ("pay", "promise", "plan", "dispute", "question", "channel")
    ]
    assert order == sorted(order)
    assert "NL91 ABNA 0417 1643 00" in html  # bank transfer, with its QR code
    assert 'max="2026-11-30"' in html  # the promise limit: due + 30d
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["cache-control"] == "no-store"
    assert "script-src" not in answer.headers["content-security-policy"]  # default-src 'none'


def test_a_german_debtor_gets_the_page_in_german_sie(page: TestClient, engine: Engine) -> None:
    html = page.get(f"/p/{link(engine, 'C-DE', journey='consumer-de')}").text
    assert 'lang="de"' in html and "Ihre Zahlung an" in html and "80,00 €" in html


def test_a_promise_within_the_limit_pauses_the_journey_and_schedules_the_confirmation(
    page: TestClient, engine: Engine
) -> None:
    token = link(engine)
    answer = post(page, token, "promise", until="2026-11-28")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/p/{token}?done=promise"
    facts = fact_sheet_for(engine, "C-NL", AT)
    assert facts["journey.promised_until"] == dt.date(2026, 11, 28)
    [promise] = rows(engine, t.PromiseToPay, customer_id="C-NL")
    assert str(promise.amount) == "120.00" and promise.channel == "page"
    [confirmation] = rows(engine, t.ScheduledStep, template="promise-confirmation")
    assert confirmation.status == "scheduled"
    shown = page.get(answer.headers["location"]).text
    assert "Afgesproken: je betaalt uiterlijk 28 november 2026" in shown


def test_a_promise_beyond_the_limit_is_refused_with_the_reason_shown(
    page: TestClient, engine: Engine
) -> None:
    answer = post(page, link(engine), "promise", until="2026-12-15")
    assert answer.status_code == 422
    assert "Dat kan helaas niet" in answer.text
    assert (
        "15 december 2026 is later dan de laatst mogelijke datum (30 november 2026)" in answer.text
    )
    assert not rows(engine, t.PromiseToPay)
    assert not rows(engine, t.Event, kind="promised")


def test_a_plan_within_the_limits_is_approved_with_its_instalments(
    page: TestClient, engine: Engine
) -> None:
    """3 instalments of € 40 every 14 days from today: within consumer-nl's limits, in force at
    once: instalment 1 is the promise that pauses the journey, the others get reminders."""
    token = link(engine)
    answer = post(page, token, "plan", count="3", first="2026-11-24")
    assert answer.status_code == 303 and answer.headers["location"].endswith("done=plan")
    [plan] = rows(engine, t.PaymentPlan, customer_id="C-NL")
    assert plan.status == "active" and plan.current == 1
    assert [(i["due_date"], i["amount"]) for i in plan.instalments] == [
        ("2026-11-24", "40.00"),
        ("2026-12-08", "40.00"),
        ("2026-12-22", "40.00"),
    ]
    assert fact_sheet_for(engine, "C-NL", AT)["journey.promised_until"] == dt.date(2026, 11, 24)
    reminders = rows(engine, t.ScheduledStep, template="instalment-reminder")
    assert sorted(r.ruleset_version for r in reminders) == [
        f"plan:{plan.id}:2",
        f"plan:{plan.id}:3",
    ]
    shown = page.get(answer.headers["location"]).text
    assert "Je betalingsregeling" in shown and "22 december 2026" in shown


def test_a_plan_beyond_the_limits_is_queued_for_a_person_when_the_rules_say_so(
    page: TestClient, engine: Engine
) -> None:
    """consumer-nl allows 3 instalments and queues more (`beyond_limits: person`)."""
    answer = post(page, link(engine), "plan", count="4", first="2026-11-24")
    assert answer.status_code == 303 and answer.headers["location"].endswith("done=queued")
    [plan] = rows(engine, t.PaymentPlan, customer_id="C-NL")
    assert plan.status == "awaiting_approval"
    [task] = rows(engine, t.Task, kind="arrangement")
    assert task.plan_id == plan.id
    assert "4 instalments is more than the 3 the rules allow" in task.data["reasons"][0]
    assert fact_sheet_for(engine, "C-NL", AT)["journey.promised_until"] is None  # not yet


def test_a_plan_beyond_the_limits_is_refused_when_the_rules_say_so(
    page: TestClient, engine: Engine
) -> None:
    """consumer-de allows 4 instalments of at least € 20 and refuses beyond."""
    answer = post(
        page, link(engine, "C-DE", journey="consumer-de"), "plan", count="5", first="2026-11-24"
    )
    assert answer.status_code == 422
    assert "5 Raten sind mehr als die möglichen 4" in answer.text
    assert "eine Rate von 16.00 ist niedriger als das Minimum von 20" in answer.text
    assert not rows(engine, t.PaymentPlan)


def test_an_arrangement_the_rules_send_to_a_person_waits_for_approval(
    page: TestClient, engine: Engine
) -> None:
    """consumer-de plans need a person (`approval: person`); approving it puts it in force."""
    answer = post(
        page, link(engine, "C-DE", journey="consumer-de"), "plan", count="2", first="2026-11-30"
    )
    assert answer.headers["location"].endswith("done=queued")
    [task] = page.get("/v1/tasks", headers=bearer("preview")).json()["tasks"]
    assert task["kind"] == "arrangement" and task["customer_id"] == "C-DE"
    closed = page.post(
        f"/v1/tasks/{task['id']}/close", json={"approve": True}, headers=bearer("events")
    )
    assert closed.status_code == 200
    [plan] = rows(engine, t.PaymentPlan, customer_id="C-DE")
    assert plan.status == "active"
    assert fact_sheet_for(engine, "C-DE", AT)["journey.promised_until"] == dt.date(2026, 11, 30)


def test_a_dispute_pauses_and_creates_a_task_with_the_reason(
    page: TestClient, engine: Engine
) -> None:
    answer = post(page, link(engine), "dispute", reason="Ik heb de bestelling nooit ontvangen.")
    assert answer.status_code == 303
    facts = fact_sheet_for(engine, "C-NL", AT)
    assert facts["behaviour.open_disputes"] == 1
    [task] = rows(engine, t.Task, kind="dispute")
    assert task.text == "Ik heb de bestelling nooit ontvangen." and task.status == "open"
    listed = page.get("/v1/tasks", headers=bearer("preview")).json()["tasks"]
    assert [h["what"] for h in listed[0]["history"]] == ["disputed"]
    assert "we zoeken het uit" in page.get(answer.headers["location"]).text
    later = page.get(answer.headers["location"].split("?")[0]).text  # the next visit
    assert 'id="disputed"' in later and 'id="dispute"' not in later


def test_a_question_creates_a_task_and_pauses_nothing(page: TestClient, engine: Engine) -> None:
    answer = post(page, link(engine), "question", text="Mag ik een kopie van de factuur?")
    assert answer.status_code == 303
    [task] = rows(engine, t.Task, kind="question")
    assert task.text == "Mag ik een kopie van de factuur?"
    assert fact_sheet_for(engine, "C-NL", AT)["behaviour.open_disputes"] == 0


def test_a_channel_preference_updates_the_contact_and_records_the_consent(
    page: TestClient, engine: Engine
) -> None:
    answer = post(page, link(engine), "channel", choice="sms", address="+31612345678")
    assert answer.status_code == 303
    [contact] = rows(engine, t.Contact, customer_id="C-NL")
    assert (
        contact.preferred_channel == "sms"
        and contact.consent_sms
        and contact.phone == "+31612345678"
    )
    [record] = rows(engine, t.ConsentRecord, customer_id="C-NL")
    assert (
        record.source == "debtor-page"
        and record.channel == "sms"
        and record.recorded_at is not None
    )


def test_an_action_the_rules_do_not_offer_is_not_shown_and_refused(
    sqlite_url: str, engine: Engine, tmp_path: Path
) -> None:
    """With consumer-nl offering only pay and question, the page shows no promise form and a
    posted promise is refused."""
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    (rules / "self_service.yaml").write_text(
        "self_service:\n  - persona: consumer-nl\n    offer: [pay, question]\n", encoding="utf-8"
    )
    app = create_app(config(sqlite_url), rulebook=RuleBook(rules))
    app.state.clock = lambda: AT
    with TestClient(app, follow_redirects=False) as client:
        token = link(engine)
        form = client.get(f"/p/{token}").text
        assert 'id="promise"' not in form and 'id="question"' in form
        answer = client.post(
            f"/p/{token}/promise", data={"csrf": csrf(form), "until": "2026-11-28"}
        )
    assert answer.status_code == 403
    assert not rows(engine, t.PromiseToPay)


def test_forged_expired_revoked_and_other_debtors_tokens_get_nothing(
    page: TestClient, engine: Engine
) -> None:
    """Each gets the same page with no debtor data; a form of one debtor's page does not work
    with another's link."""
    nl, de = link(engine), link(engine, "C-DE", journey="consumer-de")
    expired = link(engine, ttl=dt.timedelta(seconds=-1))
    revoked = link(engine, "C-DE", journey="consumer-de")
    with engine.begin() as conn:
        conn.execute(
            t.DebtorLink.__table__.update()  # type: ignore[attr-defined]
            .where(t.DebtorLink.__table__.c.token_hash == dialogue.token_digest(revoked))  # type: ignore[attr-defined]
            .values(revoked_at=AT)
        )
    forged = nl[:-4] + ("AAAA" if not nl.endswith("AAAA") else "BBBB")
    answers = [page.get(f"/p/{tok}") for tok in (forged, expired, revoked)]
    assert {a.status_code for a in answers} == {404}
    assert len({a.text for a in answers}) == 1
    for a in answers:
        assert "Jan de Vries" not in a.text and "120" not in a.text and "Max" not in a.text
        assert "Deze link werkt niet meer" in a.text and "+31 20 123 4567" in a.text
    assert "Jan de Vries" not in page.get(f"/p/{de}").text
    stolen = csrf(page.get(f"/p/{nl}").text)
    answer = page.post(f"/p/{de}/question", data={"csrf": stolen, "text": "hallo"})
    assert answer.status_code == 403
    answer = page.post(f"/p/{expired}/question", data={"csrf": stolen, "text": "hallo"})
    assert answer.status_code == 404
    assert not rows(engine, t.Task)


def test_tokens_are_stored_only_as_hashes(engine: Engine) -> None:
    token = link(engine)
    [row] = rows(engine, t.DebtorLink)
    assert row.token_hash == dialogue.token_digest(token) and token not in row.token_hash
    assert len(token) >= 43  # 256 bits


def test_a_form_without_its_csrf_token_changes_nothing(page: TestClient, engine: Engine) -> None:
    token = link(engine)
    answer = page.post(f"/p/{token}/dispute", data={"csrf": "0" * 64, "reason": "x"})
    assert answer.status_code == 403
    assert not rows(engine, t.Dispute)


def test_guessing_links_is_rate_limited(page: TestClient, engine: Engine) -> None:
    statuses = [page.get(f"/p/guess{n}").status_code for n in range(62)]
    assert statuses[:60] == [404] * 60
    assert statuses[-1] == 429


def test_a_reply_is_matched_to_its_message_pauses_and_becomes_a_task(
    page: TestClient, engine: Engine
) -> None:
    with engine.begin() as conn:
        conn.execute(
            t.Message.__table__.insert().values(  # type: ignore[attr-defined]
                id="M-1",
                customer_id="C-NL",
                channel="sms",
                recipient="+31611111111",
                status="sent",
                trace=[],
                status_history=[],
                created_at=AT,
                sent_at=AT,
            )
        )
        conn.execute(
            t.Journey.__table__.insert().values(  # type: ignore[attr-defined]
                customer_id="C-NL",
                persona="consumer-nl",
                ruleset_version="x",
                state="active",
                steps_sent=1,
                started_at=AT,
                updated_at=AT,
            )
        )
    answer = page.post(
        "/v1/replies",
        json={
            "id": "sms-9",
            "channel": "sms",
            "sender": "+31611111111",
            "text": "Ik betaal vrijdag",
        },
        headers=bearer("events"),
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["message_id"] == "M-1"
    [task] = rows(engine, t.Task, kind="reply")
    assert task.text == "Ik betaal vrijdag" and task.message_id == "M-1"
    [journey] = rows(engine, t.Journey, customer_id="C-NL")
    assert journey.state == "paused" and journey.paused_until is not None
    unknown = page.post(
        "/v1/replies",
        json={"id": "sms-10", "channel": "sms", "sender": "+31600000000", "text": "?"},
        headers=bearer("events"),
    )
    assert unknown.status_code == 404


def test_the_staff_page_lists_open_tasks_with_the_debtors_history(
    page: TestClient, engine: Engine
) -> None:
    post(page, link(engine), "dispute", reason="Verkeerd bedrag")
    html = page.get("/tasks", headers=bearer("preview")).text
    assert "dispute" in html and "Verkeerd bedrag" in html and "C-NL" in html


def test_a_forgotten_debtors_link_opens_nothing(page: TestClient, engine: Engine) -> None:
    from engine.store.forget import forget

    token = link(engine)
    post(page, token, "question", text="Wie ben ik?")
    forget(engine, "C-NL", now=AT)
    assert page.get(f"/p/{token}").status_code == 404
    [task] = rows(engine, t.Task)
    assert task.text is None and task.customer_id.startswith("forgotten-")


def test_payjourney_tasks_lists_and_closes_what_awaits_a_person(
    page: TestClient, engine: Engine, sqlite_url: str
) -> None:
    from typer.testing import CliRunner

    from engine.cli import app

    post(page, link(engine), "dispute", reason="Dubbel gefactureerd")
    runner = CliRunner()
    listed = runner.invoke(app, ["--db", sqlite_url, "tasks", "--json"])
    assert listed.exit_code == 0, listed.output
    [task] = json.loads(listed.output)
    assert (task["kind"], task["text"]) == ("dispute", "Dubbel gefactureerd")
    assert [h["what"] for h in task["history"]] == ["disputed"]
    closed = runner.invoke(
        app,
        ["--db", sqlite_url, "--rules", str(ROOT / "rules"), "tasks", "--close", str(task["id"])],
    )
    assert closed.exit_code == 0, closed.output
    assert fact_sheet_for(engine, "C-NL", dt.datetime.now(dt.UTC))["behaviour.open_disputes"] == 0
    again = runner.invoke(app, ["--db", sqlite_url, "tasks", "--close", str(task["id"])])
    assert again.exit_code == 1 and "closed already" in again.output
