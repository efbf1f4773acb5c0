"""Fact derivation: every debtor's fact sheet from stored history, in set-based SQL.

One query computes the facts of the whole portfolio (or of a few customers, when an event
arrives): balance, behaviour over the last 12 paid invoices, the typical pay hour and weekday,
which channel's reminders get paid, promises, disputes and the journey so far. No per-debtor
round trips; Python only shapes each result row into a FactSheet.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import queue
import threading
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import Any, TypeVar

from sqlalchemy import (
    ARRAY,
    Connection,
    Date,
    Engine,
    Float,
    Row,
    Select,
    String,
    and_,
    any_,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal_column,
    or_,
    select,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from engine.decision.model import FactSheet
from engine.decision.timing import zone
from engine.rules.facts import CHANNELS
from engine.store import tables as t
from engine.store.driver_read import DriverSelect
from engine.store.errors import CustomerNotFound, MixedCurrencies
from engine.store.sqltime import days_between, hours_between, utc_date
from engine.store.types import MoneyAmount, UTCDateTime

C = t.Customer.__table__  # type: ignore[attr-defined]
CT = t.Contact.__table__  # type: ignore[attr-defined]
I = t.Invoice.__table__  # type: ignore[attr-defined]  # noqa: E741
P = t.Payment.__table__  # type: ignore[attr-defined]
PR = t.PromiseToPay.__table__  # type: ignore[attr-defined]
D = t.Dispute.__table__  # type: ignore[attr-defined]
J = t.Journey.__table__  # type: ignore[attr-defined]
M = t.Message.__table__  # type: ignore[attr-defined]
E = t.Event.__table__  # type: ignore[attr-defined]

#: Paid invoices that behaviour facts look at (the most recent ones).
LAST_PAID = 12
#: A reminder counts as "paid after" when a payment follows within this many hours.
PAID_AFTER_HOURS = 72
#: Messages that never reached the debtor do not count as sent.
NOT_SENT = ("queued", "failed", "bounced", "cancelled")

InDefault = Callable[..., bool]
_ZERO = Decimal("0.00")


def legal_in_default() -> InDefault | None:
    try:
        from engine.messages.legal import is_in_default  # the messages issue provides it
    except ImportError:
        return None
    return is_in_default


Scope = Callable[[Any], ColumnElement[bool]]


def invoice_ctes(now_p: Any, today: Any, scope: Scope) -> tuple[Any, Any]:
    """Two CTEs over invoices issued by `today` (credit notes netted, not listed):

    `inv`: each invoice with `open` (amount minus payments and credit notes against it) and
    `paid_date`, the customer's calendar day of the payment that settled it (None while open);
    `alloc`: each invoice still open with `remaining`, what is left once money on account
    (payments without an invoice) is applied, oldest due date first.
    So open_invoices, open_amount and oldest_due_date always describe the same invoices.
    """
    paid_per_invoice = (
        select(
            P.c.invoice_id,
            func.sum(P.c.amount).label("paid"),
            func.max(func.coalesce(P.c.local_date, utc_date(P.c.paid_at))).label("paid_date"),
        )
        .where(P.c.invoice_id.is_not(None), P.c.paid_at <= now_p, scope(P.c.customer_id))
        .group_by(P.c.invoice_id)
        .cte("paid_per_invoice")
    )
    # a literal, not a parameter: the partial index of credit notes (ix_invoice_credit_note,
    # `amount < 0`) is used only when the query's condition is the index's own
    is_credit = I.c.amount < literal_column("0")
    credited = (
        select(I.c.corrects_invoice_id.label("invoice_id"), func.sum(-I.c.amount).label("credited"))
        .where(
            is_credit,
            I.c.corrects_invoice_id.is_not(None),
            I.c.issue_date <= today,
            scope(I.c.customer_id),
        )
        .group_by(I.c.corrects_invoice_id)
        .cte("credited")
    )
    paid = func.coalesce(paid_per_invoice.c.paid, 0)
    settled = paid + func.coalesce(credited.c.credited, 0)
    inv = (
        select(
            I.c.id,
            I.c.customer_id,
            I.c.number,
            I.c.amount,
            I.c.currency,
            I.c.issue_date,
            I.c.due_date,
            I.c.warns_of_default,
            type_coerce(I.c.amount - settled, MoneyAmount).label("open"),
            case((settled >= I.c.amount, paid_per_invoice.c.paid_date)).label("paid_date"),
        )
        .select_from(
            I.outerjoin(paid_per_invoice, paid_per_invoice.c.invoice_id == I.c.id).outerjoin(
                credited, credited.c.invoice_id == I.c.id
            )
        )
        .where(~is_credit, I.c.issue_date <= today, scope(I.c.customer_id))
        .cte("inv")
    )
    on_account = (
        select(P.c.customer_id, P.c.amount.label("amount"))
        .where(P.c.invoice_id.is_(None), P.c.paid_at <= now_p, scope(P.c.customer_id))
        .subquery("on_account_rows")
    )
    pool = (
        select(on_account.c.customer_id, func.sum(on_account.c.amount).label("pool"))
        .group_by(on_account.c.customer_id)
        .cte("on_account")
    )
    running = (
        select(
            inv,
            func.sum(inv.c.open)
            .over(partition_by=inv.c.customer_id, order_by=(inv.c.due_date, inv.c.id))
            .label("cumulative"),
        )
        .where(inv.c.open > 0)
        .cte("running")
    )
    available = func.coalesce(pool.c.pool, 0)
    alloc = (
        select(
            running.c.id,
            running.c.customer_id,
            running.c.number,
            running.c.amount,
            running.c.currency,
            running.c.issue_date,
            running.c.due_date,
            running.c.warns_of_default,
            type_coerce(
                case(
                    (running.c.cumulative <= available, 0),
                    (running.c.cumulative - running.c.open >= available, running.c.open),
                    else_=running.c.cumulative - available,
                ),
                MoneyAmount,
            ).label("remaining"),
        )
        .select_from(running.outerjoin(pool, pool.c.customer_id == running.c.customer_id))
        .cte("alloc")
    )
    return inv, alloc


def fact_query(
    now: dt.datetime,
    customer_ids: Sequence[str] | None = None,
    *,
    id_from: str | ColumnElement[str] | None = None,
    id_to: str | ColumnElement[str] | None = None,
    ids_array: bool = False,
    open_only: bool = False,
) -> Select[Any]:
    """The SELECT yielding one row of raw facts per (not forgotten) customer, ordered by id;
    for `customer_ids` only, or for ids in [id_from, id_to) (a chunk of the portfolio). The
    ids and the bounds may be given at execution instead (a `bindparam` as a bound; the ids
    as the parameter `ids`): one statement then serves every chunk of a plan.

    `ids_array` (PostgreSQL): the ids go as one array parameter (`= ANY(:ids)`) instead of an
    IN list of one parameter per id in every CTE: the statement text stays the same size for
    any number of ids (the driver parses it on every execution) and one prepared plan fits all."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now_p = bindparam("now", now, type_=UTCDateTime)
    year_ago = bindparam("year_ago", now - dt.timedelta(days=365), type_=UTCDateTime)
    utc_today = now.astimezone(dt.UTC).date()
    today = bindparam("today", utc_today, type_=Date)
    # one named parameter for every CTE: the statement for a few customers is built once and
    # reused (building it costs far more than running it; see `_query_by_ids`)
    ids: BindParameter[Any] | None = None
    if customer_ids is not None:
        if ids_array:
            ids = bindparam("ids", list(customer_ids), type_=ARRAY(String))
        else:
            ids = bindparam("ids", list(customer_ids), expanding=True)

    def scope(column: Any) -> ColumnElement[bool]:
        # every CTE is narrowed to the same customers, so a chunk reads only its own rows
        conditions = []
        if ids is not None:
            conditions.append(column == any_(ids) if ids_array else column.in_(ids))
        if id_from is not None:
            conditions.append(column >= id_from)
        if id_to is not None:
            conditions.append(column < id_to)
        return and_(*conditions) if conditions else true()

    sent = and_(M.c.sent_at.is_not(None), M.c.sent_at <= now_p, M.c.status.not_in(NOT_SENT))

    inv, alloc = invoice_ctes(now_p, today, scope)
    is_open = alloc.c.remaining > 0
    yesterday = bindparam("yesterday", utc_today - dt.timedelta(days=1), type_=Date)

    def open_sum(condition: ColumnElement[bool]) -> Any:
        return type_coerce(
            func.sum(case((and_(is_open, condition), alloc.c.remaining), else_=0)), MoneyAmount
        )

    balance = (
        select(
            alloc.c.customer_id,
            open_sum(true()).label("open_amount"),
            func.count(case((is_open, 1))).label("open_invoices"),
            func.min(case((is_open, alloc.c.due_date))).label("oldest_due_date"),
            func.max(case((is_open, alloc.c.currency))).label("currency"),
            func.count(func.distinct(case((is_open, alloc.c.currency)))).label("currencies"),
            func.max(case((and_(is_open, alloc.c.warns_of_default), 1), else_=0)).label("warned"),
            # the customer's today is the UTC day, the day before or the day after: the overdue
            # amount is chosen in Python from these three sums
            open_sum(alloc.c.due_date < yesterday).label("due_before_yesterday"),
            open_sum(alloc.c.due_date == yesterday).label("due_yesterday"),
            open_sum(alloc.c.due_date == today).label("due_today"),
        )
        .group_by(alloc.c.customer_id)
        .cte("balance")
    )

    def owing(column: Any) -> ColumnElement[bool]:
        # `open_only`: the rest of the facts for debtors with an open invoice only
        if not open_only:
            return scope(column)
        with_debt = select(balance.c.customer_id).where(balance.c.open_invoices > 0)
        return and_(scope(column), column.in_(with_debt))

    ranked_paid = (
        select(
            inv.c.customer_id,
            days_between(inv.c.paid_date, inv.c.due_date).label("late"),
            func.row_number()
            .over(
                partition_by=inv.c.customer_id,
                order_by=(inv.c.paid_date.desc(), inv.c.id.desc()),
            )
            .label("rn"),
        )
        .where(inv.c.paid_date.is_not(None), owing(inv.c.customer_id))
        .cte("ranked_paid")
    )
    behaviour = (
        select(
            ranked_paid.c.customer_id,
            func.avg(
                cast(case((ranked_paid.c.late > 0, ranked_paid.c.late), else_=0), Float)
            ).label("avg_days_late"),
            func.avg(case((ranked_paid.c.late <= 0, 1.0), else_=0.0)).label("on_time_ratio"),
        )
        .where(ranked_paid.c.rn <= LAST_PAID)
        .group_by(ranked_paid.c.customer_id)
        .cte("behaviour")
    )

    def mode(column: Any, name: str) -> Any:
        counts = (
            select(P.c.customer_id, column.label("value"), func.count().label("n"))
            .where(P.c.paid_at <= now_p, P.c.paid_at > year_ago, owing(P.c.customer_id))
            .group_by(P.c.customer_id, column)
            .cte(f"{name}_counts")
        )
        # the most frequent value (ties: the smallest) in one GROUP BY: max of n*100 + (99-value)
        best = func.max(counts.c.n * 100 + (99 - counts.c.value))
        return (
            select(counts.c.customer_id, (99 - best % 100).label(name))
            .group_by(counts.c.customer_id)
            .cte(name)
        )

    pay_hour = mode(P.c.local_hour, "typical_pay_hour")
    pay_weekday = mode(P.c.local_weekday, "typical_pay_weekday")

    P2 = P.alias("p2")
    followed = exists().where(
        P2.c.customer_id == M.c.customer_id,
        P2.c.paid_at > M.c.sent_at,
        P2.c.paid_at <= now_p,
        hours_between(P2.c.paid_at, M.c.sent_at) <= PAID_AFTER_HOURS,
    )
    per_channel = (
        select(
            M.c.customer_id,
            M.c.channel,
            func.count().label("sent"),
            func.sum(case((followed, 1), else_=0)).label("paid"),
        )
        .where(sent, owing(M.c.customer_id))
        .group_by(M.c.customer_id, M.c.channel)
        .cte("per_channel")
    )
    paid_after = (
        select(
            per_channel.c.customer_id,
            *[
                func.max(
                    case(
                        (
                            per_channel.c.channel == channel,
                            cast(per_channel.c.paid, Float) / per_channel.c.sent,
                        )
                    )
                ).label(f"paid_after_{channel}")
                for channel in CHANNELS
            ],
        )
        .group_by(per_channel.c.customer_id)
        .cte("paid_after")
    )

    paid_towards_promise = (
        select(func.coalesce(func.sum(P.c.amount), 0))
        .where(
            P.c.customer_id == PR.c.customer_id,
            P.c.paid_at >= PR.c.promised_at,
            utc_date(P.c.paid_at) <= PR.c.promised_until,
        )
        .scalar_subquery()
    )
    promises = (
        select(
            PR.c.customer_id,
            func.count(
                case(
                    (
                        and_(
                            PR.c.promised_until < today,
                            PR.c.promised_at > year_ago,
                            paid_towards_promise < PR.c.amount,
                        ),
                        1,
                    )
                )
            ).label("broken_promises"),
            func.max(case((PR.c.promised_until >= today, PR.c.promised_until))).label(
                "promised_until"
            ),
        )
        .where(PR.c.promised_at <= now_p, owing(PR.c.customer_id))
        .group_by(PR.c.customer_id)
        .cte("promises")
    )
    disputes = (
        select(D.c.customer_id, func.count().label("open_disputes"))
        .where(
            D.c.opened_at <= now_p,
            or_(D.c.resolved_at.is_(None), D.c.resolved_at > now_p),
            owing(D.c.customer_id),
        )
        .group_by(D.c.customer_id)
        .cte("disputes")
    )

    # a settled journey (`done`) counts nothing: new debt starts the next round from step 1
    settled = J.c.state == "done"
    in_journey = or_(J.c.started_at.is_(None), and_(M.c.sent_at >= J.c.started_at, ~settled))
    messages = (
        select(
            M.c.customer_id,
            func.count(case((in_journey, 1))).label("messages_sent"),
            func.count(case((hours_between(now_p, M.c.sent_at) <= 24 * 7, 1))).label(
                "messages_last_7_days"
            ),
            func.max(M.c.sent_at).label("last_sent_at"),
        )
        # the journey side narrowed too: else it is a scan of every journey for each chunk
        .select_from(
            M.outerjoin(J, and_(J.c.customer_id == M.c.customer_id, scope(J.c.customer_id)))
        )
        .where(sent, owing(M.c.customer_id))
        .group_by(M.c.customer_id)
        .cte("message_stats")
    )
    last_message = (
        select(
            M.c.customer_id,
            M.c.channel.label("last_channel"),
            func.row_number()
            .over(partition_by=M.c.customer_id, order_by=(M.c.sent_at.desc(), M.c.id.desc()))
            .label("rn"),
        )
        .where(sent, owing(M.c.customer_id))
        .cte("last_message")
    )
    first_reminder = (
        select(
            M.c.customer_id,
            func.min(utc_date(M.c.sent_at)).label("first_reminder"),
            func.count().label("reminders_sent"),
        )
        .join(balance, balance.c.customer_id == M.c.customer_id)
        .where(sent, utc_date(M.c.sent_at) > balance.c.oldest_due_date, owing(M.c.customer_id))
        .group_by(M.c.customer_id)
        .cte("first_reminder")
    )
    # a reaction is a click or reply event, or any payment, promise or dispute, whichever way
    # it arrived (an event, or its own import file)
    reacted_at = union_all(
        select(E.c.customer_id, E.c.occurred_at.label("at")).where(
            E.c.kind.in_(t.REACTION_KINDS), E.c.occurred_at <= now_p, owing(E.c.customer_id)
        ),
        select(P.c.customer_id, P.c.paid_at).where(P.c.paid_at <= now_p, owing(P.c.customer_id)),
        select(PR.c.customer_id, PR.c.promised_at).where(
            PR.c.promised_at <= now_p, owing(PR.c.customer_id)
        ),
        select(D.c.customer_id, D.c.opened_at).where(
            D.c.opened_at <= now_p, owing(D.c.customer_id)
        ),
    ).subquery("reacted_at")
    reactions = (
        select(
            reacted_at.c.customer_id,
            type_coerce(func.max(reacted_at.c.at), UTCDateTime).label("last_reaction"),
        )
        .group_by(reacted_at.c.customer_id)
        .cte("reactions")
    )
    ranked_contact = (
        select(
            CT,
            func.row_number()
            .over(partition_by=CT.c.customer_id, order_by=(CT.c.is_primary.desc(), CT.c.id))
            .label("rn"),
        )
        .where(owing(CT.c.customer_id))
        .cte("ranked_contact")
    )
    contact = select(ranked_contact).where(ranked_contact.c.rn == 1).cte("primary_contact")

    def by_customer(cte: Any) -> ColumnElement[bool]:
        joined: ColumnElement[bool] = cte.c.customer_id == C.c.id
        return joined

    return (
        select(
            C.c.id,
            C.c.name,
            C.c.kind,
            C.c.country,
            C.c.language,
            C.c.timezone,
            C.c.employees,
            C.c.industry,
            C.c.credit_score,
            C.c.tags,
            contact.c.id.label("contact_id"),
            contact.c.role,
            contact.c.decision_authority,
            contact.c.language.label("contact_language"),
            contact.c.timezone.label("contact_timezone"),
            contact.c.preferred_channel,
            contact.c.consent_email,
            contact.c.consent_sms,
            contact.c.consent_whatsapp,
            contact.c.email,
            contact.c.phone,
            contact.c.whatsapp,
            contact.c.street,
            contact.c.city,
            balance.c.open_amount,
            balance.c.open_invoices,
            balance.c.oldest_due_date,
            balance.c.currency,
            balance.c.currencies,
            balance.c.warned,
            balance.c.due_before_yesterday,
            balance.c.due_yesterday,
            balance.c.due_today,
            behaviour.c.avg_days_late,
            behaviour.c.on_time_ratio,
            pay_hour.c.typical_pay_hour,
            pay_weekday.c.typical_pay_weekday,
            *[paid_after.c[f"paid_after_{channel}"] for channel in CHANNELS],
            promises.c.broken_promises,
            promises.c.promised_until,
            disputes.c.open_disputes,
            case((settled, 0), else_=func.coalesce(J.c.steps_sent, 0)).label("steps_sent"),
            (func.coalesce(J.c.round, 1) + case((settled, 1), else_=0)).label("journey_round"),
            messages.c.messages_sent,
            messages.c.messages_last_7_days,
            messages.c.last_sent_at,
            last_message.c.last_channel,
            first_reminder.c.first_reminder,
            first_reminder.c.reminders_sent,
            reactions.c.last_reaction,
        )
        .select_from(
            C.outerjoin(contact, by_customer(contact))
            .outerjoin(balance, by_customer(balance))
            .outerjoin(behaviour, by_customer(behaviour))
            .outerjoin(pay_hour, by_customer(pay_hour))
            .outerjoin(pay_weekday, by_customer(pay_weekday))
            .outerjoin(paid_after, by_customer(paid_after))
            .outerjoin(promises, by_customer(promises))
            .outerjoin(disputes, by_customer(disputes))
            .outerjoin(J, and_(by_customer(J), scope(J.c.customer_id)))
            .outerjoin(messages, by_customer(messages))
            .outerjoin(last_message, and_(by_customer(last_message), last_message.c.rn == 1))
            .outerjoin(first_reminder, by_customer(first_reminder))
            .outerjoin(reactions, by_customer(reactions))
        )
        .where(C.c.forgotten_at.is_(None), scope(C.c.id))
        .order_by(C.c.id)
    )


