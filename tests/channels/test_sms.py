"""SMS specifics: cost metadata from segment counting, and the provider's request shape."""

from __future__ import annotations

from channels.receipts import DeliveryReceipt
from tests.channels.conftest import ChannelCase
from tests.channels.servers import ProviderServer


def test_a_gsm_text_costs_one_segment_and_an_accented_one_switches_to_ucs2(
    twilio_case: ChannelCase,
) -> None:
    """Cost metadata: one ë makes the whole text UCS-2, 70 characters a segment."""
    plain = twilio_case.channel.send(twilio_case.message("s-1", text="Uw factuur staat open."))
    assert dict(plain.cost) == {"segments": "1", "encoding": "GSM-7"}
    accented = twilio_case.channel.send(
        twilio_case.message("s-2", text="Geachte heer Coëlho, " + "x" * 60)
    )
    assert dict(accented.cost) == {"segments": "2", "encoding": "UCS-2"}


def test_twilio_gets_a_form_post_with_the_callback_carrying_the_key(
    twilio_case: ChannelCase, http_server: ProviderServer
) -> None:
    twilio_case.channel.send(twilio_case.message("C-1/step-2/sms/1"))
    request = http_server.requests[-1]
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    form = request.form()
    assert form["To"] == "+31612345678" and form["From"] == "+3197010000000"
    assert form["StatusCallback"].endswith("?key=C-1%2Fstep-2%2Fsms%2F1")


def test_messagebird_gets_json_with_the_key_as_reference(
    messagebird_case: ChannelCase, http_server: ProviderServer
) -> None:
    messagebird_case.channel.send(messagebird_case.message("C-1/step-2/sms/1"))
    body = http_server.requests[-1].json()
    assert body["recipients"] == ["31612345678"] and body["reference"] == "C-1/step-2/sms/1"
    assert body["originator"] == "Incasso"


def test_an_undelivered_twilio_sms_to_an_unknown_handset_is_a_hard_failure(
    twilio_case: ChannelCase,
) -> None:
    """30003 unreachable handset: the number is unusable, the journey moves on."""
    assert twilio_case.deliver is not None
    receipt = twilio_case.channel.send(twilio_case.message("s-3"))
    (failed,) = twilio_case.deliver(receipt, "failed")
    assert isinstance(failed, DeliveryReceipt)
    assert (failed.status, failed.code, failed.severity, failed.idempotency_key) == (
        "failed",
        "30003",
        "hard",
        "s-3",
    )
