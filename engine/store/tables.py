"""The store's SQLModel tables: debtors, payers, money, journeys, the schedule, the audit trail.

Table models do not validate on construction: input goes through the row models of
`engine.store.rows` first. Money columns are Decimal (kept as cents), datetimes are aware UTC.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, String, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from engine.store.types import MoneyAmount, UTCDateTime

#: Status of a scheduled step, as the scheduler moves it along.
#: `unknown`: the lease of a daemon that was calling the provider expired (it died mid-send);
#: never resent blindly, settled by a person (`payjourney reconcile`). `fallback`: sent, and due
#: again on its next channel (a bounce, or no reaction within `fallback_after`).
STEP_STATUSES: tuple[str, ...] = (
    "scheduled",
    "fallback",
    "claimed",
    "sent",
    "failed",
    "cancelled",
    "unknown",
)
#: Status of a message (the outbox row): committed as `sending` before the provider call.
MESSAGE_STATUSES: tuple[str, ...] = (
    "sending",
    "sent",
    "retrying",
    "failed",
    "unknown",
    "not_sent",
    "delivered",
)
#: Kinds of event the store records.
EVENT_KINDS: tuple[str, ...] = (
    "delivered",
    "opened",
    "clicked",
    "replied",
    "bounced",
    "paid",
    "promised",
    "disputed",
    "reversed",  # a payment undone: a returned direct debit (with its reason code)
    "expired",  # a payment option lapsed unused (a Barzahlen slip)
)
#: Events that count as the debtor reacting to a message.
REACTION_KINDS: tuple[str, ...] = ("clicked", "replied", "paid", "promised", "disputed")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _money(*, nullable: bool = False) -> Any:
    return Field(sa_type=MoneyAmount, nullable=nullable)


def _when(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(sa_type=UTCDateTime, nullable=nullable, index=index)


def _json_list() -> Column[Any]:
    # a client-side default too, so Core inserts (bulk, import) need not name the column
    return Column(JSON, nullable=False, default=lambda: [])


def _created() -> Any:
    return Field(default_factory=_utcnow, sa_type=UTCDateTime, nullable=False)


def _customer_fk(*, index: bool = True) -> Any:
    return Field(
        sa_column_args=[ForeignKey("customer.id")],
        sa_type=String(64),
        nullable=False,
        index=index,
    )


class Customer(SQLModel, table=True):
    """A debtor: a business or a consumer that owes us money."""

    __tablename__ = "customer"

    id: str = Field(primary_key=True, max_length=64)
    name: str | None = None
    kind: str = Field(max_length=16)  # consumer | business
    country: str = Field(max_length=2)
    language: str | None = Field(default=None, max_length=8)
    timezone: str = Field(default="Europe/Amsterdam", max_length=64)
    employees: int | None = None
    industry: str | None = None
    credit_score: int | None = None
    tags: list[str] = Field(default_factory=list, sa_column=_json_list())
    created_at: dt.datetime = _created()
    updated_at: dt.datetime = _created()
    forgotten_at: dt.datetime | None = _when(nullable=True)


class Contact(SQLModel, table=True):
    """A payer at a customer: who reads our messages, in which language, on which channels."""

    __tablename__ = "contact"

    id: str = Field(primary_key=True, max_length=64)
    customer_id: str = _customer_fk()
    is_primary: bool = True
    name: str | None = None
    role: str | None = Field(default=None, max_length=32)  # accounts_payable, controller, ...
    decision_authority: bool = False
    language: str | None = Field(default=None, max_length=8)
    timezone: str | None = Field(default=None, max_length=64)
    email: str | None = None
    phone: str | None = None
    whatsapp: str | None = None
    street: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country: str | None = Field(default=None, max_length=2)
    preferred_channel: str | None = Field(default=None, max_length=16)
    consent_email: bool = True
    consent_sms: bool = False
    consent_whatsapp: bool = False
    updated_at: dt.datetime = _created()


class Invoice(SQLModel, table=True):
    """An invoice; what is still open is its amount minus the payments and credit notes against
    it. A credit note is a row with a negative amount."""

    __tablename__ = "invoice"
    __table_args__ = (
        Index("ix_invoice_customer_due", "customer_id", "due_date"),
        # credit notes are few: the facts SQL finds a chunk's in this small index instead of
        # reading every invoice of the chunk to find none (migration 0011)
        Index(
            "ix_invoice_credit_note",
            "customer_id",
            postgresql_where=text("amount < 0"),
            sqlite_where=text("amount < 0"),
        ),
    )

    id: str = Field(primary_key=True, max_length=64)
    customer_id: str = _customer_fk(index=False)
    number: str | None = None
    amount: Decimal = _money()
    currency: str = Field(max_length=3)
    issue_date: dt.date
    due_date: dt.date
    warns_of_default: bool = False  # the invoice told a consumer about default after 30 days
    description: str | None = None
    # a credit note has a negative amount; it names the invoice it corrects (None: on account)
    corrects_invoice_id: str | None = Field(default=None, max_length=64)
    updated_at: dt.datetime = _created()


class Payment(SQLModel, table=True):
    """Money received; partial payments count. `local_hour`/`local_weekday`/`local_date` are in
    the customer's time zone, fixed at import, so the typical pay hour and lateness on the
    customer's calendar are plain SQL on both databases."""

    __tablename__ = "payment"
    __table_args__ = (Index("ix_payment_customer_paid_at", "customer_id", "paid_at"),)

    id: str = Field(primary_key=True, max_length=64)
    customer_id: str = _customer_fk(index=False)
    invoice_id: str | None = Field(
        default=None, sa_column_args=[ForeignKey("invoice.id")], max_length=64, index=True
    )
    amount: Decimal = _money()
    currency: str = Field(max_length=3)
    paid_at: dt.datetime = _when()
    local_hour: int
    local_weekday: int  # 0 = Monday
    local_date: dt.date | None = None  # the customer's calendar day of the payment
    method: str | None = Field(default=None, max_length=32)
    payer_name: str | None = None
    payer_iban: str | None = Field(default=None, max_length=34)


