"""Journeys run for real, on a clock the test moves: sent once, stopped by a payment, paused by a
promise or a dispute, resumed by a broken promise, ended by a handoff, moved to the next channel
on a bounce or on silence, retried after a transient failure."""

from __future__ import annotations

import datetime as dt
import email
from pathlib import Path

from sqlalchemy import Engine

from engine.messages.payments.base import PaymentLink, PaymentRequest
from engine.store import tables as t
from tests.daemon.harness import DUE, STEP1, Clock, World, debtor, event, pay
from tests.store.builders import load


def plain_text(eml: Path) -> str:
    """The text part of an .eml the outbox wrote."""
    message = email.message_from_bytes(eml.read_bytes())
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return bytes(part.get_payload(decode=True)).decode()
    raise AssertionError(f"{eml} has no text part")


IN_WINDOW = STEP1 + dt.timedelta(hours=2)  # Thursday 10:00 in Amsterdam


def started(store: Engine, tmp_path: Path, now: dt.datetime = IN_WINDOW, **kw: object) -> World:
    debtor(store, tmp_path)
    world = World(store, tmp_path, Clock(now), **kw)  # type: ignore[arg-type]
    world.plan()
    return world


def test_a_due_step_is_sent_once_and_the_journey_counts_it(store: Engine, tmp_path: Path) -> None:
    """The first reminder goes out once by email; a second pass sends nothing more."""
    world = started(store, tmp_path)
    first = world.tick()
    assert first["sent"] == 1
    assert world.files() == [f"pj-{world.steps()[0].id}-email.email.eml"]
    assert world.tick().claimed == 0
    [message] = world.messages()
    assert (message.status, message.channel, message.template) == ("sent", "email", "reminder-1")
    assert message.ruleset_version == world.rules_fn().version
    assert world.journey().steps_sent == 1
    assert world.journey().state == "active"


def test_a_full_payment_cancels_every_pending_step_and_ends_the_journey(
    store: Engine, tmp_path: Path
) -> None:
    """The debtor pays at 03:00: the 08:00 reminder is cancelled and the journey is done."""
    world = started(store, tmp_path, now=STEP1 - dt.timedelta(hours=4))
    pay(store, tmp_path, world.clock, "500.00")
    world.clock.advance(hours=6)
    report = world.tick()
    assert report["sent"] == 0
    assert world.files() == []
    assert {s.status for s in world.steps()} == {"cancelled"}
    assert world.journey().state == "done"


def test_a_payment_seen_only_at_dispatch_still_stops_the_send(
    store: Engine, tmp_path: Path
) -> None:
    """Facts are derived again before sending: a payment without an event cancels the step."""
    world = started(store, tmp_path)
    from tests.store.builders import load

    payment = {
        "id": "P-x",
        "customer_id": "C-1",
        "invoice_id": "C-1-I1",
        "amount": "500.00",
        "currency": "EUR",
        "paid_at": (IN_WINDOW - dt.timedelta(hours=1)).isoformat(),
    }
    load(store, tmp_path / "import", payments=[payment])
    assert world.dispatcher.run_once()["cancelled"] == 1
    assert world.files() == []
    [step] = world.steps()
    assert "nothing is open" in step.last_error
    assert world.journey().state == "done"


def test_a_partial_payment_re_decides_the_amount(store: Engine, tmp_path: Path) -> None:
    """After 200 of 500 is paid the reminder asks for the 300 still open."""
    world = started(store, tmp_path, now=STEP1 - dt.timedelta(hours=4))
    pay(store, tmp_path, world.clock, "200.00")
    world.clock.advance(hours=6)
    assert world.tick()["sent"] == 1
    [eml] = list(world.outbox.glob("*.eml"))
    text = plain_text(eml)
    assert "300,00" in text and "500,00" not in text


def test_a_promise_pauses_confirms_and_a_broken_promise_resumes(
    store: Engine, tmp_path: Path
) -> None:
    """A promise to pay by 10 Nov pauses the journey until the 12th (a day's grace), sends the
    promise confirmation, and when no money came the next reminder goes out."""
    world = started(store, tmp_path, now=STEP1 - dt.timedelta(hours=4))
    event(
        store,
        world.clock,
        "E-promise",
        "promised",
        data={"amount": "500.00", "until": "2026-11-10"},
    )
    world.clock.advance(hours=6)
    world.tick()
    journey = world.journey()
    assert journey.state == "paused"
    assert journey.paused_until == dt.datetime(
        2026, 11, 11, 23, 0, tzinfo=dt.UTC
    )  # 12 Nov 00:00 CET
    [confirmation] = world.messages()
    assert confirmation.template == "promise-confirmation"
    assert "10 november 2026" in plain_text(next(world.outbox.glob("*.eml")))
    assert all(s.status in ("cancelled", "sent") for s in world.steps())

    world.clock.now = dt.datetime(2026, 11, 11, 9, 0, tzinfo=dt.UTC)  # during the grace day
    assert world.tick()["sent"] == 0
    assert world.journey().state == "paused"

    world.clock.now = dt.datetime(2026, 11, 12, 9, 0, tzinfo=dt.UTC)  # promise broken
    world.tick()
    assert world.journey().state == "active"
    assert world.journey().paused_until is None
    sent = [m.template for m in world.messages() if m.status == "sent"]
    assert sent == ["promise-confirmation", "reminder-1"]


