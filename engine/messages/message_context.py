"""The variables a message template sees, built from a decision, the facts and configuration.

docs/templates.md lists every name. Everything here is plain data (dicts, strings, dates,
Decimals) plus the formatting helpers, so the sandbox has nothing to reach through.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.decision.model import FactSheet
from engine.decision.timing import term_end
from engine.messages.claim import Claim, InvoiceLine
from engine.messages.creditor import Creditor
from engine.messages.formatting import LocaleFormat
from engine.messages.legal import (
    DE_BUSINESS_FLAT_FEE,
    LegalSettings,
    RateTable,
    UnsupportedCountry,
    collection_costs,
    interest_series,
    wik_term_end,
)

#: Templates whose deadline is a statutory term, not `settings.legal.payment_days`: the Dutch
#: 14-day letter (art. 6:96 lid 6 BW) runs 14 days from the day after receipt.
STATUTORY_TERM_TEMPLATES = frozenset({"wik-14-day-letter"})


def send_date(send_at: dt.datetime | None, facts: FactSheet, today: dt.date | None) -> dt.date:
    """The local date the message goes out: send_at in the customer's zone, else `today`."""
    if send_at is not None:
        try:
            zone = ZoneInfo(str(facts["customer.timezone"] or "Europe/Amsterdam"))
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("Europe/Amsterdam")
        return send_at.astimezone(zone).date()
    return today or dt.date.today()


def legal_context(
    *,
    facts: FactSheet,
    amount: Decimal,
    on: dt.date,
    fmt: LocaleFormat,
    legal: LegalSettings,
    rates: RateTable,
) -> dict[str, Any]:
    """What the legal text may say: in default or not, collection costs, interest, flat fee."""
    country = str(facts["customer.country"] or "NL")
    kind = str(facts["customer.kind"] or "business")
    in_default = bool(facts["balance.in_default"])
    out: dict[str, Any] = {
        "in_default": in_default,
        "costs": None,
        "costs_value": None,
        "costs_vat": None,
        "interest_rate": None,
        "interest_points": None,
        "base_rate": None,
        "flat_fee": None,
    }
    costs = collection_costs(max(amount, Decimal(0)), vat_rate=legal.collection_cost_vat_rate)
    out.update(
        costs=fmt.money(costs.total),
        costs_value=costs.total,
        costs_vat=fmt.money(costs.vat) if costs.vat else None,
    )
    try:
        series, points = interest_series(country, kind)
    except UnsupportedCountry:
        return out
    base = rates.rate_on(series, on)
    out["interest_rate"] = fmt.percent(base + points)
    if points:  # German: "5 (9) Prozentpunkte über dem Basiszinssatz (derzeit 1,27 %)"
        out["interest_points"] = fmt.number(points, 0) if points == int(points) else str(points)
        out["base_rate"] = fmt.percent(base)
    if country.upper() == "DE" and kind == "business":
        out["flat_fee"] = fmt.money(DE_BUSINESS_FLAT_FEE)
    return out


def invoice_rows(lines: Sequence[InvoiceLine], fmt: LocaleFormat) -> list[dict[str, Any]]:
    """Open invoices as templates list them: id, amount still open, issue and due date, and
    whether it is overdue on the send date (`overdue` false: "falls due on ...")."""
    return [
        {
            "id": line.id,
            "amount": fmt.money(line.amount, line.currency),
            "amount_value": line.amount,
            "issue_date": line.issue_date,
            "due_date": line.due_date,
            "overdue": line.overdue,
        }
        for line in lines
    ]


