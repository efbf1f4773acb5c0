"""The request and response shapes the OpenAPI document at /docs describes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class SourcedName(_Open):
    id: str
    source: str | None = None


class JourneyPosition(_Open):
    persona: str | None = None
    step: int | None = None
    steps: int | None = None
    template: str | None = None


class AmountDue(_Open):
    amount: str
    currency: str
    formatted: str | None = None


class PaymentOption(_Open):
    method: str
    url: str | None = None
    iban: str | None = None
    qr: str | None = None


class RenderedMessage(_Open):
    channel: str
    subject: str | None = None
    text: str
    html: str | None = None
    pdf: str | None = Field(
        default=None,
        description="the letter PDF: a URL for a stored customer, a data URI for a what-if",
    )


class TraceRow(_Open):
    rule: str
    source: str | None = None
    matched: bool
    facts: dict[str, Any] = Field(default_factory=dict)
    note: str = ""


class ExperimentArm(_Open):
    id: str = Field(description="the experiment the debtor takes part in")
    variant: str = Field(description="their variant: the same for the whole journey")


class PreviewAnswer(_Open):
    """The preview answer of shared/design/surfaces.md."""

    customer_id: str | None
    action: str = Field(description="send | wait | handoff | none")
    reason: str
    persona: SourcedName | None = None
    journey: JourneyPosition | None = None
    channel: str | None = None
    fallback_channels: list[str] = Field(default_factory=list)
    locale: str | None = None
    tone: str | None = None
    send_at: str | None = None
    amount_due: AmountDue | None = None
    payment_options: list[PaymentOption] = Field(default_factory=list)
    message: RenderedMessage | None = None
    trace: list[TraceRow] = Field(default_factory=list)
    ruleset_version: str
    experiment: ExperimentArm | None = None


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: list[Any] = Field(default_factory=list)


class ErrorBody(BaseModel):
    """Every error: `{"error": {"code", "message", "details"}}`."""

    error: ErrorDetail


class PreviewRequest(BaseModel):
    """A customer's data, decided on and rendered without storing anything."""

    model_config = ConfigDict(extra="forbid")

    customer: dict[str, Any] = Field(
        description="as a customers.csv row: id, kind (consumer|business), country, name, ..."
    )
    contacts: list[dict[str, Any]] = Field(default_factory=list, max_length=100)
    invoices: list[dict[str, Any]] = Field(
        default_factory=list,
        max_length=1000,
        description='id, amount, currency, issue_date, due_date, "paid_date" (optional)',
    )
    payments: list[dict[str, Any]] = Field(default_factory=list, max_length=1000)
    promises: list[dict[str, Any]] = Field(default_factory=list, max_length=100)
    disputes: list[dict[str, Any]] = Field(default_factory=list, max_length=100)
    messages: list[dict[str, Any]] = Field(default_factory=list, max_length=1000)
    events: list[dict[str, Any]] = Field(default_factory=list, max_length=1000)
    steps_sent: int = Field(default=0, ge=0, le=100, description="journey steps already sent")
    now: str | None = Field(default=None, description="ISO 8601; default: the clock")
    rules: dict[str, str] | None = Field(
        default=None,
        description="file name -> YAML text: replaces the rule files for this call (a what-if)",
    )


class EventRequest(BaseModel):
    """One event about a debtor (as an events.csv row); `id` makes it idempotent."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    customer_id: str = Field(min_length=1, max_length=64)
    kind: str = Field(description="delivered opened clicked replied bounced paid promised disputed")
    occurred_at: str = Field(description="ISO 8601")
    channel: str | None = None
    message_id: str | None = None
    invoice_id: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class EventAnswer(BaseModel):
    """The event as first stored, and whether this call stored it."""

    id: str
    customer_id: str
    kind: str
    occurred_at: str
    recorded: bool = Field(description="false when the id was already known: nothing changed")
    next_action: str | None = Field(default=None, description="the debtor's decision after it")


class Health(BaseModel):
    status: str
    database: str
    ruleset_version: str