def _reachable(r: dict[str, Any]) -> tuple[str, ...]:
    if r["contact_id"] is None:
        return CHANNELS  # no payer known: do not narrow what the rules may pick
    have = {
        "email": bool(r["email"]),
        "sms": bool(r["phone"]),
        "whatsapp": bool(r["whatsapp"] or r["phone"]),
        "letter": bool(r["street"] and r["city"]),
        "phone": bool(r["phone"]),
    }
    return tuple(c for c in CHANNELS if have[c])


def _ratio(value: Any) -> float | None:
    return None if value is None else round(float(value), 4)


_DEFAULTS: dict[str, Any] = dict(FactSheet.build().values)


def _as_date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _overdue(r: Mapping[str, Any], local_minus_utc: dt.timedelta) -> Decimal:
    """What is open and past due on the customer's calendar day (which is the UTC day, the
    day before or the day after)."""
    overdue: Decimal = r["due_before_yesterday"] or _ZERO
    if local_minus_utc.days >= 0:
        overdue += r["due_yesterday"] or _ZERO
    if local_minus_utc.days >= 1:
        overdue += r["due_today"] or _ZERO
    return overdue


def sheet_from_row(
    row: Row[Any] | dict[str, Any],
    now: dt.datetime,
    in_default: InDefault | None = None,
    *,
    check: bool = True,
) -> FactSheet:
    """Shape one result row of `fact_query` into a FactSheet.

    With `check` the sheet goes through FactSheet.build (types and choices validated). The
    portfolio stream skips that: every value already has its fact's type (the SQL and the
    import rows guarantee it; a test holds both paths equal), and validation would cost as
    much as the SQL itself.
    """
    # one dict: plain key lookups are several times faster than Row's (a caller shaping many
    # rows builds the dicts itself from the result's keys: Row._asdict rebuilds them per row)
    r = row if isinstance(row, dict) else row._asdict()
    if (r["currencies"] or 0) > 1:
        raise MixedCurrencies(r["id"])
    open_amount: Decimal = r["open_amount"] or _ZERO
    oldest_due: dt.date | None = _as_date(r["oldest_due_date"])
    timezone = r["contact_timezone"] or r["timezone"] or "Europe/Amsterdam"
    today = now.astimezone(zone(timezone)).date()  # the customer's calendar day
    overdue = _overdue(r, today - now.astimezone(dt.UTC).date())
    last_sent: dt.datetime | None = r["last_sent_at"]
    defaulted = False
    if in_default is not None and oldest_due is not None:
        defaulted = in_default(
            country=r["country"],
            kind=r["kind"],
            due_date=oldest_due,
            today=today,
            first_reminder_sent=r["first_reminder"],
            invoice_warned_of_default=bool(r["warned"]),
        )
    flat: dict[str, Any] = {
        "customer.id": r["id"],
        "customer.name": r["name"],
        "customer.kind": r["kind"],
        "customer.country": r["country"],
        "customer.language": r["contact_language"] or r["language"],
        "customer.timezone": r["contact_timezone"] or r["timezone"],
        "customer.employees": r["employees"],
        "customer.industry": r["industry"],
        "customer.credit_score": r["credit_score"],
        "customer.tags": tuple(r["tags"] or ()),
        "customer.reachable_by": _reachable(r),
        "balance.open_amount": open_amount,
        "balance.currency": r["currency"] or "EUR",
        "balance.overdue_amount": overdue,
        "balance.open_invoices": int(r["open_invoices"] or 0),
        "balance.max_days_overdue": max((today - oldest_due).days, 0) if oldest_due else 0,
        "balance.oldest_due_date": oldest_due,
        "balance.in_default": defaulted,
        "behaviour.avg_days_late": (
            None if r["avg_days_late"] is None else round(float(r["avg_days_late"]), 2)
        ),
        "behaviour.on_time_ratio": _ratio(r["on_time_ratio"]),
        "behaviour.typical_pay_hour": r["typical_pay_hour"],
        "behaviour.typical_pay_weekday": r["typical_pay_weekday"],
        "behaviour.broken_promises": int(r["broken_promises"] or 0),
        "behaviour.open_disputes": int(r["open_disputes"] or 0),
        "journey.steps_sent": int(r["steps_sent"] or 0),
        "journey.round": int(r["journey_round"] or 1),
        "journey.messages_sent": int(r["messages_sent"] or 0),
        "journey.reminders_sent": int(r["reminders_sent"] or 0),
        "journey.messages_last_7_days": int(r["messages_last_7_days"] or 0),
        "journey.last_channel": r["last_channel"],
        "journey.hours_since_last_message": (
            round((now - last_sent).total_seconds() / 3600, 1) if last_sent else None
        ),
        "journey.reacted": bool(
            last_sent and r["last_reaction"] and r["last_reaction"] > last_sent
        ),
        "journey.promised_until": r["promised_until"],
    }
    for channel in CHANNELS:
        flat[f"behaviour.paid_after.{channel}"] = _ratio(r[f"paid_after_{channel}"])
    if r["contact_id"] is not None:
        flat["customer.payer_role"] = r["role"]
        flat["customer.decision_authority"] = bool(r["decision_authority"])
        flat["customer.preferred_channel"] = r["preferred_channel"]
        flat["customer.consent.email"] = bool(r["consent_email"])
        flat["customer.consent.sms"] = bool(r["consent_sms"])
        flat["customer.consent.whatsapp"] = bool(r["consent_whatsapp"])
    if check:
        return FactSheet.build(flat)
    values = dict(_DEFAULTS)
    values.update(flat)
    return FactSheet(MappingProxyType(values))