class PromiseToPay(SQLModel, table=True):
    """A debtor's promise to pay an amount by a date; broken when the money did not come."""

    __tablename__ = "promise_to_pay"

    id: str = Field(primary_key=True, max_length=64)
    customer_id: str = _customer_fk()
    invoice_id: str | None = Field(default=None, max_length=64)
    amount: Decimal = _money()
    currency: str = Field(max_length=3)
    promised_at: dt.datetime = _when()
    promised_until: dt.date
    channel: str | None = Field(default=None, max_length=16)


class Dispute(SQLModel, table=True):
    """A disputed invoice or claim; open until resolved."""

    __tablename__ = "dispute"

    id: str = Field(primary_key=True, max_length=64)
    customer_id: str = _customer_fk()
    invoice_id: str | None = Field(default=None, max_length=64)
    opened_at: dt.datetime = _when()
    resolved_at: dt.datetime | None = _when(nullable=True)
    reason: str | None = None


class Journey(SQLModel, table=True):
    """A customer's current journey: which persona's steps, how far along, paused or not."""

    __tablename__ = "journey"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = Field(sa_column_args=[ForeignKey("customer.id")], max_length=64, unique=True)
    persona: str = Field(max_length=64)
    ruleset_version: str = Field(max_length=80)
    state: str = Field(default="active", max_length=16)  # active | paused | done | handed_off
    current_step: int | None = None
    steps_sent: int = 0
    #: 1, then 2, 3, ... each time a debtor who had settled (`done`) owes again: a new round
    #: starts from step 1
    round: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    paused_until: dt.datetime | None = _when(nullable=True)
    started_at: dt.datetime = _created()
    updated_at: dt.datetime = _created()


