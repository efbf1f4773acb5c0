"""docs/channels.md stays true: every variable the registry reads and every mapped code is in it."""

from __future__ import annotations

import re

from channels import letter, phone, whatsapp
from channels.sms import messagebird, twilio
from tests.conftest import ROOT

GUIDE = (ROOT / "docs" / "channels.md").read_text()
SOURCES = "".join(
    (ROOT / "channels" / name).read_text() for name in ("registry.py", "email.py", "whatsapp.py")
)


def test_every_environment_variable_the_channels_read_is_documented() -> None:
    read = set(re.findall(r"PAYJOURNEY_[A-Z_]+[A-Z]", SOURCES))
    assert read, "the registry reads variables"
    assert sorted(v for v in read if v not in GUIDE) == []


def test_every_mapped_provider_code_is_documented() -> None:
    tables = {
        "twilio": twilio.ERROR_CODES,
        "messagebird": messagebird.ERROR_CODES,
        "whatsapp": whatsapp.ERROR_CODES,
        "pingen": letter.ERROR_CODES,
    }
    missing = [
        f"{p} {c}"
        for p, table in tables.items()
        for c in table
        if not re.search(rf"\b{c}\b", GUIDE)
    ]
    assert missing == []
    assert all(code.removeprefix("http-") in GUIDE for code in phone.ERROR_CODES)
