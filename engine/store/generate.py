"""`payjourney generate`: a realistic NL/DE portfolio with payment behaviour drawn per hidden type.

Each debtor gets a hidden behaviour type (punctual, structurally late, slipped once, chronic late,
reacts to reminders on one channel, disputes); invoices over 18 months, payments, reminders,
promises and disputes follow from it, so the paying personas can be found back in the derived
facts. The hidden types are returned, never stored: rules must find them from behaviour alone.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from engine.messages.iban import mod97
from engine.store import tables as t
from engine.store.bulk import insert_rows

#: Hidden behaviour types and their share of the portfolio.
BEHAVIOURS: Mapping[str, float] = {
    "punctual": 0.34,
    "structurally_late": 0.24,
    "slipped_once": 0.10,
    "chronic_late": 0.10,
    "reminder_responsive": 0.17,
    "disputer": 0.05,
}
HISTORY_DAYS = 548  # 18 months

_NL_CITIES = ("Amsterdam", "Rotterdam", "Utrecht", "Eindhoven", "Groningen", "Zwolle", "Breda")
_DE_CITIES = ("Berlin", "Hamburg", "München", "Köln", "Leipzig", "Dortmund", "Stuttgart")
_NL_NAMES = ("de Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder")
_DE_NAMES = ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker")
_FIRST = ("Anna", "Sanne", "Lotte", "Jan", "Pieter", "Lukas", "Mia", "Jonas", "Emma", "Finn")
_INDUSTRIES = ("retail", "construction", "wholesale", "it services", "hospitality", "logistics")
_B2B_ROLES = ("accounts_payable", "accounts_payable", "controller", "owner", "director")


@dataclass(frozen=True, slots=True, kw_only=True)
class HiddenTraits:
    """What a generated debtor is like, beyond its behaviour type: never stored (a simulation's
    behaviour model reacts with it, rules must find it from behaviour alone)."""

    behaviour: str
    kind: str  # business | consumer
    country: str
    responsive_channel: str  # the channel a `reminder_responsive` debtor reacts to
    lateness: float  # usual days after the due date the debtor pays, unreminded
    pay_hour: int  # local hour the debtor habitually pays at


@dataclass(frozen=True, slots=True, kw_only=True)
class GeneratedPortfolio:
    """What was written, and each debtor's hidden behaviour type (for tests and the demo)."""

    debtors: int
    rows: Mapping[str, int]
    behaviour_types: Mapping[str, str] = field(repr=False)
    traits: Mapping[str, HiddenTraits] = field(default_factory=dict, repr=False)


@dataclass(slots=True)
class _Batch:
    customer: list[dict[str, Any]] = field(default_factory=list)
    contact: list[dict[str, Any]] = field(default_factory=list)
    invoice: list[dict[str, Any]] = field(default_factory=list)
    payment: list[dict[str, Any]] = field(default_factory=list)
    promise_to_pay: list[dict[str, Any]] = field(default_factory=list)
    dispute: list[dict[str, Any]] = field(default_factory=list)
    message: list[dict[str, Any]] = field(default_factory=list)

    def tables(self) -> Iterator[tuple[Any, list[dict[str, Any]]]]:
        yield t.Customer, self.customer
        yield t.Contact, self.contact
        yield t.Invoice, self.invoice
        yield t.Payment, self.payment
        yield t.PromiseToPay, self.promise_to_pay
        yield t.Dispute, self.dispute
        yield t.Message, self.message


