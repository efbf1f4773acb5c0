"""Six truths every rendered message keeps, as a property over a generated portfolio:
debtors x send moments x templates x tones x channels (hypothesis picks the combinations).

1. no due date stated in the future ("vervalt op", "fällig am") is already past at send time;
2. "again / second / eerder / erneut" only when an earlier reminder was really sent;
3. the amount demanded is the sum of the open invoices overdue at send time;
4. the EPC QR code and the payment link ask for that same amount;
5. every invoice listed is overdue, or listed under "not yet due";
6. one deadline per message, and no payment option whose earliest date is after it.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from engine.decision.model import Action, Decision, Money
from engine.decision.timing import zone
from engine.messages.formatting import LocaleFormat
from engine.messages.payments.base import PaymentLink, PaymentRequest
from engine.messages.render import render_preview
from engine.rules.facts import CHANNELS
from engine.store.db import make_engine
from engine.store.facts_sql import fact_sheet_for
from engine.store.generate import generate
from engine.store.message_data import message_data
from engine.store.migrate import upgrade
from tests.messages.test_golden import DE_TEMPLATES, NL_TEMPLATES, TEMPLATES

TODAY = dt.date(2026, 11, 23)
#: Words that claim an earlier reminder was sent.
AGAIN = (
    "eerder",
    "tweede herinnering",
    "na onze herinneringen",
    "erneut",
    "2. mahnung",
    "bisherigen schreiben",
    "nach unseren mahnungen",
    "schon daran erinnert",
    "schon post dazu",
)
NOT_YET_DUE = {"nl": "Nog niet te betalen", "de": "Noch nicht fällig"}


class RecordingProvider:
    """A payment provider that creates links and remembers the amount each asked for."""

    name = "recording"

    def __init__(self) -> None:
        self.amounts: list[Decimal] = []

    def supports(self, method: str) -> bool:
        return True

    def create_link(self, request: PaymentRequest) -> PaymentLink:
        self.amounts.append(request.amount)
        return PaymentLink(
            method=request.method,
            provider=self.name,
            url=f"https://pay.example/{request.reference}/{request.amount}",
            created=True,
        )

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def portfolio(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, list[str]]:
    """Generated NL/DE debtors on SQLite, history up to 23 November 2026: those who owed
    something recently."""
    path = tmp_path_factory.mktemp("truths") / "portfolio.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    made = generate(engine, debtors=200, seed=11, today=TODAY)
    # debtors with something open some time in the last six weeks: the ones messages go to
    with_open = [
        cid
        for cid in sorted(made.behaviour_types)
        if any(
            message_data(engine, cid, dt.datetime.combine(day, dt.time(12), dt.UTC)).invoices
            for day in (TODAY - dt.timedelta(days=40), TODAY - dt.timedelta(days=20), TODAY)
        )
    ]
    assert len(with_open) >= 20, len(with_open)
    return engine, with_open


def dates_in(text: str, fmt: LocaleFormat, around: dt.date) -> dict[str, dt.date]:
    """Every date near `around` as the message would write it (long and short), to its day."""
    out: dict[str, dt.date] = {}
    for offset in range(-400, 120):
        day = around + dt.timedelta(days=offset)
        for style in ("long", "short"):
            written = fmt.date(day, style)
            if written in text:
                out[written] = day
    return out


def deadlines(text: str, fmt: LocaleFormat, on: dt.date) -> set[dt.date]:
    """The dates the message tells the debtor to pay by."""
    known = dates_in(text, fmt, on)
    if not known:
        return set()
    any_date = "|".join(re.escape(k) for k in sorted(known, key=len, reverse=True))
    if fmt.language == "nl":
        pattern = rf"(?:uiterlijk(?: op)?|vóór) ({any_date})(?! (?:heeft|hebt))"
    else:
        pattern = rf"(?:bis (?:zum |spätestens )?|vor dem |Frist: )({any_date})"
    return {known[m] for m in re.findall(pattern, text)}


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    debtor=st.integers(0, 10_000),
    days_later=st.integers(-40, 30),
    template_pick=st.integers(0, 100),
    tone_pick=st.booleans(),
    channel=st.sampled_from(CHANNELS),
)
def test_every_message_states_only_what_is_true_when_it_is_sent(
    portfolio: tuple[Engine, list[str]],
    tmp_path: Path,
    debtor: int,
    days_later: int,
    template_pick: int,
    tone_pick: bool,
    channel: str,
) -> None:
    """The six message truths hold for any debtor, send moment, template, tone and channel."""
    engine, ids = portfolio
    cid = ids[debtor % len(ids)]
    probe = fact_sheet_for(engine, cid, dt.datetime.combine(TODAY, dt.time(12), dt.UTC))
    tz = zone(probe["customer.timezone"])
    moment = dt.datetime.combine(TODAY + dt.timedelta(days=days_later), dt.time(10), tz)
    moment = moment.replace(tzinfo=None).replace(tzinfo=tz)
    facts = fact_sheet_for(engine, cid, moment)
    data = message_data(engine, cid, moment)
    on = moment.date()
    overdue = [i for i in data.invoices if i["due_date"] < on]
    if not data.invoices:
        event("skipped: nothing open")
        return  # nothing open: no message
    german = facts["customer.country"] == "DE"
    language = "de" if german else "nl"
    templates = DE_TEMPLATES if german else NL_TEMPLATES
    template = templates[template_pick % len(templates)]
    if (template == "nudge") == bool(overdue) and template != "promise-confirmation":
        # decide sends a nudge only before anything is overdue (later it is stale) and a
        # reminder only after: see tests/test_decide.py
        event("skipped: decide would not send this template now")
        return
    tone = ("Sie" if tone_pick else "du") if german else ("u" if tone_pick else "jij")
    locale = "de_DE" if german else "nl_NL"
    fmt = LocaleFormat(locale)
    provider = RecordingProvider()
    decision = Decision(
        customer_id=cid,
        action=Action.SEND,
        reason="property",
        template=template,
        channel=channel,
        locale=locale,
        tone=tone,
        send_at=moment,
        payment_options=("paypal", "sepa_direct_debit", "bank_transfer")
        if german
        else ("ideal", "sepa_direct_debit", "bank_transfer"),
        amount_due=Money(amount=facts["balance.open_amount"], currency="EUR"),
    )
    answer = render_preview(
        decision,
        facts,
        templates_dir=TEMPLATES,
        invoices=data.invoices,
        address=data.address,
        payments=provider,
        pdf_dir=tmp_path,
    )
    message: dict[str, Any] = answer["message"]
    event(
        f"rendered: {'overdue' if overdue else 'before due'}, upcoming listed: {any(i['due_date'] >= on for i in data.invoices)}"
    )
    text = "\n".join(filter(None, (message["subject"], message["text"])))

    # 3. the amount demanded: what is overdue (before anything is, what falls due next)
    if overdue:
        expected = sum((i["amount"] for i in overdue), Decimal("0.00"))
    else:
        first = min(i["due_date"] for i in data.invoices)
        expected = sum((i["amount"] for i in data.invoices if i["due_date"] == first), Decimal(0))
    demanded = Decimal(answer["amount_due"]["amount"])
    assert demanded == expected

    # 4. the QR code and every payment link ask for the same amount
    for option in answer["payment_options"]:
        if option["method"] == "bank_transfer":
            assert f"EUR{demanded:.2f}" in option["epc_payload"].split("\n")
    assert all(amount == demanded for amount in provider.amounts)

    # 1. no "falls due on <date>" for a date already past
    for day in {i["due_date"] for i in data.invoices if i["due_date"] < on}:
        for style in ("long", "short"):
            written = fmt.date(day, style)
            w = re.escape(written)
            future = rf"vervalt op {w}|fällig am {w}|(?<!war )(?<!waren )am {w} fällig"
            assert not re.search(future, text), (written, on)

    # 2. "again" only after a reminder was really sent
    if not facts["journey.reminders_sent"]:
        lowered = text.lower()
        assert not [w for w in AGAIN if w in lowered], (template, lowered)

    # 5. every invoice listed is overdue or under the "not yet due" label
    label = text.find(NOT_YET_DUE[language])
    for invoice in data.invoices:
        places = [m.start() for m in re.finditer(re.escape(str(invoice["id"])), text)]
        if invoice["due_date"] >= on and places and overdue:
            assert label != -1 and all(p > label for p in places), invoice["id"]

    # 6. one deadline, and every option offered can be paid by it
    found = deadlines(text, fmt, on)
    assert len(found) <= 1, (template, channel, found)
    if found:
        (deadline,) = found
        assert deadline >= on, (template, text)
        for option in answer["payment_options"]:
            earliest = option.get("earliest_collection")
            assert earliest is None or dt.date.fromisoformat(earliest) <= deadline
