"""The variables a message template sees, built from a decision, the facts and configuration.

docs/templates.md lists every name. Everything here is plain data (dicts, strings, dates,
Decimals) plus the formatting helpers, so the sandbox has nothing to reach through.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.decision.model import FactSheet
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
    out["interest_rate"] = fmt.percent(rates.rate_on(series, on) + points)
    if country.upper() == "DE" and kind == "business":
        out["flat_fee"] = fmt.money(DE_BUSINESS_FLAT_FEE)
    return out


def invoice_rows(invoices: Sequence[Mapping[str, Any]], fmt: LocaleFormat) -> list[dict[str, Any]]:
    """Open invoices as templates list them: id, amount, issue and due date."""
    rows = []
    for inv in invoices:
        if inv.get("paid_date"):
            continue
        amount = Decimal(str(inv.get("amount", "0")))
        currency = str(inv.get("currency") or "EUR")
        rows.append(
            {
                "id": str(inv.get("id", "")),
                "amount": fmt.money(amount, currency),
                "amount_value": amount,
                "issue_date": _date(inv.get("issue_date")),
                "due_date": _date(inv.get("due_date")),
            }
        )
    return rows


def _date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def build_context(
    *,
    facts: FactSheet,
    template: str,
    channel: str,
    locale: str,
    tone: str,
    amount: Decimal,
    currency: str,
    on: dt.date,
    options: Sequence[Mapping[str, Any]],
    reference: str,
    creditor: Creditor,
    legal: LegalSettings,
    rates: RateTable,
    invoices: Sequence[Mapping[str, Any]] = (),
    step: int | None = None,
) -> dict[str, Any]:
    """Every variable of docs/templates.md for one message part."""
    fmt = LocaleFormat(locale)
    language = fmt.language
    due = facts["balance.oldest_due_date"]
    available = [dict(o) for o in options if o.get("available", True)]
    # the call to action: the first option paid by link, even when the link is not made yet
    pay = next((o for o in available if "created" in o), None)
    bank = next((o for o in available if o["method"] == "bank_transfer"), None)
    received = on + dt.timedelta(days=legal.receipt_days)
    creditor_data = {k: v for k, v in asdict(creditor).items() if k != "is_example"}
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
            "kind": facts["customer.kind"],
            "country": facts["customer.country"],
            "is_business": facts["customer.kind"] == "business",
            "is_consumer": facts["customer.kind"] == "consumer",
        },
        "amount": fmt.money(amount, currency),
        "amount_value": amount,
        "currency": currency,
        "due_date": due,
        "days_overdue": max((on - due).days, 0) if due else 0,
        "invoices": invoice_rows(invoices, fmt),
        "invoice_count": int(facts["balance.open_invoices"] or len(invoices) or 1),
        "reference": reference,
        "send_date": on,
        "promised_until": facts["journey.promised_until"],
        "handoff_to": legal.handoff_to,
        "deadline": on + dt.timedelta(days=legal.payment_days),
        "receipt_date": received,
        "wik_deadline": wik_term_end(on, receipt_days=legal.receipt_days),
        "options": available,
        "pay": pay,
        "bank": bank,
        "legal": legal_context(
            facts=facts, amount=amount, on=on, fmt=fmt, legal=legal, rates=rates
        ),
        "creditor": creditor_data,
        "sender": creditor.agent_name or None,
    }
