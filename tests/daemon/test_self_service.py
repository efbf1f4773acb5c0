"""The dialogue on the daemon's clock: a payment plan pauses the journey instalment by
instalment and a missed one resumes it; a reply pauses until its task is closed or the pause
ends; every message carries a personal link whose token is kept only as a hash."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine

from engine.daemon import dialogue
from engine.decision.arrangements import Instalment
from engine.store import dialogue as stored
from engine.store import tables as t
from tests.daemon.harness import STEP1, Clock, World, debtor, event, pay, rules
from tests.daemon.test_lifecycle import plain_text

BEFORE = STEP1 - dt.timedelta(hours=28)  # Wednesday 4 Nov, 03:00 UTC


def started(store_: Engine, tmp_path: Path, **settings: object) -> World:
    debtor(store_, tmp_path)
    world = World(store_, tmp_path, Clock(BEFORE), **settings)  # type: ignore[arg-type]
    world.plan()
    return world


def tick(world: World) -> int:
    """The daemon's round: plans advance before paused journeys resume (Daemon.resume)."""
    dialogue.advance_plans(world.store, rules(), world.clock(), grace=world.settings.promise_grace)
    return int(world.tick()["sent"])


def sent(world: World) -> list[str]:
    return [m.template for m in world.messages() if m.status == "sent"]


def _qr_amounts(eml: Path) -> list[str]:
    """The amount line of each EPC QR code in an email, read back from its PNG by zxing-cpp."""
    import email
    import io

    import zxingcpp
    from PIL import Image

    amounts = []
    for part in email.message_from_bytes(eml.read_bytes()).walk():
        if part.get_content_type() == "image/png":
            png = bytes(part.get_payload(decode=True))
            for code in zxingcpp.read_barcodes(Image.open(io.BytesIO(png))):
                amounts.append(code.text.splitlines()[7])
    return amounts


def test_a_plan_reminds_per_instalment_and_a_missed_instalment_resumes_the_journey(
    store: Engine, tmp_path: Path
) -> None:
    world = started(store, tmp_path)
    with store.begin() as conn:
        store_plan = dialogue.instalment_rows(
            [
                Instalment(number=1, due_date=dt.date(2026, 11, 10), amount=Decimal(250)),
                Instalment(number=2, due_date=dt.date(2026, 11, 24), amount=Decimal(250)),
            ]
        )
        stored.add_plan(
            conn,
            plan_id="P-1",
            customer_id="C-1",
            status="active",
            total=Decimal(500),
            currency="EUR",
            instalments=store_plan,
            now=BEFORE,
        )
    dialogue.start_plan(store, rules(), "P-1", BEFORE, grace=world.settings.promise_grace)
    assert world.journey().state == "paused"

    world.clock.now = dt.datetime(2026, 11, 4, 9, 0, tzinfo=dt.UTC)
    tick(world)
    assert sent(world) == ["promise-confirmation"]

    world.clock.now = dt.datetime(2026, 11, 7, 9, 0, tzinfo=dt.UTC)  # 3 days before instalment 1
    tick(world)
    assert sent(world) == ["promise-confirmation", "instalment-reminder"]
    # the reminder asks for the instalment (its QR code and payment details too), and names
    # the total still open only as such
    reminder = world.messages()[-1]
    text = plain_text(world.outbox / f"{reminder.id}.email.eml")
    assert "Volgende termijn: € 250,00, uiterlijk 10 november 2026" in text
    assert "In totaal staat nog € 500,00 open" in text
    assert "Bedrag: € 250,00" in text
    assert "Te betalen: € 500,00" not in text
    assert _qr_amounts(world.outbox / f"{reminder.id}.email.eml") == ["EUR250.00"]

    world.clock.now = dt.datetime(2026, 11, 9, 10, 0, tzinfo=dt.UTC)
    pay(store, tmp_path, world.clock, "250.00")
    tick(world)
    [plan] = world.rows(t.PaymentPlan)
    assert (plan.status, plan.current) == ("active", 2)

    world.clock.now = dt.datetime(2026, 11, 12, 9, 0, tzinfo=dt.UTC)  # instalment 1's pause over
    assert tick(world) == 0  # the plan holds: no reminder
    assert world.journey().state == "paused"

    world.clock.now = dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC)  # 3 days before instalment 2
    tick(world)
    assert sent(world)[-1] == "instalment-reminder"

    world.clock.now = dt.datetime(2026, 11, 26, 9, 0, tzinfo=dt.UTC)  # instalment 2 missed
    tick(world)
    [plan] = world.rows(t.PaymentPlan)
    assert plan.status == "broken"
    assert world.journey().state == "active"
    assert sent(world)[-1] == "reminder-2"  # the journey goes on where it stands


def test_a_reply_pauses_the_steps_until_the_pause_ends(store: Engine, tmp_path: Path) -> None:
    world = started(store, tmp_path)
    world.clock.now = dt.datetime(2026, 11, 4, 9, 0, tzinfo=dt.UTC)
    event(store, world.clock, "R-1", "replied", channel="email", data={"text": "Ik bel u morgen."})
    tick(world)
    [task] = world.rows(t.Task)
    assert (task.kind, task.text, task.status) == ("reply", "Ik bel u morgen.", "open")
    assert world.journey().state == "paused"

    world.clock.now = STEP1 + dt.timedelta(hours=2)  # reminder-1 was due now
    assert tick(world) == 0
    world.clock.now = dt.datetime(2026, 11, 7, 10, 0, tzinfo=dt.UTC)  # 3 days after the reply
    tick(world)
    assert sent(world) == ["reminder-1"]


def test_closing_the_reply_task_resumes_the_journey_at_once(store: Engine, tmp_path: Path) -> None:
    world = started(store, tmp_path)
    world.clock.now = dt.datetime(2026, 11, 4, 9, 0, tzinfo=dt.UTC)
    event(store, world.clock, "R-1", "replied", channel="sms", data={"text": "Klopt niet"})
    tick(world)
    world.clock.now = STEP1 + dt.timedelta(hours=2)
    assert tick(world) == 0
    [task] = world.rows(t.Task)
    dialogue.close(store, rules(), task.id, now=world.clock(), by="test", note="called back")
    assert world.journey().state == "active"
    tick(world)
    assert sent(world) == ["reminder-1"]


def test_every_message_carries_a_personal_link_kept_only_as_a_hash(
    store: Engine, tmp_path: Path
) -> None:
    world = started(store, tmp_path, public_url="https://pay.example.nl/")
    world.clock.now = STEP1 + dt.timedelta(hours=2)
    tick(world)
    text = plain_text(next(world.outbox.glob("*.eml")))
    found = re.search(r"https://pay\.example\.nl/p/([A-Za-z0-9_-]{43})", text)
    assert found, text
    token = found.group(1)
    [row] = world.rows(t.DebtorLink)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert row.customer_id == "C-1" and row.message_id == world.messages()[0].id
    assert store_link_works(store, token, world.clock())


def store_link_works(engine: Engine, token: str, now: dt.datetime) -> bool:
    found = stored.find_link(engine, token, now)
    return found is not None and found.customer_id == "C-1"
