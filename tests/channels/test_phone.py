"""Phone tasks: what the caller works from, and the outcomes that come back."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from channels.phone import PhoneTaskChannel, PhoneTaskSettings, parse_call_outcome
from channels.receipts import CallbackRejected
from tests.channels.conftest import BODY, ChannelCase
from tests.channels.servers import ProviderServer


def test_the_task_carries_the_script_amount_link_and_number(
    phone_task_case: ChannelCase, http_server: ProviderServer
) -> None:
    """The caller sees the rendered script in the debtor's language, the amount and the payment link."""
    channel = phone_task_case.channel
    assert isinstance(channel, PhoneTaskChannel)
    channel.send(phone_task_case.message("call-1"))
    (task,) = channel.tasks()
    assert task["script"] == BODY
    assert (task["amount"], task["currency"], task["payment_link"]) == (
        "1234.50",
        "EUR",
        "https://pay.example/abc",
    )
    assert task["phone"] == "+31612345678" and task["locale"] == "nl_NL"
    assert http_server.requests[-1].json() == task
    assert http_server.requests[-1].headers["idempotency-key"] == "call-1"


def test_a_resent_task_is_listed_once(tmp_path: Path) -> None:
    channel = PhoneTaskChannel(PhoneTaskSettings(task_file=tmp_path / "calls.jsonl"))
    from tests.channels.conftest import ChannelCase as _Case

    case = _Case(name="p", channel=channel, recipient="+31612345678", seen_keys=list)
    channel.send(case.message("call-1"))
    channel.send(case.message("call-1"))
    assert len(channel.tasks()) == 1


def test_a_promise_to_pay_outcome_parses_with_its_terms() -> None:
    outcome = parse_call_outcome(
        {
            "task_id": "call-1",
            "outcome": "promise",
            "occurred_at": "2026-11-24T10:15:00+01:00",
            "promised_date": "2026-12-01",
            "promised_amount": "600.00",
            "note": "pays half now",
        }
    )
    assert outcome.outcome == "promise"
    assert outcome.promised_date == dt.date(2026, 12, 1)
    assert outcome.promised_amount == Decimal("600.00")


@pytest.mark.parametrize("outcome", ["reached", "dispute", "no_answer"])
def test_other_outcomes_parse(outcome: str) -> None:
    assert (
        parse_call_outcome(
            {"task_id": "c", "outcome": outcome, "occurred_at": "2026-11-24T10:15:00+01:00"}
        ).outcome
        == outcome
    )


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (
            {"task_id": "c", "outcome": "voicemail", "occurred_at": "2026-11-24T10:15:00+01:00"},
            "unknown call outcome",
        ),
        (
            {"task_id": "c", "outcome": "promise", "occurred_at": "2026-11-24T10:15:00+01:00"},
            "promised_date",
        ),
        (
            {"task_id": "c", "outcome": "reached", "occurred_at": "2026-11-24T10:15:00"},
            "timezone-aware",
        ),
        ({"outcome": "reached", "occurred_at": "2026-11-24T10:15:00+01:00"}, "task_id"),
    ],
)
def test_a_bad_outcome_is_refused_saying_what_is_wrong(
    payload: dict[str, object], reason: str
) -> None:
    with pytest.raises(CallbackRejected, match=reason):
        parse_call_outcome(payload)