class _Debtor:
    """Draws one debtor and its history."""

    def __init__(self, rng: random.Random, number: int, width: int, today: dt.date) -> None:
        self.rng = rng
        self.id = f"C-{number:0{width}d}"
        self.number = number
        self.today = today
        self.behaviour = rng.choices(list(BEHAVIOURS), weights=list(BEHAVIOURS.values()))[0]
        self.country = "NL" if rng.random() < 0.6 else "DE"
        self.kind = "business" if rng.random() < 0.55 else "consumer"
        self.zone = ZoneInfo("Europe/Amsterdam" if self.country == "NL" else "Europe/Berlin")
        self.language = "nl" if self.country == "NL" else "de"
        self.responsive_channel = rng.choice(("whatsapp", "sms", "email", "letter"))
        # people pay at habitual times: payment runs for businesses, evenings for consumers
        if self.kind == "business":
            self.pay_hour = rng.choice((9, 10, 10, 11, 14))
            self.pay_weekday = rng.choice((1, 3, 3, 4))
        else:
            self.pay_hour = rng.choice((8, 12, 19, 20, 20, 21))
            self.pay_weekday = rng.choice((0, 4, 5, 5, 6))
        self.lateness = {
            "punctual": 0.0,
            "structurally_late": rng.uniform(3, 9),
            "slipped_once": 0.0,
            "chronic_late": rng.uniform(25, 60),
            "reminder_responsive": 9.0,
            "disputer": rng.uniform(0, 5),
        }[self.behaviour]

    def customer(self, now: dt.datetime) -> dict[str, Any]:
        rng = self.rng
        surname = rng.choice(_NL_NAMES if self.country == "NL" else _DE_NAMES)
        business = self.kind == "business"
        suffix = " B.V." if self.country == "NL" else " GmbH"
        return {
            "id": self.id,
            "name": f"{surname}{suffix}" if business else f"{rng.choice(_FIRST)} {surname}",
            "kind": self.kind,
            "country": self.country,
            "language": self.language,
            "timezone": self.zone.key,
            "employees": int(rng.lognormvariate(2.5, 1.2)) + 1 if business else None,
            "industry": rng.choice(_INDUSTRIES) if business else None,
            "credit_score": max(1, min(100, int(rng.gauss(62, 18)))),
            "tags": [],
            "created_at": now,
            "updated_at": now,
        }

    def contact(self, now: dt.datetime) -> dict[str, Any]:
        rng = self.rng
        business = self.kind == "business"
        role = rng.choice(_B2B_ROLES) if business else "consumer"
        has_phone = rng.random() < (0.55 if business else 0.8)
        whatsapp_ok = has_phone and rng.random() < (0.25 if business else 0.5)
        sms_ok = has_phone and rng.random() < 0.3
        if self.behaviour == "reminder_responsive" and self.responsive_channel in (
            "sms",
            "whatsapp",
        ):
            has_phone = True
            whatsapp_ok = whatsapp_ok or self.responsive_channel == "whatsapp"
            sms_ok = sms_ok or self.responsive_channel == "sms"
        preferred = rng.choice(["email", "email", "letter"] + (["whatsapp"] if whatsapp_ok else []))
        city = rng.choice(_NL_CITIES if self.country == "NL" else _DE_CITIES)
        number = self.id.split("-", 1)[1]
        return {
            "id": f"K-{number}",
            "customer_id": self.id,
            "is_primary": True,
            "name": f"{rng.choice(_FIRST)} {rng.choice(_NL_NAMES + _DE_NAMES)}",
            "role": role,
            "decision_authority": role in ("controller", "owner", "director", "consumer"),
            "language": self.language,
            "timezone": self.zone.key,
            "email": f"debtor{number}@example.{self.country.lower()}"
            if rng.random() < 0.95
            else None,
            "phone": f"+{31 if self.country == 'NL' else 49}6{number[-8:]:0>8}"
            if has_phone
            else None,
            "whatsapp": None,
            "street": f"{'Hoofdstraat' if self.country == 'NL' else 'Hauptstraße'} {rng.randint(1, 200)}",
            "postal_code": _postal_code(self.country, rng.randint(1000, 9999)),
            "city": city,
            "country": self.country,
            "preferred_channel": preferred,
            "consent_email": rng.random() > 0.03,
            "consent_sms": sms_ok,
            "consent_whatsapp": whatsapp_ok,
            "updated_at": now,
        }

    def traits(self) -> HiddenTraits:
        return HiddenTraits(
            behaviour=self.behaviour,
            kind=self.kind,
            country=self.country,
            responsive_channel=self.responsive_channel,
            lateness=self.lateness,
            pay_hour=self.pay_hour,
        )

    def upcoming(self, batch: _Batch, rng: random.Random, days: int, per_day: float) -> None:
        """Invoices falling due in the `days` after today, unpaid (a simulation decides who pays
        when). Those issued after today are stored already: facts ignore an invoice before its
        issue date, so they appear on their day, as if invoiced then."""
        business = self.kind == "business"
        terms = 30 if business else 14
        count = min(4, 1 + int(rng.expovariate(1 / max(per_day * days, 0.01))))
        number = self.id.split("-", 1)[1]
        for k in range(count):
            due = self.today + dt.timedelta(days=rng.randint(1, days))
            issued = due - dt.timedelta(days=terms)
            batch.invoice.append(
                self._invoice(rng, f"I-{number}-R{k + 1}", f"{number}R{k + 1}", issued, due)
            )

    def _invoice(
        self, rng: random.Random, invoice_id: str, suffix: str, issued: dt.date, due: dt.date
    ) -> dict[str, Any]:
        """An invoice row, its amount drawn from `rng` (log-normal around the kind's scale)."""
        business = self.kind == "business"
        scale = 1500.0 if business else 120.0
        amount = Decimal(str(round(rng.lognormvariate(math.log(scale), 0.8), 2))).quantize(
            Decimal("0.01")
        )
        return {
            "id": invoice_id,
            "customer_id": self.id,
            "number": f"{issued.year}-{suffix}",
            "amount": max(amount, Decimal("5.00")),
            "currency": "EUR",
            "issue_date": issued,
            "due_date": due,
            "warns_of_default": self.country == "DE" and not business,
            "description": None,
            "updated_at": dt.datetime.combine(issued, dt.time(8), dt.UTC),
        }

    def _at_local(self, day: dt.date, hour: int) -> dt.datetime:
        minute = self.rng.randint(0, 59)
        return dt.datetime.combine(day, dt.time(hour, minute), self.zone)

    def _habitual_day(self, day: dt.date, *, never_later: bool) -> dt.date:
        """Move a pay day to the debtor's habitual weekday nearby (most of the time); punctual
        payers move it earlier, never past the due date."""
        if self.rng.random() < 0.25:
            return day
        shift = (self.pay_weekday - day.weekday()) % 7
        if never_later or shift > 3:
            shift -= 7 if shift else 0
        return day + dt.timedelta(days=shift)

    def history(self, batch: _Batch, invoices_per_debtor: float) -> None:
        rng = self.rng
        business = self.kind == "business"
        mean = invoices_per_debtor * (1.3 if business else 0.65)
        count = max(1, min(40, int(rng.expovariate(1 / mean) + 0.5)))
        terms = 30 if business else 14
        start = self.today - dt.timedelta(days=HISTORY_DAYS)
        issue_days = sorted(rng.randint(0, HISTORY_DAYS - 1) for _ in range(count))
        slip = rng.randrange(count)
        number = self.id.split("-", 1)[1]
        for k, offset in enumerate(issue_days):
            issued = start + dt.timedelta(days=offset)
            due = issued + dt.timedelta(days=terms)
            invoice_id = f"I-{number}-{k + 1:02d}"
            row = self._invoice(rng, invoice_id, f"{number}{k + 1:02d}", issued, due)
            amount = row["amount"]
            batch.invoice.append(row)
            self._settle(batch, invoice_id, amount, due, late_slip=(k == slip), index=k)

    def _settle(
        self,
        batch: _Batch,
        invoice_id: str,
        amount: Decimal,
        due: dt.date,
        *,
        late_slip: bool,
        index: int,
    ) -> None:
        rng = self.rng
        late = self.lateness + rng.gauss(0, 1.0 if self.behaviour != "chronic_late" else 8.0)
        if self.behaviour == "punctual":
            late = -rng.randint(0, 4)
        elif self.behaviour == "slipped_once":
            late = rng.randint(20, 40) if late_slip else -rng.randint(0, 3)
        late_days = max(round(late), -10)
        reminder_at: dt.datetime | None = None
        if late_days > 7 or (self.behaviour == "reminder_responsive"):
            channel = (
                self.responsive_channel
                if self.behaviour == "reminder_responsive"
                else rng.choice(("email", "email", "letter", "sms"))
            )
            reminder_day = due + dt.timedelta(days=7)
            if reminder_day < self.today:
                reminder_at = self._at_local(reminder_day, 9)
                batch.message.append(
                    {
                        "id": f"M-{invoice_id[2:]}",
                        "customer_id": self.id,
                        "channel": channel,
                        "template": "reminder",
                        "status": "sent",
                        "sent_at": reminder_at,
                        "trace": [],
                        "status_history": [{"status": "sent", "at": reminder_at.isoformat()}],
                        "created_at": reminder_at,
                    }
                )
                if self.behaviour == "reminder_responsive":
                    late_days = 7 + rng.choice((1, 1, 2))
        pay_day = due + dt.timedelta(days=late_days)
        if self.behaviour in ("punctual", "structurally_late", "chronic_late", "disputer"):
            pay_day = self._habitual_day(pay_day, never_later=self.behaviour == "punctual")
        if self.behaviour == "disputer" and index == 0:
            opened = self._at_local(due - dt.timedelta(days=3), 10)
            if opened.date() < self.today:
                batch.dispute.append(
                    {
                        "id": f"D-{invoice_id[2:]}",
                        "customer_id": self.id,
                        "invoice_id": invoice_id,
                        "opened_at": opened,
                        "resolved_at": None,
                        "reason": "invoice amount disputed",
                    }
                )
        if self.behaviour == "chronic_late" and due + dt.timedelta(days=20) < self.today:
            promised = self._at_local(due + dt.timedelta(days=14), 11)
            batch.promise_to_pay.append(
                {
                    "id": f"PR-{invoice_id[2:]}",
                    "customer_id": self.id,
                    "invoice_id": invoice_id,
                    "amount": amount,
                    "currency": "EUR",
                    "promised_at": promised,
                    "promised_until": due + dt.timedelta(days=21),
                    "channel": "phone",
                }
            )
        if pay_day >= self.today:
            return  # still open
        hour = self.pay_hour if rng.random() < 0.8 else rng.randint(7, 22)
        paid_at = self._at_local(pay_day, hour)
        if reminder_at is not None and self.behaviour == "reminder_responsive":
            paid_at = reminder_at + dt.timedelta(hours=rng.randint(20, 60))
        partial = self.behaviour == "chronic_late" and rng.random() < 0.3
        parts = (
            (amount,)
            if not partial
            else (
                (amount / 2).quantize(Decimal("0.01")),
                amount - (amount / 2).quantize(Decimal("0.01")),
            )
        )
        for n, part in enumerate(parts):
            when = paid_at + dt.timedelta(days=10 * n)
            if when.date() >= self.today:
                break
            local = when.astimezone(self.zone)
            batch.payment.append(
                {
                    "id": f"P-{invoice_id[2:]}-{n + 1}",
                    "customer_id": self.id,
                    "invoice_id": invoice_id,
                    "amount": part,
                    "currency": "EUR",
                    "paid_at": when,
                    "local_hour": local.hour,
                    "local_weekday": local.weekday(),
                    "local_date": local.date(),
                    "method": "ideal" if self.country == "NL" else "sepa_credit_transfer",
                    "payer_name": None,
                    "payer_iban": debtor_iban(self.country, self.number),
                }
            )


