"""The channel contract: what every adapter does, each against a real server on loopback.

Modelled on APScheduler's datastore suite: one set of behaviours, one parametrised fixture
(`channel_case`, see conftest.py) bringing each adapter with its provider fake.
"""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from channels.base import Channel, ChannelError, Receipt
from tests.channels.conftest import BODY, ChannelCase


def test_the_adapter_is_a_channel_of_its_kind(channel_case: ChannelCase) -> None:
    """Every adapter satisfies the seam and says which channel it serves."""
    assert isinstance(channel_case.channel, Channel)
    assert channel_case.channel.name in ("email", "sms", "whatsapp", "letter", "phone")


def test_a_sent_message_comes_back_as_a_receipt_naming_the_provider_id(
    channel_case: ChannelCase,
) -> None:
    """The receipt carries the provider's message id, the channel, the key and an aware time."""
    before = dt.datetime.now(dt.UTC)
    receipt = channel_case.channel.send(channel_case.message("step-1-attempt-1"))
    assert isinstance(receipt, Receipt)
    assert receipt.channel == channel_case.channel.name
    assert receipt.provider_message_id
    assert receipt.idempotency_key == "step-1-attempt-1"
    assert receipt.accepted_at >= before - dt.timedelta(seconds=1)


def test_the_provider_sees_the_idempotency_key_of_each_message(channel_case: ChannelCase) -> None:
    """The key reaches the provider (reference, Idempotency-Key, callback URL or Message-ID)."""
    channel_case.channel.send(channel_case.message("key-A"))
    channel_case.channel.send(channel_case.message("key-B"))
    assert channel_case.seen_keys() == [
        channel_case.key_as_seen("key-A"),
        channel_case.key_as_seen("key-B"),
    ]


def test_two_sends_give_two_provider_ids(channel_case: ChannelCase) -> None:
    """Different messages are told apart by the provider."""
    first = channel_case.channel.send(channel_case.message("key-1"))
    second = channel_case.channel.send(channel_case.message("key-2"))
    assert first.provider_message_id != second.provider_message_id


def test_each_failure_raises_its_class_with_the_provider_code_and_the_channel_recovers(
    channel_case: ChannelCase,
) -> None:
    """Every way the provider fails maps to transient or permanent, with its code; the next send works."""
    assert channel_case.failures, "every adapter has at least one way to fail"
    for kind, failure in channel_case.failures.items():
        message = failure.arm(channel_case.message(f"fail-{kind}"))
        with pytest.raises(ChannelError) as caught:
            channel_case.channel.send(message)
        failure.restore()
        assert type(caught.value) is failure.expected, kind
        assert caught.value.code == failure.code, kind
        if failure.retry_after is not None:
            assert getattr(caught.value, "retry_after", None) == failure.retry_after, kind
        receipt = channel_case.channel.send(channel_case.message(f"after-{kind}"))
        assert receipt.idempotency_key == f"after-{kind}"


def test_delivery_and_failure_come_back_as_receipts_on_the_sent_message(
    channel_case: ChannelCase,
) -> None:
    """The provider's signed callback parses into a receipt naming the sent message."""
    if channel_case.deliver is None:
        pytest.skip(f"{channel_case.name} has no delivery callbacks (nothing comes back)")
    receipt = channel_case.channel.send(channel_case.message("receipt-1"))
    (delivered,) = channel_case.deliver(receipt, "delivered")
    assert delivered.provider_message_id == receipt.provider_message_id
    assert delivered.status == "delivered"
    assert delivered.occurred_at.tzinfo is not None
    (failed,) = channel_case.deliver(receipt, "failed")
    assert failed.provider_message_id == receipt.provider_message_id
    assert failed.status in ("failed", "bounced")
    assert failed.code


def test_no_body_number_or_address_reaches_the_logs_at_info(
    channel_case: ChannelCase, caplog: pytest.LogCaptureFixture
) -> None:
    """Sends and failures log keys and ids, never the text or the recipient."""
    with caplog.at_level(logging.INFO):
        channel_case.channel.send(channel_case.message("log-1"))
        for kind, failure in channel_case.failures.items():
            with pytest.raises(ChannelError) as caught:
                channel_case.channel.send(failure.arm(channel_case.message(f"log-{kind}")))
            failure.restore()
            logging.getLogger("payjourney.daemon").info("send failed: %s", caught.value)
    ours = [
        r for r in caplog.records if not r.name.startswith("mail.")
    ]  # mail.log: the test's SMTP server
    logged = "\n".join(r.getMessage() for r in ours if r.levelno >= logging.INFO)
    assert "log-1" in logged
    personal = {BODY, channel_case.recipient, "+31000000000", "31000000000", "31612345678"}
    personal |= set(channel_case.recipient.splitlines())
    for value in personal:
        assert value not in logged


def test_close_releases_the_adapter(channel_case: ChannelCase) -> None:
    """After a send, close() returns cleanly and may be called again at shutdown."""
    channel_case.channel.send(channel_case.message("close-1"))
    channel_case.channel.close()
    channel_case.channel.close()