def test_an_open_dispute_pauses_the_journey(store: Engine, tmp_path: Path) -> None:
    """A dispute stops the reminders until a person resolves it."""
    world = started(store, tmp_path, now=STEP1 - dt.timedelta(hours=4))
    event(store, world.clock, "E-d", "disputed", data={"reason": "bedrag klopt niet"})
    world.clock.advance(hours=6)
    assert world.tick()["sent"] == 0
    assert world.journey().state == "paused"
    assert world.journey().paused_until is None
    assert {s.status for s in world.steps()} == {"cancelled"}


def test_a_handoff_step_tells_the_debtor_and_ends_the_journey(
    store: Engine, tmp_path: Path
) -> None:
    """At due + 45 days a debtor who never heard from us gets the last reminder first (a
    hand-off is never the first contact); the day after, the handoff notice goes out and the
    journey is handed off; nothing follows."""
    world = started(store, tmp_path, now=dt.datetime(2026, 12, 17, 9, 0, tzinfo=dt.UTC))
    world.tick()
    [first] = world.messages()
    assert first.template == "reminder-2"
    assert world.journey().state != "handed_off"
    world.clock.advance(days=1)
    world.plan()
    world.tick()
    assert [m.template for m in world.messages()] == ["reminder-2", "handoff-notice"]
    assert world.journey().state == "handed_off"
    world.clock.advance(days=1)
    world.plan()
    assert world.tick()["sent"] == 0


def test_a_new_invoice_after_settling_starts_a_new_round_from_the_first_reminder(
    store: Engine, tmp_path: Path
) -> None:
    """A debtor got two reminders, then paid everything. Two months later a new invoice falls
    due: that debt gets the first reminder again (round 2), not the old journey's next step,
    which here would be the hand-off notice."""
    world = started(store, tmp_path)
    assert world.tick()["sent"] == 1
    world.clock.advance(days=11)  # due + 14 days: the second reminder
    world.plan()
    world.tick()
    assert world.journey().steps_sent == 2
    pay(store, tmp_path, world.clock, "500.00")
    world.clock.advance(hours=1)
    world.tick()
    assert (world.journey().state, world.journey().round) == ("done", 1)
    due = DUE + dt.timedelta(days=70)
    invoice = {
        "id": "C-1-I2",
        "customer_id": "C-1",
        "amount": "80.00",
        "currency": "EUR",
        "issue_date": (due - dt.timedelta(days=30)).isoformat(),
        "due_date": due.isoformat(),
    }
    load(store, tmp_path / "import", invoices=[invoice])
    world.clock.now = dt.datetime.combine(due + dt.timedelta(days=3), dt.time(9), dt.UTC)
    world.plan()
    world.tick()
    journey = world.journey()
    assert (journey.state, journey.round, journey.steps_sent) == ("active", 2, 1)
    assert journey.started_at == world.clock()
    latest = world.messages()[-1]
    assert (latest.template, latest.status) == ("reminder-1", "sent")
    assert "80,00" in plain_text(world.outbox / f"pj-{latest.scheduled_step_id}-email.email.eml")
    steps = world.steps()
    assert [(s.round, s.step, s.status) for s in steps if s.round == 2] == [(2, 1, "sent")]
    assert all(s.template != "handoff-notice" for s in steps)
    # the first round's history is kept as it was
    assert [(s.step, s.status) for s in steps if s.round == 1] == [(1, "sent"), (2, "sent")]


def test_a_bounce_moves_the_step_to_the_next_channel_at_once(store: Engine, tmp_path: Path) -> None:
    """A hard bounce on email blocks email for this debtor and the SMS goes out in the same turn."""
    world = started(store, tmp_path, answers={"email": ["permanent"]})
    report = world.tick()
    assert report["sent"] == 1 and report.fallbacks == 1
    channels = {m.channel: m.status for m in world.messages()}
    assert channels == {"email": "failed", "sms": "sent"}
    [block] = world.rows(t.ChannelBlock)
    assert (block.customer_id, block.channel) == ("C-1", "email")


def test_a_bounce_reported_later_sends_the_step_on_the_next_channel(
    store: Engine, tmp_path: Path
) -> None:
    """A bounce event for yesterday's email sends the same reminder by SMS."""
    world = started(store, tmp_path)
    world.tick()
    [email] = world.messages()
    world.clock.advance(hours=1)
    event(store, world.clock, "E-b", "bounced", channel="email", message_id=email.id)
    world.tick()
    assert [(m.channel, m.status) for m in world.messages()] == [
        ("email", "failed"),
        ("sms", "sent"),
    ]
    assert world.journey().steps_sent == 1