#: Banks a generated debtor's account is at: (country, bank code) as the IBAN carries it.
_BANKS = {"NL": ("ABNA", "INGB", "RABO", "SNSB"), "DE": ("37040044", "10070000", "50010517")}


def debtor_iban(country: str, number: int) -> str:
    """A valid, made-up IBAN for generated debtor `number` (the same number, the same IBAN), so
    generated payments and statements carry the payer's account."""
    banks = _BANKS["NL" if country == "NL" else "DE"]
    bank = banks[number % len(banks)]
    account = f"{number * 7919 % 10**10:010d}"
    bban = f"{bank}{account}"
    check = 98 - mod97(f"{bban}{'NL' if country == 'NL' else 'DE'}00")
    return f"{'NL' if country == 'NL' else 'DE'}{check:02d}{bban}"


def _postal_code(country: str, n: int) -> str:
    """A postcode in the country's form: NL "1234 AB", DE five digits."""
    if country == "NL":
        return f"{n} {chr(65 + n % 26)}{chr(65 + n // 26 % 26)}"
    return f"{n * 7 % 90000 + 10000}"


def generate(
    engine: Engine,
    *,
    debtors: int,
    seed: int = 1,
    today: dt.date | None = None,
    invoices_per_debtor: float = 3.0,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
    due_within_days: int = 0,
) -> GeneratedPortfolio:
    """Write a generated portfolio of `debtors` debtors; same seed and today, same portfolio.

    `due_within_days` > 0 also gives every debtor one to four unpaid invoices falling due in
    that many days after today (for a simulation run); the history stays the same as without."""
    if debtors < 1:
        raise ValueError("--debtors must be at least 1")
    today = today or dt.date.today()
    rng = random.Random(seed)
    # a stream of its own, so the history is the same with and without upcoming invoices
    upcoming_rng = random.Random(f"{seed}-upcoming")
    traits: dict[str, HiddenTraits] = {}
    width = max(6, len(str(debtors)))
    now = dt.datetime.combine(today, dt.time(6), dt.UTC)
    counts: dict[str, int] = {}
    hidden: dict[str, str] = {}
    done = 0
    while done < debtors:
        batch = _Batch()
        for number in range(done + 1, min(done + batch_size, debtors) + 1):
            debtor = _Debtor(rng, number, width, today)
            hidden[debtor.id] = debtor.behaviour
            batch.customer.append(debtor.customer(now))
            batch.contact.append(debtor.contact(now))
            debtor.history(batch, invoices_per_debtor)
            traits[debtor.id] = debtor.traits()
            if due_within_days > 0:
                per_day = invoices_per_debtor / HISTORY_DAYS
                debtor.upcoming(batch, upcoming_rng, due_within_days, per_day)
        with engine.begin() as conn:
            for model, rows in batch.tables():
                if rows:
                    insert_rows(conn, model.__table__, rows)
                    counts[model.__tablename__] = counts.get(model.__tablename__, 0) + len(rows)
        done += len(batch.customer)
        if progress is not None:
            progress(len(batch.customer))
    return GeneratedPortfolio(debtors=debtors, rows=counts, behaviour_types=hidden, traits=traits)