def build_context(
    *,
    facts: FactSheet,
    template: str,
    channel: str,
    locale: str,
    tone: str,
    claim: Claim,
    on: dt.date,
    options: Sequence[Mapping[str, Any]],
    reference: str,
    creditor: Creditor,
    legal: LegalSettings,
    rates: RateTable,
    step: int | None = None,
    page_url: str | None = None,
    pay_amount: Decimal | None = None,
) -> dict[str, Any]:
    """Every variable of docs/templates.md for one message part (`page_url`: the debtor's own
    page, docs/self-service.md; `pay_amount`: what the message asks to pay now when that is less
    than the claim, a payment plan's instalment)."""
    fmt = LocaleFormat(locale)
    language = fmt.language
    amount, currency, due = claim.amount, claim.currency, claim.due_date
    country = str(facts["customer.country"] or "NL")
    # one deadline per message: a term ending on a weekend or holiday runs to the next working
    # day (Atw art. 1, § 193 BGB); an option that cannot be paid by then is left out
    deadline = term_end(on + dt.timedelta(days=legal.payment_days), country)
    wik_deadline = term_end(wik_term_end(on, receipt_days=legal.receipt_days), country)
    promised = facts["journey.promised_until"]
    if template in STATUTORY_TERM_TEMPLATES:  # the statutory term is the message's deadline
        deadline = wik_deadline
    elif promised is not None and promised >= on:  # the date the debtor agreed to
        deadline = promised
    elif claim.before_due and due is not None:  # before the due date: the due date itself
        deadline = due
    pay_by = deadline  # one deadline per message: the call to action and the text agree
    available = [dict(o) for o in options if o.get("available", True) and _meets(o, pay_by)]
    # the call to action: the first option paid in one click (a link, even when it is not made
    # yet); a direct-debit mandate only when nothing else is offered
    links = [o for o in available if "created" in o]
    pay = next(
        (o for o in links if o["method"] != "sepa_direct_debit"), links[0] if links else None
    )
    bank = next((o for o in available if o["method"] == "bank_transfer"), None)
    received = on + dt.timedelta(days=legal.receipt_days)
    creditor_data = dict(_creditor_data(creditor))
    name = str(facts["customer.name"] or "")
    demanded = invoice_rows(claim.demanded, fmt)
    return {
        **fmt.helpers(),
        "template": template,
        "channel": channel,
        "locale": locale,
        "language": language,
        "tone": tone,
        "step": step,
        "customer": {
            "id": facts["customer.id"],
            "name": facts["customer.name"],
            "first_name": _first_name(name) if facts["customer.kind"] == "consumer" else None,
            "surname": _surname(name) if facts["customer.kind"] == "consumer" else None,
            "kind": facts["customer.kind"],
            "country": facts["customer.country"],
            "is_business": facts["customer.kind"] == "business",
            "is_consumer": facts["customer.kind"] == "consumer",
        },
        "amount": fmt.money(amount, currency),
        "amount_value": amount,
        # what the payment options ask: the claim, or less (a payment plan's instalment)
        "pay_amount": fmt.money(amount if pay_amount is None else pay_amount, currency),
        "pay_amount_value": amount if pay_amount is None else pay_amount,
        "currency": currency,
        "due_date": due,
        "single_due_date": claim.single_due_date,
        "before_due": claim.before_due,
        "days_overdue": max((on - due).days, 0) if due else 0,
        "invoices": demanded,
        "upcoming_invoices": invoice_rows(claim.upcoming, fmt),
        "invoice_count": len(demanded) or 1,
        "earlier_reminder": int(facts["journey.reminders_sent"] or 0) > 0,
        "reference": reference,
        "send_date": on,
        "promised_until": facts["journey.promised_until"],
        "handoff_to": legal.handoff_to,
        "deadline": deadline,
        "receipt_date": received,
        "wik_deadline": wik_deadline,
        "pay_by": pay_by,
        "options": available,
        "pay": pay,
        "bank": bank,
        "legal": legal_context(
            facts=facts, amount=amount, on=on, fmt=fmt, legal=legal, rates=rates
        ),
        "creditor": creditor_data,
        "sender": creditor.agent_name or None,
        "page_url": page_url,
    }


@functools.lru_cache(maxsize=16)
def _creditor_data(creditor: Creditor) -> Mapping[str, Any]:
    """The creditor as templates see it (dataclasses.asdict was a twentieth of a message's
    context; the creditor is the same for every message of a rule set)."""
    return {k: v for k, v in asdict(creditor).items() if k != "is_example"}


def _meets(option: Mapping[str, Any], deadline: dt.date) -> bool:
    """An option whose money cannot arrive by the deadline (a direct debit collected after the
    SEPA pre-notification) is not offered in a message with that deadline."""
    earliest = option.get("earliest_collection")
    return earliest is None or dt.date.fromisoformat(str(earliest)) <= deadline


def _surname(name: str) -> str | None:
    """A consumer's surname as a formal Dutch greeting writes it: "Jan de Vries" -> "De Vries"
    (without the first name the prefix takes a capital)."""
    parts = name.split()
    if len(parts) < 2:
        return None
    rest = " ".join(parts[1:])
    return rest[0].upper() + rest[1:]


def _first_name(name: str) -> str | None:
    """The first word of a consumer's name, for the informal greeting ("Hoi Emma")."""
    parts = name.split()
    return parts[0] if len(parts) > 1 else None
