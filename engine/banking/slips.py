"""Barzahlen webhooks in: a verified `paid` slip is booked like a statement entry, an `expired`
one recorded as an event. The HTTP route (`POST /v1/webhooks/barzahlen`) calls this."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine

from engine.banking.book import ImportReport, book_entries
from engine.banking.entry import StatementEntry
from engine.banking.errors import BankingError
from engine.banking.match import compact, valid_rf
from engine.daemon.settings import PROMISE_GRACE
from engine.messages.payments.barzahlen import parse_webhook, verify_webhook
from engine.messages.payments.base import PaymentError
from engine.rules.compile import CompiledRules
from engine.store.errors import CustomerNotFound
from engine.store.events import record_event, stored_event
from engine.store.rows import EventRow


class WebhookRejected(BankingError):
    """A signed webhook that is not a slip event payjourney can book."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"Barzahlen webhook rejected: {problem}")


class SignatureMismatch(WebhookRejected):
    """A webhook not signed by our Barzahlen division (or not over this URL)."""

    def __init__(self, problem: str) -> None:
        super().__init__(
            f"{problem}; check PAYJOURNEY_BARZAHLEN_PAYMENT_KEY and that the hook URL's host, port"
            " and path are the ones Barzahlen calls (PAYJOURNEY_BARZAHLEN_HOOK_URL behind a proxy)"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookRequest:
    """The parts of the HTTP request the signature covers."""

    signature_header: str
    host: str
    path: str
    date: str
    body: bytes
    port: int = 443
    method: str = "POST"
    query: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SlipOutcome:
    """What the webhook did: the event, and for `paid` how the money was booked."""

    event: str
    slip_id: str
    recorded: bool = True  # false: this slip event was known already (a retry), nothing changed
    booked: ImportReport | None = None


def record_slip_webhook(
    engine: Engine,
    payment_key: str,
    request: WebhookRequest,
    *,
    rules: CompiledRules,
    now: dt.datetime | None = None,
    grace: dt.timedelta = PROMISE_GRACE,
) -> SlipOutcome:
    """Verify the `Bz-Signature`, then book a paid slip (matched by the RF reference we gave it,
    once per slip transaction, and settled like a statement credit) or record an expired one.
    WebhookRejected otherwise."""
    if not verify_webhook(
        payment_key,
        signature_header=request.signature_header,
        host=request.host,
        path=request.path,
        date=request.date,
        body=request.body,
        port=request.port,
        method=request.method,
        query=request.query,
    ):
        raise SignatureMismatch("the Bz-Signature does not match")
    try:
        slip = parse_webhook(request.body)
    except PaymentError as exc:
        raise WebhookRejected(str(exc)) from exc
    now = now or dt.datetime.now(dt.UTC)
    if slip.event == "paid":
        reference = compact(slip.reference or "")
        entry = StatementEntry(
            statement_id=f"barzahlen:{slip.slip_id}",
            reference=slip.transaction_id or slip.slip_id,
            position=1,
            account_iban=None,
            booked_on=slip.occurred_at.date(),
            booked_at=slip.occurred_at,
            amount=slip.amount,
            currency=slip.currency,
            direction="credit",
            payer_name=None,
            remittance=f"Barzahlen slip {slip.slip_id} {slip.invoice_id or ''}".strip(),
            creditor_reference=reference if valid_rf(reference) else None,
            end_to_end_id=slip.invoice_id,
        )
        report = book_entries(
            engine, [("barzahlen webhook", "barzahlen", entry)], rules=rules, now=now, grace=grace
        )
        fresh = report.already_imported == 0
        return SlipOutcome(event="paid", slip_id=slip.slip_id, recorded=fresh, booked=report)
    if slip.event == "expired":
        fresh = False
        if slip.customer_key:
            event = EventRow.model_validate(
                {
                    "id": f"barzahlen-{slip.slip_id}-expired"[:64],
                    "customer_id": slip.customer_key,
                    "kind": "expired",
                    "occurred_at": slip.occurred_at,
                    "data": {"slip_id": slip.slip_id, "reference": slip.reference},
                }
            )
            fresh = stored_event(engine, event.id) is None
            try:
                record_event(engine, event, now=now)
            except CustomerNotFound as exc:
                raise WebhookRejected(f"slip {slip.slip_id} is for an unknown customer") from exc
        return SlipOutcome(event="expired", slip_id=slip.slip_id, recorded=fresh)
    raise WebhookRejected(f"unknown event {slip.event!r} (expected paid or expired)")
