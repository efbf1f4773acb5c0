"""Golden files: every default template, in each tone of its language, on every channel.

The goldens in tests/messages/golden/ are for reading: review wording there. After a
deliberate template change, regenerate them with `UPDATE_GOLDEN=1 pytest tests/messages`
and review the diff.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.decision.model import Action, Decision, FactSheet, Money
from engine.messages.render import render_preview
from engine.messages.sms import sms_segments
from engine.rules.facts import CHANNELS

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
GOLDEN = Path(__file__).resolve().parent / "golden"
SEND_AT = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
#: The nudge goes out before the due date (1 November), every other message after it.
NUDGE_AT = dt.datetime(2026, 10, 29, 8, 0, tzinfo=dt.UTC)

NL_TEMPLATES = (
    "nudge",
    "reminder-1",
    "reminder-2",
    "final-reminder",
    "wik-14-day-letter",
    "promise-confirmation",
    "instalment-reminder",
    "handoff-notice",
)
DE_TEMPLATES = (
    "nudge",
    "zahlungserinnerung",
    "mahnung-1",
    "mahnung-2",
    "promise-confirmation",
    "instalment-reminder",
    "handoff-notice",
)
#: Who each tone is rendered for: a Dutch consumer in u and jij, a German business (in
#: default, so the § 288 text shows) in Sie, a German consumer (not in default) in du.
PERSONS: dict[tuple[str, str], dict[str, Any]] = {
    ("nl", "u"): {
        "customer.name": "Jan de Vries",
        "customer.kind": "consumer",
        "customer.country": "NL",
        "balance.in_default": False,
    },
    ("nl", "jij"): {
        "customer.name": "Sanne Bakker",
        "customer.kind": "consumer",
        "customer.country": "NL",
        "balance.in_default": False,
    },
    ("de", "Sie"): {
        "customer.name": "Müller Haustechnik GmbH",
        "customer.kind": "business",
        "customer.country": "DE",
        "balance.in_default": True,
    },
    ("de", "du"): {
        "customer.name": "Lena Weber",
        "customer.kind": "consumer",
        "customer.country": "DE",
        "balance.in_default": False,
    },
}
CASES = [(t, "nl", tone) for t in NL_TEMPLATES for tone in ("u", "jij")] + [
    (t, "de", tone) for t in DE_TEMPLATES for tone in ("Sie", "du")
]
INVOICES = [
    {"id": "F-2026-0131", "amount": "734.50", "currency": "EUR", "due_date": "2026-11-01"},
    {"id": "F-2026-0188", "amount": "500.00", "currency": "EUR", "due_date": "2026-11-08"},
    # not yet due when the messages go out: listed as such, never demanded
    {"id": "F-2026-0240", "amount": "250.00", "currency": "EUR", "due_date": "2026-12-08"},
]
#: Templates that follow an earlier reminder in the default journeys: rendered for a debtor who
#: really received one, so their "again" wording shows (first contact reads differently).
AFTER_A_REMINDER = {
    "reminder-2",
    "final-reminder",
    "wik-14-day-letter",
    "mahnung-1",
    "mahnung-2",
    "handoff-notice",
}


#: Templates rendered while a promise runs (a plan's instalment is one).
PROMISED = {"promise-confirmation", "instalment-reminder"}
#: The instalment reminders show the personal link every sent message carries.
PAGE_URL = "https://pay.example.nl/p/QxH3v9kT0bYw2s8mN4rLd6fZ1aPcU7eJ5gV0iKoWqR8"


def render_all(template: str, language: str, tone: str, tmp: Path) -> str:
    """Every channel of one template and tone, as the golden file shows it."""
    facts = FactSheet.build(
        {
            "customer.id": "C-1001",
            "balance.open_amount": Decimal("1234.50"),
            "balance.open_invoices": 2,
            "balance.oldest_due_date": dt.date(2026, 11, 1),
            "journey.promised_until": (dt.date(2026, 12, 4) if template in PROMISED else None),
            "journey.reminders_sent": 1 if template in AFTER_A_REMINDER else 0,
            **PERSONS[(language, tone)],
        }
    )
    methods = (
        ("ideal", "bank_transfer")
        if language == "nl"
        else ("paypal", "sepa_direct_debit", "bank_transfer")
    )
    out = [f"# {language}/{template}.{tone} — regenerate: UPDATE_GOLDEN=1 pytest tests/messages"]
    for channel in CHANNELS:
        decision = Decision(
            customer_id="C-1001",
            action=Action.SEND,
            reason="golden",
            template=template,
            channel=channel,
            locale="nl_NL" if language == "nl" else "de_DE",
            tone=tone,
            send_at=NUDGE_AT if template == "nudge" else SEND_AT,
            payment_options=methods,
            amount_due=Money(amount=Decimal("1234.50"), currency="EUR"),
        )
        answer = render_preview(
            decision,
            facts,
            templates_dir=TEMPLATES,
            invoices=INVOICES,
            pdf_dir=tmp,
            page_url=PAGE_URL if template == "instalment-reminder" else None,
        )
        message = answer["message"]
        if message["subject"] is not None:
            out.append(f"=== {channel}: subject ===\n{message['subject']}")
        label = channel
        if channel == "sms":
            segments, encoding = sms_segments(message["text"])
            label += f" ({len(message['text'])} characters, {segments} {encoding} segments)"
        out.append(f"=== {label}: text ===\n{message['text']}")
        if message["html"] is not None:
            html = re.sub(
                r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:image/png;base64,…", message["html"]
            )
            out.append(f"=== {channel}: html ===\n{html}")
    return "\n\n".join(out) + "\n"


@pytest.mark.parametrize(("template", "language", "tone"), CASES)
def test_every_default_template_renders_as_its_golden_file(
    template: str, language: str, tone: str, tmp_path: Path
) -> None:
    rendered = render_all(template, language, tone, tmp_path)
    golden = GOLDEN / language / f"{template}.{tone}.txt"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(rendered, encoding="utf-8")
    assert golden.is_file(), f"no golden file {golden}; run UPDATE_GOLDEN=1 pytest tests/messages"
    assert rendered == golden.read_text(encoding="utf-8")


def test_every_template_file_on_disk_has_a_golden_case() -> None:
    on_disk = {
        (p.name.split(".")[0], p.parent.name, p.name.split(".")[1])
        for p in TEMPLATES.glob("*/*.j2")
        if not p.name.startswith("_")
    }
    assert on_disk == set(CASES)