_SETTLED: dict[str, Any] = {
    **_DEFAULTS,
    "balance.open_amount": _ZERO,
    "balance.overdue_amount": _ZERO,
}


def settled_sheet(customer_id: str) -> FactSheet:
    """The fact sheet of a debtor with nothing open, as the planner's read (`fact_query(...,
    open_only=True)`) leaves it: its id and an empty balance, every other fact at its default.
    Its decision is the one of its full sheet (nothing open: no payment request); a test holds
    the planner's decisions equal to those of the full sheets."""
    values = dict(_SETTLED)
    values["customer.id"] = customer_id
    return FactSheet(MappingProxyType(values))


def chunk_starts(engine: Engine, size: int) -> list[str]:
    """The first customer id of each chunk of `size` customers, in id order."""
    numbered = (
        select(C.c.id, func.row_number().over(order_by=C.c.id).label("n"))
        .where(C.c.forgotten_at.is_(None))
        .subquery()
    )
    query = select(numbered.c.id).where((numbered.c.n - 1) % size == 0).order_by(numbered.c.id)
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


def _chunks(
    engine: Engine, now: dt.datetime, customer_ids: Sequence[str] | None, size: int
) -> Generator[list[FactSheet], None, None]:
    """Fact sheets chunk by chunk: one set-based query per chunk of customers."""
    in_default = legal_in_default()
    if customer_ids is not None:
        ids = sorted(set(customer_ids))
        queries = [fact_query(now, ids[i : i + size]) for i in range(0, len(ids), size)]
    else:
        starts = chunk_starts(engine, size)
        ends: list[str | None] = [*starts[1:], None] if starts else []  # an empty store
        queries = [fact_query(now, id_from=a, id_to=b) for a, b in zip(starts, ends, strict=True)]
    with engine.connect() as conn:
        for query in queries:
            rows = conn.execute(query).all()
            yield [sheet_from_row(row, now, in_default, check=False) for row in rows]