class ScheduledStep(SQLModel, table=True):
    """One planned journey step. Unique per (customer, journey, round, step, ruleset version):
    planning twice never schedules twice. Schedulers claim rows (`claimed_by`, `claimed_until`) with
    SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL."""

    __tablename__ = "scheduled_step"
    __table_args__ = (
        UniqueConstraint(
            "customer_id",
            "journey",
            "round",
            "step",
            "ruleset_version",
            name="uq_scheduled_step_once",
        ),
        Index("ix_scheduled_step_due", "status", "send_at"),
        Index("ix_scheduled_step_claimed", "status", "claimed_until"),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = _customer_fk(index=False)
    journey: str = Field(max_length=64)  # the persona whose journey this step belongs to
    # the journey's round (journey.round) the step belongs to
    round: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    step: int  # 1-based position in the journey
    steps: int
    ruleset_version: str = Field(max_length=80)
    action: str = Field(max_length=16)  # send | wait | handoff (as decided when planned)
    template: str | None = Field(default=None, max_length=64)
    channel: str | None = Field(default=None, max_length=16)
    fallback_channels: list[str] = Field(default_factory=list, sa_column=_json_list())
    fallback_after_s: int | None = None
    locale: str | None = Field(default=None, max_length=16)
    tone: str | None = Field(default=None, max_length=8)
    payment_options: list[str] = Field(default_factory=list, sa_column=_json_list())
    amount_due: Decimal | None = _money(nullable=True)
    currency: str | None = Field(default=None, max_length=3)
    send_at: dt.datetime = _when()
    status: str = Field(default="scheduled", max_length=16)
    claimed_by: str | None = Field(default=None, max_length=128)
    claimed_until: dt.datetime | None = _when(nullable=True)
    attempts: int = 0
    last_error: str | None = None
    trace: list[dict[str, Any]] = Field(default_factory=list, sa_column=_json_list())
    created_at: dt.datetime = _created()
    updated_at: dt.datetime = _created()


class Message(SQLModel, table=True):
    """A message sent (or queued) to a debtor: the outbox and the audit record of what was said,
    why (the decision trace) and under which rules."""

    __tablename__ = "message"
    __table_args__ = (
        Index("ix_message_customer_sent", "customer_id", "sent_at"),
        Index("ix_message_experiment", "experiment", "variant"),
    )

    # the id is the idempotency key: unique per (journey step, channel attempt), committed
    # before the provider call and handed to the provider (SMTP Message-ID, reference fields)
    id: str = Field(primary_key=True, max_length=64)
    customer_id: str = _customer_fk(index=False)
    # several messages per step: one per channel tried (fallback); a retry reuses its row
    scheduled_step_id: int | None = Field(
        default=None, sa_column_args=[ForeignKey("scheduled_step.id")], index=True
    )
    journey: str | None = Field(default=None, max_length=64)
    step: int | None = None
    channel: str = Field(max_length=16)
    template: str | None = Field(default=None, max_length=64)
    locale: str | None = Field(default=None, max_length=16)
    tone: str | None = Field(default=None, max_length=8)
    recipient: str | None = None  # personal data: erased by `forget`
    content_hash: str | None = Field(default=None, max_length=80)
    ruleset_version: str | None = Field(default=None, max_length=80)
    # the experiment the debtor took part in when this was sent, and their variant (or None)
    experiment: str | None = Field(default=None, max_length=64)
    variant: str | None = Field(default=None, max_length=64)
    trace: list[dict[str, Any]] = Field(default_factory=list, sa_column=_json_list())
    status: str = Field(default="queued", max_length=16)  # queued | sent | delivered | failed ...
    status_history: list[dict[str, Any]] = Field(default_factory=list, sa_column=_json_list())
    provider_message_id: str | None = None
    attempts: int = 0
    last_error: str | None = None
    sending_until: dt.datetime | None = _when(nullable=True)  # the lease while `sending`
    created_at: dt.datetime = _created()
    sent_at: dt.datetime | None = _when(nullable=True)


class Event(SQLModel, table=True):
    """Something that happened to a debtor or a message; idempotent by event id."""

    __tablename__ = "event"
    __table_args__ = (Index("ix_event_customer_occurred", "customer_id", "occurred_at"),)

    id: str = Field(primary_key=True, max_length=64)
    customer_id: str = _customer_fk(index=False)
    kind: str = Field(max_length=16)
    channel: str | None = Field(default=None, max_length=16)
    message_id: str | None = Field(default=None, max_length=64)
    invoice_id: str | None = Field(default=None, max_length=64)
    occurred_at: dt.datetime = _when()
    data: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, default=lambda: {})
    )
    recorded_at: dt.datetime = _created()


