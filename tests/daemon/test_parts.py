"""The daemon's small parts: backoff, rate limit, circuit breaker, metrics, the outbox channel."""

from __future__ import annotations

import email
import email.policy
import json
import random
from pathlib import Path

import httpx

from channels.base import Attachment, OutgoingMessage
from channels.outbox import OUTBOX_NOTE, OutboxChannel, outbox_channels
from engine.daemon.limits import CircuitBreaker, RateLimiter, backoff_seconds
from engine.daemon.metrics import Metrics
from engine.daemon.outcome import Outcome
from tests.daemon.harness import STEP1, Clock


def message(channel: str = "email", key: str = "pj-7-email", **extra: object) -> OutgoingMessage:
    fields: dict[str, object] = {
        "idempotency_key": key,
        "channel": channel,
        "recipient": "anna@example.nl" if channel == "email" else "+31612345678",
        "locale": "de_DE",
        "text": "Sehr geehrte Frau Müller,\nbitte zahlen Sie € 1.234,56.",
        "subject": "Zahlungserinnerung über € 1.234,56",
        **extra,
    }
    return OutgoingMessage(**fields)  # type: ignore[arg-type]


def test_backoff_grows_to_its_cap_and_spreads_retries() -> None:
    """Attempt 1 waits about a minute, later attempts twice as long, never past the cap."""
    rng = random.Random(3)
    waits = [backoff_seconds(n, base=60, cap=3600, rng=rng) for n in range(1, 10)]
    assert 30 <= waits[0] <= 60 and 60 <= waits[1] <= 120
    assert max(waits) <= 3600 and waits[-1] >= 1800
    assert len({round(backoff_seconds(3, base=60, cap=3600, rng=rng)) for _ in range(20)}) > 5


def test_the_rate_limit_spaces_sends() -> None:
    """At 2 messages per second, 5 sends take two seconds of waiting."""
    clock = Clock(STEP1)
    limiter = RateLimiter(2.0, burst=1, ticker=clock.ticker, sleep=clock.sleep)
    start = clock.mono
    for _ in range(5):
        limiter.acquire()
    assert clock.mono - start == 2.0


def test_the_breaker_opens_after_failures_in_a_row_and_closes_by_itself() -> None:
    """Five transient failures pause the channel for 30 s; a success closes it again."""
    clock = Clock(STEP1)
    breaker = CircuitBreaker(threshold=5, reset_after=30, ticker=clock.ticker)
    assert [breaker.failure() for _ in range(5)] == [False] * 4 + [True]
    assert breaker.is_open and breaker.wait() == 30
    clock.advance(seconds=31)
    assert not breaker.is_open  # one trial send may go
    breaker.success()
    assert breaker.failure() is False


def test_metrics_count_outcomes_in_their_own_registry() -> None:
    """Two daemons' metrics in one process never collide."""
    first, second = Metrics(), Metrics()
    first.count(Outcome.SENT)
    first.count(Outcome.UNKNOWN)
    assert first.value(Outcome.SENT) == 1 and second.value(Outcome.SENT) == 0
    assert first.registry.get_sample_value("payjourney_messages_unknown_total") == 1


def test_metrics_are_served_for_prometheus() -> None:
    """`--metrics-port` serves the counters in Prometheus' text format."""
    from tests.daemon.test_many_daemons import free_port

    metrics = Metrics()
    metrics.count(Outcome.SENT)
    port = free_port()
    stop = metrics.serve(port)
    try:
        body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        stop()
    assert 'payjourney_steps_total{outcome="sent"} 1.0' in body
    assert "payjourney_due_step_lag_seconds_bucket" in body


def test_the_outbox_writes_the_email_an_smtp_server_would_get(tmp_path: Path) -> None:
    """An .eml with the Message-ID from the idempotency key, the text, the PDF, and the note that
    it was not sent; writing it twice leaves one file."""
    channel = OutboxChannel("email", tmp_path)
    pdf = Attachment(filename="brief.pdf", content_type="application/pdf", data=b"%PDF-1.4 x")
    sent = message(html="<p>Sehr geehrte Frau Müller</p>", attachments=(pdf,))
    receipt = channel.send(sent)
    channel.send(sent)
    [path] = list(tmp_path.iterdir())
    assert receipt.provider == "outbox" and receipt.provider_message_id == path.name
    mime = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert mime["Message-ID"] == "<pj-7-email@payjourney>"
    assert mime["Subject"] == "Zahlungserinnerung über € 1.234,56"
    assert mime["X-Payjourney-Outbox"] == OUTBOX_NOTE
    body = mime.get_body(("plain",))
    assert body is not None and "€ 1.234,56" in body.get_content()
    [attached] = list(mime.iter_attachments())
    assert attached.get_filename() == "brief.pdf" and attached.get_content() == b"%PDF-1.4 x"


def test_the_outbox_writes_json_for_the_other_channels(tmp_path: Path) -> None:
    """An SMS becomes a JSON file that says it is an outbox copy."""
    channels = outbox_channels(tmp_path)
    channels["sms"].send(message("sms", "pj-8-sms"))
    data = json.loads((tmp_path / "pj-8-sms.sms.json").read_text())
    assert data["outbox"] == OUTBOX_NOTE and data["recipient"] == "+31612345678"
