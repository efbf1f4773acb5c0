"""GET /v1/payments and POST /v1/payments/{entry_id}/assign: the statement entries a person must
assign (what `payjourney payments --unmatched` shows), and their assignment to a customer."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from engine.api.auth import ApiToken
from engine.api.deps import get_state, require
from engine.api.errors import ApiError
from engine.api.models import ErrorBody
from engine.api.state import ApiState
from engine.banking.assign import CannotAssign, EntryNotOpen, UnknownEntry, assign_entry
from engine.banking.listing import statement_entries

router = APIRouter(tags=["payments"])


class StatementLine(BaseModel):
    """One imported statement entry (or one transaction of a batch) and what became of it."""

    id: int = Field(description="the entry id to assign it by")
    booked_on: dt.date
    amount: Decimal
    currency: str
    direction: str = Field(description="credit (money in) | return (a reversed collection) | debit")
    payer_name: str | None = Field(description="the account holder, as the statement gives it")
    payer_iban: str | None
    remittance: str | None
    end_to_end_id: str | None
    return_reason: str | None = Field(description="a return's reason code (AC04, MD06, ...)")
    status: str = Field(description="matched | unmatched | reversed | return | ignored")
    rule: str | None = Field(description="the matching rule that placed it, or manual")
    reason: str | None = Field(description="why it matched, or why no rule could place it")
    customer_id: str | None
    reverses_id: int | None = Field(description="for a return: the credit entry it undid")
    statement_id: str
    entry_reference: str
    source: str = Field(description="the file (or webhook) it came from")
    position: int = Field(description="its position in that file")


class PaymentList(BaseModel):
    entries: list[StatementLine]
    next_after: int | None = Field(
        description="pass as `after` for the next page; null when this was the last"
    )


class AssignRequest(BaseModel):
    """A person's decision for an entry of the unmatched list."""

    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(min_length=1, max_length=64)
    invoice_ids: list[str] = Field(
        default_factory=list,
        description="a credit: the invoices it pays (default: the customer's open invoices,"
        " oldest due first; what is left is credit on account). A return: the invoice whose"
        " payment it undid, to find that credit",
    )
    reverses: int | None = Field(
        default=None, description="a return: the credit entry it undoes, when not found otherwise"
    )
    by: str = Field(default="a person", max_length=80, description="who decided, for the audit")


class Part(BaseModel):
    invoice_id: str | None = Field(description="null: kept as credit on account")
    amount: Decimal


class AssignAnswer(BaseModel):
    entry_id: int
    customer_id: str
    direction: str
    rule: str = "manual"
    reason: str
    allocations: list[Part] = Field(description="a credit: how it was booked")
    reverses: int | None = Field(description="a return: the credit entry it undid")
    payments_undone: list[str]
    journey: str | None = Field(description="the debtor's journey after settling")


@router.get(
    "/v1/payments",
    response_model=PaymentList,
    responses={code: {"model": ErrorBody} for code in (401, 403, 422, 503)},
)
def list_payments(
    state: Annotated[ApiState, Depends(get_state)],
    _token: Annotated[ApiToken, Depends(require("preview"))],
    unmatched: Annotated[bool, Query(description="only what a person must assign")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[int | None, Query(ge=0, description="entries after this id")] = None,
) -> dict[str, Any]:
    """Imported statement entries in import order; `unmatched=true` gives the list a person
    works through (as `payjourney payments --unmatched`), with the account holder's name."""
    rows = statement_entries(state.engine, unmatched_only=unmatched, limit=limit + 1, after=after)
    page = rows[:limit]
    return {
        "entries": page,
        "next_after": page[-1]["id"] if len(rows) > limit and page else None,
    }


@router.post(
    "/v1/payments/{entry_id}/assign",
    response_model=AssignAnswer,
    responses={code: {"model": ErrorBody} for code in (401, 403, 404, 409, 413, 422, 503)},
)
async def assign_payment(
    entry_id: int,
    body: AssignRequest,
    state: Annotated[ApiState, Depends(get_state)],
    token: Annotated[ApiToken, Depends(require("events"))],
) -> dict[str, Any]:
    """Assign an unmatched entry: a credit is booked on the customer's invoices, a return
    undoes the customer's credit it reverses; the debtor is then settled exactly like a
    matched payment (a debtor who owes nothing has their pending steps cancelled)."""
    now = dt.datetime.now(dt.UTC)
    who = body.by if body.by != "a person" else f"token {token.name}"
    try:
        done = await run_in_threadpool(
            lambda: assign_entry(
                state.engine,
                entry_id,
                body.customer_id,
                body.invoice_ids,
                rules=state.rulebook.current,
                by=who,
                reverses=body.reverses,
                now=now,
            )
        )
    except UnknownEntry as exc:
        raise ApiError(404, "entry_not_found", str(exc)) from None
    except EntryNotOpen as exc:
        raise ApiError(409, "entry_not_open", str(exc)) from None
    except CannotAssign as exc:
        raise ApiError(422, "cannot_assign", str(exc)) from None
    parts = done.match.allocations if done.match is not None else ()
    return {
        "entry_id": done.entry_id,
        "customer_id": done.customer_id,
        "direction": done.direction,
        "reason": done.reason,
        "allocations": [{"invoice_id": p.invoice_id, "amount": p.amount} for p in parts],
        "reverses": done.reverses,
        "payments_undone": list(done.payments_undone),
        "journey": done.journey,
    }
