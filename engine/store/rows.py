"""Validated input rows: what an import file (or the API) may say about debtors and their money.

SQLModel table models do not validate; these pydantic models do, and `to_record` turns a valid
row into the column values of its table.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from engine.rules.facts import CHANNELS
from engine.store.tables import EVENT_KINDS
from engine.store.types import CURRENCIES

_COUNTRY = re.compile(r"^[A-Z]{2}$")
#: A customer's time zone when the file gives none: its country's.
COUNTRY_ZONES: dict[str, str] = {
    "NL": "Europe/Amsterdam",
    "DE": "Europe/Berlin",
    "BE": "Europe/Brussels",
    "AT": "Europe/Vienna",
    "LU": "Europe/Luxembourg",
    "CH": "Europe/Zurich",
    "FR": "Europe/Paris",
    "GB": "Europe/London",
}


def _check_currency(value: str) -> str:
    value = value.strip().upper()
    if value not in CURRENCIES:
        raise ValueError(f"unknown currency '{value}'; use one of {', '.join(sorted(CURRENCIES))}")
    return value


def _check_amount(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError(
            f"amount must be positive, got {value} (a credit note is negative and names the "
            "invoice it corrects in corrects_invoice_id)"
        )
    if value != value.quantize(Decimal("0.01")):
        raise ValueError(f"amount {value} has more than two decimals")
    return value


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone '{value}'; use an IANA name like Europe/Berlin"
        ) from exc
    return value


class Row(BaseModel):
    """Common settings: unknown columns are errors, a blank cell means "not given"."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)
    kind: ClassVar[str]

    @model_validator(mode="before")
    @classmethod
    def _blank_is_not_given(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
        return data

    id: str = Field(min_length=1, max_length=64)

    def to_record(self) -> dict[str, Any]:
        """Column values for the table."""
        return self.model_dump()


class CustomerRow(Row):
    kind: ClassVar[str] = "customers"
    name: str | None = None
    type: Literal["consumer", "business"] = Field(alias="kind")
    country: str
    language: str | None = None
    timezone: str = "Europe/Amsterdam"  # when not given: the country's zone (see _zone)
    employees: int | None = Field(default=None, ge=0)
    industry: str | None = None
    credit_score: int | None = Field(default=None, ge=0, le=100)
    tags: list[str] = Field(default_factory=list)

    model_config = ConfigDict(populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _zone(cls, data: Any) -> Any:
        if (
            isinstance(data, dict)
            and not data.get("timezone")
            and isinstance(data.get("country"), str)
        ):
            zone = COUNTRY_ZONES.get(data["country"].strip().upper())
            if zone:
                return {**data, "timezone": zone}
        return data

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        value = value.upper()
        if not _COUNTRY.match(value):
            raise ValueError(f"'{value}' is not an ISO 3166 country code like NL or DE")
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return _check_timezone(value)

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str):  # CSV: "tag1;tag2"
            return [t.strip() for t in value.split(";") if t.strip()]
        return value

    def to_record(self) -> dict[str, Any]:
        record = self.model_dump()
        record["kind"] = record.pop("type")
        return record


class ContactRow(Row):
    kind: ClassVar[str] = "contacts"
    customer_id: str
    is_primary: bool = True
    name: str | None = None
    role: str | None = None
    decision_authority: bool = False
    language: str | None = None
    timezone: str | None = None
    email: str | None = None
    phone: str | None = None
    whatsapp: str | None = None
    street: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country: str | None = None
    preferred_channel: str | None = None
    consent_email: bool = True
    consent_sms: bool = False
    consent_whatsapp: bool = False

    @field_validator("preferred_channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value is not None and value not in CHANNELS:
            raise ValueError(f"unknown channel '{value}'; use one of {', '.join(CHANNELS)}")
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else _check_timezone(value)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and "@" not in value:
            raise ValueError(f"'{value}' is not an email address")
        return value


class _MoneyRow(Row):
    """A row that moves money for a customer: a positive amount to the cent, a known currency."""

    customer_id: str
    amount: Decimal
    currency: str = "EUR"

    _amount = field_validator("amount")(_check_amount)
    _currency = field_validator("currency")(_check_currency)


class InvoiceRow(Row):
    """An invoice, or a credit note: a negative amount naming the invoice it corrects in
    `corrects_invoice_id`; the credit is netted against that invoice."""

    kind: ClassVar[str] = "invoices"
    customer_id: str
    corrects_invoice_id: str | None = None  # before amount: its validator reads it
    amount: Decimal
    currency: str = "EUR"
    number: str | None = None
    issue_date: dt.date
    due_date: dt.date
    warns_of_default: bool = False
    description: str | None = None

    _currency = field_validator("currency")(_check_currency)

    @field_validator("amount")
    @classmethod
    def _amount(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        if info.data.get("corrects_invoice_id") is None:
            return _check_amount(value)
        if value >= 0:
            raise ValueError(
                f"corrects_invoice_id is set but amount {value} is not negative; a credit note "
                "has a negative amount (e.g. -25.00)"
            )
        return -_check_amount(-value)

    @model_validator(mode="after")
    def _dates(self) -> InvoiceRow:
        if self.corrects_invoice_id == self.id:
            raise ValueError("a credit note cannot correct itself; name the invoice it corrects")
        if self.due_date < self.issue_date:
            raise ValueError(f"due_date {self.due_date} is before issue_date {self.issue_date}")
        return self


def _aware(value: dt.datetime, zone: str) -> dt.datetime:
    """A naive timestamp from a file is local time of the customer."""
    return value.replace(tzinfo=ZoneInfo(zone)) if value.tzinfo is None else value


class PaymentRow(_MoneyRow):
    kind: ClassVar[str] = "payments"
    invoice_id: str | None = None
    paid_at: dt.datetime
    method: str | None = None
    payer_name: str | None = None
    payer_iban: str | None = None

    def record_in(self, zone: str) -> dict[str, Any]:
        """Column values, with the local pay hour and weekday in the customer's time zone."""
        record = self.model_dump()
        local = _aware(self.paid_at, zone).astimezone(ZoneInfo(zone))
        record["paid_at"] = local
        record["local_hour"] = local.hour
        record["local_weekday"] = local.weekday()
        record["local_date"] = local.date()
        return record


class PromiseRow(_MoneyRow):
    kind: ClassVar[str] = "promises"
    invoice_id: str | None = None
    promised_at: dt.datetime
    promised_until: dt.date
    channel: str | None = None

    def record_in(self, zone: str) -> dict[str, Any]:
        record = self.model_dump()
        record["promised_at"] = _aware(self.promised_at, zone)
        return record


class DisputeRow(Row):
    kind: ClassVar[str] = "disputes"
    customer_id: str
    invoice_id: str | None = None
    opened_at: dt.datetime
    resolved_at: dt.datetime | None = None
    reason: str | None = None

    def record_in(self, zone: str) -> dict[str, Any]:
        record = self.model_dump()
        record["opened_at"] = _aware(self.opened_at, zone)
        if self.resolved_at is not None:
            record["resolved_at"] = _aware(self.resolved_at, zone)
        return record


class MessageRow(Row):
    """A message sent before payjourney (history), so paid_after per channel has data."""

    kind: ClassVar[str] = "messages"
    customer_id: str
    channel: Literal["email", "sms", "whatsapp", "letter", "phone"]
    sent_at: dt.datetime
    template: str | None = None
    status: str = "sent"
    journey: str | None = None
    step: int | None = Field(default=None, ge=1)
    locale: str | None = None
    tone: str | None = None

    def record_in(self, zone: str) -> dict[str, Any]:
        record = self.model_dump()
        sent_at = _aware(self.sent_at, zone)
        record["sent_at"] = sent_at
        record["status_history"] = [{"status": self.status, "at": sent_at.isoformat()}]
        return record


class EventRow(Row):
    kind: ClassVar[str] = "events"
    customer_id: str
    type: str = Field(alias="kind")
    channel: str | None = None
    message_id: str | None = None
    invoice_id: str | None = None
    occurred_at: dt.datetime
    data: dict[str, Any] = Field(default_factory=dict)

    model_config = ConfigDict(populate_by_name=True)

    @field_validator("type")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value not in EVENT_KINDS:
            raise ValueError(f"unknown event kind '{value}'; use one of {', '.join(EVENT_KINDS)}")
        return value

    @field_validator("data", mode="before")
    @classmethod
    def _data(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, str):  # CSV: a JSON object in one cell
            import json

            return json.loads(value)
        return value

    def record_in(self, zone: str) -> dict[str, Any]:
        record = self.model_dump()
        record["kind"] = record.pop("type")
        record["occurred_at"] = _aware(self.occurred_at, zone)
        return record


#: Row models by kind, in load order (parents first).
ROW_KINDS: dict[str, type[Row]] = {
    m.kind: m
    for m in (
        CustomerRow,
        ContactRow,
        InvoiceRow,
        PaymentRow,
        PromiseRow,
        DisputeRow,
        MessageRow,
        EventRow,
    )
}
