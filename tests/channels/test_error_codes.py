"""Every provider error code in the adapters' tables, answered by the provider fake, maps to its class."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from channels import letter, phone, whatsapp
from channels.base import ChannelError, TransientChannelError
from channels.sms import messagebird, twilio
from tests.channels.conftest import ChannelCase
from tests.channels.servers import ProviderServer, Reply

#: provider -> (its case fixture, its code table, the error body it sends for a code, the HTTP status)
SHAPES: dict[str, tuple[str, Any, Callable[[str], object], Callable[[str], int]]] = {
    "twilio": (
        "twilio_case",
        twilio.ERROR_CODES,
        lambda c: {"code": int(c), "message": f"error {c}", "status": 400},
        lambda c: 400,
    ),
    "messagebird": (
        "messagebird_case",
        messagebird.ERROR_CODES,
        lambda c: {"errors": [{"code": int(c), "description": f"error {c}", "parameter": None}]},
        lambda c: 422,
    ),
    "whatsapp": (
        "whatsapp_case",
        whatsapp.ERROR_CODES,
        lambda c: {
            "error": {
                "message": f"(#{c})",
                "type": "OAuthException",
                "code": int(c),
                "fbtrace_id": "x",
            }
        },
        lambda c: 400,
    ),
    "pingen": (
        "pingen_case",
        letter.ERROR_CODES,
        lambda c: {"errors": [{"code": c, "title": f"error {c}"}]},
        int,
    ),
    "phone_task": (
        "phone_task_case",
        phone.ERROR_CODES,
        lambda c: {"error": c},
        lambda c: int(c.removeprefix("http-")),
    ),
}

WALK = [(provider, code) for provider, shape in SHAPES.items() for code in shape[1]]


@pytest.mark.parametrize(("provider", "code"), WALK, ids=[f"{p}-{c}" for p, c in WALK])
def test_each_provider_code_raises_its_class_with_the_code(
    provider: str, code: str, request: pytest.FixtureRequest, http_server: ProviderServer
) -> None:
    """The provider's code decides transient vs permanent; the code is kept on the error."""
    fixture, table, body, status = SHAPES[provider]
    case: ChannelCase = request.getfixturevalue(fixture)
    expected: type[ChannelError] = table[code]
    reply = Reply(status(code), body(code))
    if provider == "pingen":
        http_server.fail_next(
            Reply(200, {"token_type": "Bearer", "expires_in": 3600, "access_token": "t"})
        )
    http_server.fail_next(reply)
    with pytest.raises(ChannelError) as caught:
        case.channel.send(case.message(f"walk-{code}"))
    assert type(caught.value) is expected
    assert caught.value.code == code
    assert caught.value.provider in (provider, "phone-task")


def test_an_unknown_code_falls_back_on_the_http_status() -> None:
    """A code no table lists: 5xx and 429 are transient, other 4xx permanent."""
    import httpx

    from channels.provider_http import classify_http

    for status, cls in [
        (503, TransientChannelError),
        (429, TransientChannelError),
        (400, ChannelError),
    ]:
        error = classify_http("x", httpx.Response(status), code="77777", description="?", codes={})
        assert isinstance(error, cls)
        assert error.code == "77777"