def test_a_soft_bounce_moves_the_step_but_does_not_block_the_channel(
    store: Engine, tmp_path: Path
) -> None:
    """A full mailbox sends this reminder by SMS, but email stays open for the next one; a hard
    bounce blocks email for the debtor."""
    world = started(store, tmp_path)
    world.tick()
    [email] = world.messages()
    world.clock.advance(hours=1)
    event(
        store,
        world.clock,
        "E-soft",
        "bounced",
        channel="email",
        message_id=email.id,
        data={"severity": "soft", "code": "4.2.2"},
    )
    world.tick()
    assert [(m.channel, m.status) for m in world.messages()] == [
        ("email", "failed"),
        ("sms", "sent"),
    ]
    assert world.rows(t.ChannelBlock) == []
    sms = next(m for m in world.messages() if m.channel == "sms")
    event(
        store,
        world.clock,
        "E-hard",
        "bounced",
        channel="sms",
        message_id=sms.id,
        data={"severity": "hard"},
    )
    world.tick()
    assert [(b.customer_id, b.channel) for b in world.rows(t.ChannelBlock)] == [("C-1", "sms")]


def test_no_reaction_within_fallback_after_sends_the_next_channel(
    store: Engine, tmp_path: Path
) -> None:
    """No delivery, click or payment within 48 hours: the reminder goes out by SMS, once."""
    world = started(store, tmp_path)
    world.tick()
    world.clock.advance(hours=47)
    world.tick()
    assert len(world.messages()) == 1
    world.clock.advance(hours=2)
    world.tick()
    world.clock.advance(hours=49)
    world.tick()
    assert [(m.channel, m.status) for m in world.messages()] == [("email", "sent"), ("sms", "sent")]
    assert len(world.files()) == 2


def test_a_delivered_message_needs_no_fallback(store: Engine, tmp_path: Path) -> None:
    """A delivery receipt counts as a reaction for fallback: no SMS after the email arrived."""
    world = started(store, tmp_path)
    world.tick()
    [email] = world.messages()
    world.clock.advance(hours=1)
    event(store, world.clock, "E-dl", "delivered", channel="email", message_id=email.id)
    world.clock.advance(hours=50)
    world.tick()
    assert len(world.messages()) == 1


def test_a_transient_failure_is_retried_with_the_same_key(store: Engine, tmp_path: Path) -> None:
    """A 451 puts the step back after a backoff; the retry carries the same idempotency key."""
    world = started(store, tmp_path, answers={"email": ["transient"]})
    assert world.tick()["retried"] == 1
    [step] = world.steps()
    assert step.status == "scheduled" and step.send_at > world.clock()
    assert world.tick().claimed == 0  # not before the backoff
    world.clock.now = step.send_at
    assert world.tick()["sent"] == 1
    calls = world.channels["email"].calls
    assert len(calls) == 2 and calls[0] == calls[1]
    [message] = world.messages()
    assert (message.status, message.attempts) == ("sent", 2)


def test_transient_failures_stop_at_the_limit(store: Engine, tmp_path: Path) -> None:
    """Three transient failures in a row: the step is `failed`, with the provider's reason."""
    world = started(store, tmp_path, answers={"email": ["transient"] * 5}, breaker_threshold=99)
    for _ in range(3):
        world.tick()
        world.clock.advance(hours=3)
    [step] = world.steps()
    assert step.status == "failed"
    assert "451" in step.last_error
    assert world.messages()[0].status == "failed"


class CountingProvider:
    """A payment provider that numbers the links it creates."""

    name = "test-psp"

    def __init__(self) -> None:
        self.created: list[str] = []
        self.keys: list[str | None] = []

    def supports(self, method: str) -> bool:
        return method == "ideal"

    def create_link(self, request: PaymentRequest) -> PaymentLink:
        self.created.append(request.method)
        self.keys.append(request.idempotency_key)
        url = f"https://pay.example/{len(self.created)}"
        return PaymentLink(method=request.method, provider=self.name, url=url, created=True)

    def close(self) -> None:
        return None


def test_a_retried_message_keeps_the_payment_link_of_its_first_attempt(
    store: Engine, tmp_path: Path
) -> None:
    """Payment links are made at dispatch, once per message: the retry after a 451 shows the
    same iDEAL link, and the provider is asked once, with the message's idempotency key."""
    provider = CountingProvider()
    world = started(store, tmp_path, answers={"email": ["transient"]}, payments=provider)
    world.tick()
    [step] = world.steps()
    world.clock.now = step.send_at
    assert world.tick()["sent"] == 1
    assert provider.created == ["ideal"]
    assert provider.keys == [f"{world.messages()[0].id}-ideal"]
    [eml] = list(world.outbox.glob("*.eml"))
    assert "https://pay.example/1" in plain_text(eml)