#: What became of a statement entry: matched (booked as payments), unmatched (a person must
#: assign it), a return that reopened what it undid, or not ours to match (other debits).
ENTRY_STATUSES: tuple[str, ...] = ("matched", "unmatched", "reversed", "return", "ignored")


class BankEntry(SQLModel, table=True):
    """One line of an imported bank statement; unique per (statement, entry reference), so the
    same statement imported twice is stored once. A matched credit has its rule and reason; a
    return links the credit it undid (`reverses_id`)."""

    __tablename__ = "bank_entry"
    __table_args__ = (
        UniqueConstraint("statement_id", "entry_reference", name="uq_bank_entry_once"),
        Index("ix_bank_entry_status", "status"),
        Index("ix_bank_entry_end_to_end", "end_to_end_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    statement_id: str = Field(max_length=160)
    entry_reference: str = Field(max_length=160)
    position: int  # 1-based entry in its file
    source: str | None = None  # the file it came from
    format: str = Field(max_length=16)  # camt053 | mt940
    account_iban: str | None = Field(default=None, max_length=34)
    booked_on: dt.date
    amount: Decimal = _money()
    currency: str = Field(max_length=3)
    direction: str = Field(max_length=8)  # credit | return | debit
    payer_name: str | None = None  # the account holder's name from the statement
    payer_iban: str | None = Field(default=None, max_length=34, index=True)
    remittance: str | None = None
    creditor_reference: str | None = Field(default=None, max_length=35)
    end_to_end_id: str | None = Field(default=None, max_length=35)
    return_reason: str | None = Field(default=None, max_length=8)
    status: str = Field(max_length=16)
    rule: str | None = Field(default=None, max_length=32)
    reason: str | None = None
    customer_id: str | None = Field(
        default=None, sa_column_args=[ForeignKey("customer.id")], max_length=64
    )
    reverses_id: int | None = Field(
        default=None, sa_column_args=[ForeignKey("bank_entry.id")], unique=True
    )
    imported_at: dt.datetime = _created()


class BankMatch(SQLModel, table=True):
    """The part of a matched entry booked on one invoice (or, invoice_id None, on account), and
    the payment row it became."""

    __tablename__ = "bank_match"

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(sa_column_args=[ForeignKey("bank_entry.id")], index=True)
    customer_id: str = _customer_fk(index=False)
    invoice_id: str | None = Field(default=None, max_length=64)
    amount: Decimal = _money()
    payment_id: str = Field(max_length=64)
    rule: str = Field(max_length=32)
    reason: str


class ChannelBlock(SQLModel, table=True):
    """A channel that failed permanently for a customer (hard bounce, invalid number): the
    journey uses the next channel from then on."""

    __tablename__ = "channel_block"

    customer_id: str = Field(
        sa_column_args=[ForeignKey("customer.id")], max_length=64, primary_key=True
    )
    channel: str = Field(max_length=16, primary_key=True)
    reason: str | None = None
    message_id: str | None = Field(default=None, max_length=64)
    blocked_at: dt.datetime = _created()


class DaemonBeat(SQLModel, table=True):
    """One row per `payjourney run` process: who it is, and when it last showed it is alive."""

    __tablename__ = "daemon"

    id: str = Field(primary_key=True, max_length=128)
    hostname: str = Field(max_length=255)
    pid: int
    started_at: dt.datetime = _when()
    beat_at: dt.datetime = _when()
    stopped_at: dt.datetime | None = _when(nullable=True)
    ruleset_version: str | None = Field(default=None, max_length=80)


class DebtorLink(SQLModel, table=True):
    """A debtor's personal link to their own page: only the token's SHA-256 is kept, per debtor
    and journey; it expires and can be revoked."""

    __tablename__ = "debtor_link"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = _customer_fk()
    journey: str = Field(max_length=64)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: dt.datetime = _created()
    expires_at: dt.datetime = _when()
    revoked_at: dt.datetime | None = _when(nullable=True)
    message_id: str | None = Field(default=None, max_length=64)


#: What a task for the credit team is about, and where it stands.
TASK_KINDS: tuple[str, ...] = ("dispute", "question", "arrangement", "reply")
TASK_STATUSES: tuple[str, ...] = ("open", "closed")


class Task(SQLModel, table=True):
    """Something a person must look at: a dispute, a question, an arrangement awaiting approval,
    a reply to a message. A reply pauses the journey until the task is closed or the pause ends."""

    __tablename__ = "task"
    __table_args__ = (Index("ix_task_status_created", "status", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = _customer_fk()
    kind: str = Field(max_length=16)
    status: str = Field(default="open", max_length=16)
    text: str | None = None  # the debtor's words: personal data, erased by `forget`
    channel: str | None = Field(default=None, max_length=16)
    message_id: str | None = Field(default=None, max_length=64)
    event_id: str | None = Field(default=None, max_length=64, unique=True)
    plan_id: str | None = Field(default=None, max_length=64)
    data: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, default=lambda: {})
    )
    created_at: dt.datetime = _created()
    closed_at: dt.datetime | None = _when(nullable=True)
    closed_by: str | None = Field(default=None, max_length=128)
    note: str | None = None


#: Where a payment plan stands.
PLAN_STATUSES: tuple[str, ...] = ("awaiting_approval", "active", "completed", "broken", "refused")


class PaymentPlan(SQLModel, table=True):
    """Instalments a debtor arranged: each is a promise to pay the running total by its date;
    `current` is the instalment in force. A missed one breaks the plan and the journey resumes."""

    __tablename__ = "payment_plan"

    id: str = Field(primary_key=True, max_length=64)
    customer_id: str = _customer_fk()
    status: str = Field(max_length=20)
    total: Decimal = _money()
    currency: str = Field(max_length=3)
    instalments: list[dict[str, Any]] = Field(default_factory=list, sa_column=_json_list())
    current: int = 0
    source: str = Field(default="page", max_length=16)  # page | staff
    created_at: dt.datetime = _created()
    updated_at: dt.datetime = _created()


class ConsentRecord(SQLModel, table=True):
    """A channel preference or consent the debtor gave or withdrew: when, how, and what."""

    __tablename__ = "consent_record"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = _customer_fk()
    channel: str = Field(max_length=16)
    granted: bool
    preferred: bool = False
    address: str | None = None  # personal data: erased by `forget`
    source: str = Field(max_length=32)  # e.g. debtor-page
    recorded_at: dt.datetime = _when()


class PlanFingerprint(SQLModel, table=True):
    """What a debtor's last planned decision was made from: a hash of its raw facts, the ruleset
    version and the time bucket. A plan that computes the same fingerprint does not re-decide
    (`engine.store.fingerprint`). No foreign key: forgetting a customer must not trip over it.

    `salt` is a digest of the ruleset version and time bucket the fingerprint was computed with;
    triggers on every table the facts read set it to NULL when a write touches the debtor
    (migration 0008), so a re-plan computes facts only for debtors without a current salt."""

    __tablename__ = "plan_fingerprint"

    customer_id: str = Field(primary_key=True, max_length=64)
    fingerprint: str = Field(max_length=64)
    planned_at: dt.datetime = _when()
    salt: str | None = Field(default=None, max_length=64)


#: Tables in dependency order (parents first): the order to load, and reversed, to delete.
TABLES = (
    Customer,
    Contact,
    Invoice,
    Payment,
    PromiseToPay,
    Dispute,
    Journey,
    ScheduledStep,
    Message,
    Event,
    BankEntry,
    BankMatch,
    ChannelBlock,
    DaemonBeat,
    DebtorLink,
    Task,
    PaymentPlan,
    ConsentRecord,
    PlanFingerprint,
)
