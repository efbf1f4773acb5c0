"""WhatsApp: templates outside the 24-hour window, free text only inside it."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from channels.base import PermanentChannelError
from channels.whatsapp import (
    LAST_INBOUND,
    ProviderTemplate,
    WhatsAppChannel,
    missing_approvals,
    templates_from_json,
)
from tests.channels.conftest import TEMPLATES, ChannelCase
from tests.channels.servers import ProviderServer

NOW = dt.datetime(2026, 11, 24, 9, 30, tzinfo=dt.UTC)


def at_now(case: ChannelCase) -> WhatsAppChannel:
    channel = case.channel
    assert isinstance(channel, WhatsAppChannel)
    channel._clock = lambda: NOW
    return channel


def test_outside_the_window_the_approved_template_goes_with_its_parameters(
    whatsapp_case: ChannelCase, http_server: ProviderServer
) -> None:
    """Our template name becomes the approved provider template in the debtor's language."""
    at_now(whatsapp_case).send(whatsapp_case.message("k-1"))
    body = http_server.requests[-1].json()
    assert body["type"] == "template"
    assert body["to"] == "31612345678"
    assert body["template"]["name"] == "betaalherinnering_1"
    assert body["template"]["language"] == {"code": "nl"}
    assert [p["text"] for p in body["template"]["components"][0]["parameters"]] == [
        "Jan",
        "€ 1.234,50",
    ]


def test_inside_the_window_free_text_goes_as_text(
    whatsapp_case: ChannelCase, http_server: ProviderServer
) -> None:
    """The customer wrote three hours ago: a free-text reply is allowed."""
    message = whatsapp_case.message(
        "k-2", template=None, metadata={LAST_INBOUND: (NOW - dt.timedelta(hours=3)).isoformat()}
    )
    at_now(whatsapp_case).send(message)
    body = http_server.requests[-1].json()
    assert body["type"] == "text"
    assert body["text"]["body"] == message.text


@pytest.mark.parametrize(
    "last_inbound", [None, NOW - dt.timedelta(hours=25)], ids=["never-wrote", "wrote-yesterday"]
)
def test_free_text_outside_the_window_is_refused_before_any_call(
    whatsapp_case: ChannelCase, http_server: ProviderServer, last_inbound: dt.datetime | None
) -> None:
    """No template and no open window: refused permanently, nothing reaches Meta."""
    metadata = {LAST_INBOUND: last_inbound.isoformat()} if last_inbound else {}
    with pytest.raises(PermanentChannelError) as caught:
        at_now(whatsapp_case).send(whatsapp_case.message("k-3", template=None, metadata=metadata))
    assert caught.value.code == "outside-window"
    assert http_server.requests == []


def test_a_template_without_approval_for_the_locale_is_refused(
    whatsapp_case: ChannelCase, http_server: ProviderServer
) -> None:
    """German debtor, only a Dutch template approved: refused with the fix, nothing sent."""
    with pytest.raises(PermanentChannelError, match="PAYJOURNEY_WHATSAPP_TEMPLATES") as caught:
        at_now(whatsapp_case).send(whatsapp_case.message("k-4", locale="de_DE"))
    assert caught.value.code == "no-approved-template"
    assert http_server.requests == []


def test_a_template_pending_approval_is_not_used(whatsapp_case: ChannelCase) -> None:
    channel = at_now(whatsapp_case)
    channel.settings = replace(
        channel.settings,
        templates={
            "reminder-1": {"nl_NL": ProviderTemplate(name="x", language="nl", approved=False)}
        },
    )
    with pytest.raises(PermanentChannelError):
        channel.send(whatsapp_case.message("k-5"))


def test_templates_load_from_json_configuration() -> None:
    loaded = templates_from_json(
        {
            "reminder-1": {
                "de_DE": {"name": "zahlungserinnerung_1", "language": "de", "approved": True}
            }
        }
    )
    assert loaded["reminder-1"]["de_DE"] == ProviderTemplate(
        name="zahlungserinnerung_1", language="de"
    )


def test_validate_can_name_each_step_template_without_approval() -> None:
    """The warning `payjourney validate` shows for a WhatsApp step Meta has not approved."""
    warnings = missing_approvals(
        TEMPLATES, [("reminder-1", "nl_NL"), ("reminder-1", "de_DE"), ("reminder-1", "de_DE")]
    )
    assert len(warnings) == 1
    assert (
        "'reminder-1'" in warnings[0]
        and "de_DE" in warnings[0]
        and "PAYJOURNEY_WHATSAPP_TEMPLATES" in warnings[0]
    )


def test_incoming_messages_become_replies_with_what_the_debtor_chose_or_wrote() -> None:
    """A text, a quick-reply button, a list choice and a photo from the debtor: each a reply
    from +31611111111 with its words (a photo named as such for the person reading the task);
    a message days old is refused as a replay."""
    import hashlib
    import hmac
    import json

    from channels.receipts import InboundReply, InboundRequest, ReplayGuard
    from channels.whatsapp import parse_whatsapp_webhook

    now = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)
    stamp = str(int(now.timestamp()))
    kinds = [
        {"type": "text", "text": {"body": "Betaal morgen"}},
        {"type": "button", "button": {"text": "Ik heb betaald", "payload": "paid"}},
        {"type": "interactive", "interactive": {"list_reply": {"id": "2", "title": "Regeling"}}},
        {"type": "image", "image": {"id": "media-1"}},
    ]
    messages = [
        {"from": "31611111111", "id": f"wamid.{n}", "timestamp": stamp, **kind}
        for n, kind in enumerate(kinds)
    ]

    def request(payload: dict[str, object]) -> InboundRequest:
        body = json.dumps(payload).encode()
        digest = hmac.new(b"secret", body, hashlib.sha256).hexdigest()
        return InboundRequest(
            method="POST",
            url="https://x/",
            body=body,
            headers={"X-Hub-Signature-256": f"sha256={digest}"},
        )

    def wrapped(items: list[dict[str, object]]) -> dict[str, object]:
        return {"entry": [{"changes": [{"value": {"messages": items}}]}]}

    replies = parse_whatsapp_webhook(
        request(wrapped(messages)), app_secret="secret", replay_guard=ReplayGuard(), now=now
    )
    assert all(isinstance(r, InboundReply) for r in replies)
    assert [(r.sender, r.channel, r.text) for r in replies] == [  # type: ignore[union-attr]
        ("+31611111111", "whatsapp", "Betaal morgen"),
        ("+31611111111", "whatsapp", "Ik heb betaald"),
        ("+31611111111", "whatsapp", "Regeling"),
        ("+31611111111", "whatsapp", "[image message: open it in WhatsApp Business]"),
    ]
    old = [{**messages[0], "id": "wamid.old", "timestamp": str(int(now.timestamp()) - 4 * 86400)}]
    with pytest.raises(Exception, match="too old"):
        parse_whatsapp_webhook(
            request(wrapped(old)), app_secret="secret", replay_guard=ReplayGuard(), now=now
        )