_DONE = object()
Chunk = TypeVar("Chunk")


def prefetched(
    chunks: Generator[Chunk, None, None],
    depth: int = 2,
    *,
    discard: Callable[[Chunk], None] | None = None,
) -> Generator[Chunk, None, None]:
    """Run `chunks` in a thread, `depth` chunks ahead: the database computes the next chunk
    (the driver releases the GIL while it waits) while the caller decides and writes this one.
    `discard`: called on each chunk read ahead but never taken, when the caller stops early
    (a chunk holding an open transaction, say)."""
    ready: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def drop(item: Any) -> None:
        if discard is not None and item is not _DONE and not isinstance(item, BaseException):
            discard(item)

    def produce() -> None:
        try:
            for chunk in chunks:
                while not stop.is_set():
                    try:
                        ready.put(chunk, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    drop(chunk)  # read, never put: nobody else will see it
                    break
            ready.put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            ready.put(exc)
        finally:
            chunks.close()

    worker = threading.Thread(target=produce, name="payjourney-facts", daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            with contextlib.suppress(queue.Empty):
                drop(ready.get(timeout=0.1))
        worker.join()
        while not ready.empty():
            drop(ready.get_nowait())


def fact_sheet_batches(
    engine: Engine,
    now: dt.datetime,
    customer_ids: Sequence[str] | None = None,
    *,
    batch: int = 5000,
    prefetch: bool = True,
) -> Generator[list[FactSheet], None, None]:
    """The portfolio's fact sheets (or those of `customer_ids`) in id order, `batch` at a time."""
    chunks = _chunks(engine, now, customer_ids, batch)
    return prefetched(chunks) if prefetch else chunks


def derive_fact_sheets(
    engine: Engine,
    now: dt.datetime,
    customer_ids: Sequence[str] | None = None,
    *,
    batch: int = 5000,
) -> Iterator[FactSheet]:
    """Fact sheets of the whole portfolio (or of `customer_ids`), one by one in id order."""
    for sheets in fact_sheet_batches(engine, now, customer_ids, batch=batch, prefetch=False):
        yield from sheets


@functools.cache
def _query_by_ids(ids_array: bool) -> Select[Any]:
    """fact_query for a few customers, built once: callers bind now, year_ago, today and ids."""
    return fact_query(dt.datetime(2000, 1, 1, tzinfo=dt.UTC), [], ids_array=ids_array)


def fact_sheets_on(
    conn: Connection, customer_ids: Sequence[str], now: dt.datetime
) -> dict[str, FactSheet]:
    """The fact sheets of a few customers, read on `conn` (inside the caller's transaction)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    in_default = legal_in_default()
    params = {
        "now": now,
        "year_ago": now - dt.timedelta(days=365),
        "today": now.astimezone(dt.UTC).date(),
        "yesterday": now.astimezone(dt.UTC).date() - dt.timedelta(days=1),
        "ids": list(customer_ids),
    }
    postgresql = conn.dialect.name == "postgresql"
    rows = _read_by_ids(postgresql).rows(
        conn,
        params,
        # planning this statement takes longer than running it for a few debtors: the driver
        # prepares it once it repeats, and a generic plan is then reused, not planned anew
        before="SET LOCAL plan_cache_mode = force_generic_plan" if postgresql else None,
    )
    return {row["id"]: sheet_from_row(row, now, in_default) for row in rows}


@functools.cache
def _read_by_ids(ids_array: bool) -> DriverSelect:
    """`_query_by_ids` run on the driver's cursor: SQLAlchemy's execution of it (expanding
    the ids into every CTE, typing each value, Row objects) took three times the query's own
    time for one debtor (engine/store/driver_read.py)."""
    return DriverSelect(_query_by_ids(ids_array), ("now", "year_ago", "today", "yesterday", "ids"))


def fact_sheets_for(
    engine: Engine, customer_ids: Sequence[str], now: dt.datetime
) -> dict[str, FactSheet]:
    """The fact sheets of a few customers (after an event, for a preview), by id."""
    with engine.connect() as conn:
        return fact_sheets_on(conn, customer_ids, now)


def fact_sheet_for(engine: Engine, customer_id: str, now: dt.datetime) -> FactSheet:
    """One stored customer's fact sheet (the same SQL as for the portfolio, for one id)."""
    sheets = fact_sheets_for(engine, [customer_id], now)
    if customer_id not in sheets:
        raise CustomerNotFound(customer_id)
    return sheets[customer_id]


def load_fact_sheet(db_url: str, customer_id: str, now: dt.datetime) -> FactSheet:
    """The fact sheet of a stored customer, for `payjourney explain --customer ID`."""
    from engine.store.db import make_engine
    from engine.store.migrate import ensure_ready

    engine = make_engine(db_url)
    try:
        ensure_ready(engine)
        return fact_sheet_for(engine, customer_id, now)
    finally:
        engine.dispose()
