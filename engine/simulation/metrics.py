"""The figures of one simulated run, read back from its database: what was sent, what was paid.

Per group of debtors (a persona, or everyone): share of the invoices falling due in the run paid
within 30 days of their due date, days sales outstanding, average days to pay, messages per
1,000 EUR collected, messages per debtor, hand-offs; and the payment curve (share paid by day
after the due date). Everything comes from the store's tables, nothing from the behaviour model.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from engine.store import tables as t

INV = t.Invoice.__table__  # type: ignore[attr-defined]
P = t.Payment.__table__  # type: ignore[attr-defined]
M = t.Message.__table__  # type: ignore[attr-defined]
S = t.ScheduledStep.__table__  # type: ignore[attr-defined]
ALL = "all debtors"
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
#: Days after the due date within which an invoice counts as paid in time (the headline share).
PAID_WITHIN_DAYS = 30
#: DSO divides by the average amount invoiced per day over this many days up to the run's end
#: (the usual trailing-quarter sales, so a short run has a steady denominator).
SALES_DAYS = 90
#: The payment curve runs from this many days before the due date to PAID_WITHIN_DAYS after.
CURVE_FROM = -10
FIGURES = (
    "paid_within",
    "paid_by_end",
    "dso",
    "days_to_pay",
    "messages_per_1000_eur",
    "messages_per_debtor",
    "handoffs",
    "messages",
    "collected_eur",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Figures:
    """One group's figures in one run."""

    debtors: int
    invoices_due: int  # invoices falling due in the run
    measured: int  # of those, due early enough to see PAID_WITHIN_DAYS after
    paid_within: float | None  # share of `measured` fully paid within PAID_WITHIN_DAYS
    paid_by_end: float | None  # share of the invoices falling due in the run paid by its end
    dso: float | None  # average open receivables in the run / average sales per day
    days_to_pay: float | None  # issue date to full payment, invoices due in the run and paid
    messages: int
    collected_eur: float
    messages_per_1000_eur: float | None
    messages_per_debtor: float
    handoffs: int
    # share paid by day CURVE_FROM, CURVE_FROM + 1, ... after the due date (up to 30 days, or
    # half the run when shorter), of the invoices due early enough in the run to be followed
    curve: tuple[float, ...] = field(repr=False)

    def value(self, name: str) -> float | None:
        value = getattr(self, name)
        return None if value is None else float(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFigures:
    """A run's figures per group, and its messages by persona, channel and step."""

    groups: Mapping[str, Figures]
    messages_by: Mapping[tuple[str, str, int], int]  # (journey, channel, step) -> sent


def _day(moment: dt.datetime, zone: ZoneInfo) -> dt.date:
    return moment.astimezone(zone).date()


def measure(
    engine: Engine,
    *,
    start: dt.datetime,
    days: int,
    groups: Mapping[str, str],
    zone: ZoneInfo = AMSTERDAM,
) -> RunFigures:
    """The run's figures per group (`groups`: customer id -> group name), and for everyone."""
    first = _day(start, zone)
    end = first + dt.timedelta(days=days)  # the first day after the run
    with engine.connect() as conn:
        invoices = conn.execute(
            select(
                INV.c.id,
                INV.c.customer_id,
                INV.c.amount,
                INV.c.issue_date,
                INV.c.due_date,
                INV.c.currency,
            ).where(INV.c.amount > 0, INV.c.currency == "EUR")
        ).all()
        payments = conn.execute(
            select(P.c.invoice_id, P.c.customer_id, P.c.amount, P.c.paid_at).where(
                P.c.currency == "EUR"
            )
        ).all()
        messages = conn.execute(
            select(M.c.customer_id, M.c.journey, M.c.channel, M.c.step, M.c.sent_at).where(
                M.c.status.in_(("sent", "delivered")), M.c.sent_at >= start
            )
        ).all()
        handoffs = conn.execute(
            select(S.c.customer_id).where(
                S.c.action == "handoff", S.c.status == "sent", S.c.updated_at >= start
            )
        ).all()
    members: dict[str, set[str]] = defaultdict(set)
    for cid, group in groups.items():
        members[group].add(cid)
        members[ALL].add(cid)

    # when each invoice was fully paid (the day), and what came in during the run
    paid_by: dict[str, list[tuple[dt.date, Decimal]]] = defaultdict(list)
    collected: dict[str, Decimal] = defaultdict(Decimal)
    for p in payments:
        day = _day(p.paid_at, zone)
        if p.invoice_id is not None:
            paid_by[p.invoice_id].append((day, Decimal(p.amount)))
        if first <= day < end:
            collected[p.customer_id] += Decimal(p.amount)
    full_on: dict[str, dt.date] = {}
    for inv in invoices:
        total = Decimal(0)
        for day, amount in sorted(paid_by.get(inv.id, [])):
            total += amount
            if total >= Decimal(inv.amount):
                full_on[inv.id] = day
                break

    sent: dict[str, int] = defaultdict(int)
    by: dict[tuple[str, str, int], int] = defaultdict(int)
    for m in messages:
        if _day(m.sent_at, zone) < end:
            sent[m.customer_id] += 1
            by[(m.journey or "-", m.channel, int(m.step or 0))] += 1
    handed: dict[str, int] = defaultdict(int)
    for h in handoffs:
        handed[h.customer_id] += 1

    by_customer: dict[str, list[object]] = defaultdict(list)
    for inv in invoices:
        by_customer[inv.customer_id].append(inv)
    out: dict[str, Figures] = {}
    for group in sorted(members, key=lambda g: (g != ALL, g)):
        cids = members[group]
        mine = [inv for cid in cids for inv in by_customer.get(cid, [])]
        out[group] = _figures(
            mine,  # type: ignore[arg-type]
            full_on,
            first=first,
            end=end,
            days=days,
            debtors=len(cids),
            messages=sum(sent[c] for c in cids),
            collected=float(sum((collected[c] for c in cids), Decimal(0))),
            handoffs=sum(handed[c] for c in cids),
        )
    return RunFigures(groups=out, messages_by=dict(by))


def _figures(
    invoices: list[t.Invoice],
    full_on: Mapping[str, dt.date],
    *,
    first: dt.date,
    end: dt.date,
    days: int,
    debtors: int,
    messages: int,
    collected: float,
    handoffs: int,
) -> Figures:
    due = [inv for inv in invoices if first <= inv.due_date < end]
    horizon = end - dt.timedelta(days=PAID_WITHIN_DAYS)
    measured = [inv for inv in due if inv.due_date < horizon]
    in_time = [
        inv
        for inv in measured
        if inv.id in full_on
        and full_on[inv.id] <= inv.due_date + dt.timedelta(days=PAID_WITHIN_DAYS)
    ]
    paid = [inv for inv in due if inv.id in full_on and full_on[inv.id] < end]
    days_to_pay = (
        sum((full_on[i.id] - i.issue_date).days for i in paid) / len(paid) if paid else None
    )
    # the curve follows the invoices due early enough to be seen for `reach` days after
    reach = min(PAID_WITHIN_DAYS, days // 2)
    followed = [inv for inv in due if inv.due_date < end - dt.timedelta(days=reach)]
    curve = []
    for k in range(CURVE_FROM, reach + 1):
        hits = sum(
            1
            for inv in followed
            if inv.id in full_on and full_on[inv.id] <= inv.due_date + dt.timedelta(days=k)
        )
        curve.append(hits / len(followed) if followed else 0.0)
    # DSO: the average of the open receivables at the end of each day of the run, over the
    # average amount invoiced per day in the SALES_DAYS up to the run's end
    change: dict[dt.date, Decimal] = defaultdict(Decimal)
    for inv in invoices:
        change[max(inv.issue_date, first)] += Decimal(inv.amount)
        if inv.id in full_on:
            change[max(full_on[inv.id], first)] -= Decimal(inv.amount)
    open_total, running = Decimal(0), Decimal(0)
    for day in sorted(d for d in change if d < first):
        running += change[day]
    for n in range(days):
        running += change.get(first + dt.timedelta(days=n), Decimal(0))
        open_total += running
    since = end - dt.timedelta(days=SALES_DAYS)
    invoiced = sum((Decimal(i.amount) for i in invoices if since <= i.issue_date < end), Decimal(0))
    dso = float(open_total / days / (invoiced / SALES_DAYS)) if invoiced > 0 else None
    return Figures(
        debtors=debtors,
        invoices_due=len(due),
        measured=len(measured),
        paid_within=len(in_time) / len(measured) if measured else None,
        paid_by_end=len(paid) / len(due) if due else None,
        dso=dso,
        days_to_pay=days_to_pay,
        messages=messages,
        collected_eur=collected,
        messages_per_1000_eur=messages / (collected / 1000) if collected > 0 else None,
        messages_per_debtor=messages / debtors if debtors else 0.0,
        handoffs=handoffs,
        curve=tuple(curve),
    )
