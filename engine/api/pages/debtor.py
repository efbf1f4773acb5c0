"""GET/POST /p/{token}: the debtor's own page, reached by the personal link in every message.

Server-rendered, no JavaScript, in the journey's language and tone: what is open, the pay buttons
first, then what the persona's `self_service` rules let the debtor arrange (promise, payment
plan, dispute, question, channel). Every action goes through the same life cycle as
`POST /v1/events` (engine.api.intake.take_event). The token is the only credential: looked up
by its hash, scoped to one debtor, rate-limited; forms carry a CSRF token bound to the link; a
forged, expired or revoked link gets the same page, which tells how to get a new one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from limits import RateLimitItemPerMinute, storage, strategies
from sqlalchemy import select

from engine.api.deps import get_state
from engine.api.intake import take_event
from engine.api.pages.debtor_words import pay_label, reason_text, words
from engine.api.state import ApiState
from engine.daemon import dialogue
from engine.daemon.links import ReusedLinks, recorded_links
from engine.daemon.settings import PROMISE_GRACE
from engine.decision.arrangements import Outcome, Verdict, judge_plan, judge_promise, offers
from engine.decision.decide import decide
from engine.decision.model import FactSheet
from engine.messages.creditor import load_creditor
from engine.messages.formatting import LocaleFormat
from engine.messages.payments.offline import NotConfiguredProvider
from engine.messages.payments.options import build_payment_options, payment_reference
from engine.store import dialogue as store
from engine.store import tables as t
from engine.store.facts_sql import fact_sheet_for
from engine.store.message_data import message_data
from engine.store.rows import EventRow

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
State = Annotated[ApiState, Depends(get_state)]

#: The token travels in the path: never in a referrer, never cached, never indexed.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self' data:; "
    "style-src 'unsafe-inline'; form-action 'self' https:; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
}
#: Page views and actions per link, and link look-ups per client address (guessing tokens).
PER_LINK = RateLimitItemPerMinute(30)
ACTIONS_PER_LINK = RateLimitItemPerMinute(10)
PER_CLIENT = RateLimitItemPerMinute(60)
CHANNELS = ("email", "sms", "whatsapp", "letter")


class _Limiter:
    """Moving-window limits in this process (the `limits` library)."""

    def __init__(self) -> None:
        self.window = strategies.MovingWindowRateLimiter(storage.MemoryStorage())

    def allow(self, item: Any, *keys: str) -> bool:
        return self.window.hit(item, *keys)


def _limiter(request: Request) -> _Limiter:
    found = getattr(request.app.state, "debtor_limits", None)
    if found is None:
        found = request.app.state.debtor_limits = _Limiter()
    assert isinstance(found, _Limiter)
    return found


def clock_now(request: Request) -> dt.datetime:
    """The clock: the system's, or one a test set on `app.state.clock`."""
    clock: Callable[[], dt.datetime] | None = getattr(request.app.state, "clock", None)
    return clock() if clock is not None else dt.datetime.now(dt.UTC)


def csrf_token(state: ApiState, token: str) -> str:
    """The forms' CSRF token: bound to this link, signed with the server's secret."""
    digest = store.token_digest(token)
    return hmac.new(
        state.config.session_secret, b"csrf|" + digest.encode(), hashlib.sha256
    ).hexdigest()


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers.update(HEADERS)
    return response


def _gone(request: Request, state: ApiState, status: int = 404) -> HTMLResponse:
    """The same answer for a forged, expired or revoked link: how to get a new one, nothing more."""
    extra = state.rulebook.current.spec.settings.extra
    creditor = load_creditor(extra)
    return _page(request, "debtor_gone.html", {"creditor": creditor}, status)


def _too_many(request: Request) -> HTMLResponse:
    response = _page(request, "debtor_gone.html", {"creditor": None, "busy": True}, 429)
    response.headers["Retry-After"] = "60"
    return response


class _Debtor:
    """Everything the page shows for one live link, read at `now`."""

    def __init__(self, state: ApiState, link: store.Link, now: dt.datetime) -> None:
        rules = state.rulebook.current
        self.link, self.now = link, now
        self.facts: FactSheet = fact_sheet_for(state.engine, link.customer_id, now)
        self.decision = decide(rules, self.facts, now)
        persona = self.decision.persona or link.journey
        journeys = rules.spec.journeys.get(persona, ())
        self.locale = self.decision.locale or (journeys[0].locale if journeys else "nl_NL")
        self.tone = self.decision.tone or (journeys[0].tone if journeys else "u")
        self.fmt = LocaleFormat(self.locale)
        self.language = self.fmt.language
        self.policy = rules.spec.self_service_for(persona)
        zone = ZoneInfo(str(self.facts["customer.timezone"] or "Europe/Amsterdam"))
        self.today = now.astimezone(zone).date()
        country = str(self.facts["customer.country"] or "NL")
        self.creditor = load_creditor(rules.spec.settings.extra, country=country)
        self.data = message_data(state.engine, link.customer_id, now)
        self.open_amount = Decimal(str(self.facts["balance.open_amount"] or 0))
        self.currency = str(self.facts["balance.currency"] or "EUR")
        self.offers = {o.action: o for o in offers(self.policy, self.facts, self.today)}

    def date(self, day: Any) -> str:
        return self.fmt.date(dt.date.fromisoformat(day) if isinstance(day, str) else day, "long")

    def options(self, state: ApiState, plan: dict[str, Any] | None) -> list[dict[str, Any]]:
        """Pay buttons: the links the latest message carried (made once per message), and the
        bank transfer with its QR code (for the instalment in force, when a plan runs)."""
        if self.open_amount <= 0:
            return []
        amount = self.open_amount
        if plan is not None and plan["status"] == "active" and plan["current"]:
            part = plan["instalments"][int(plan["current"]) - 1]
            amount = min(Decimal(part["amount"]), self.open_amount)
        trace: list[Any] = []
        with state.engine.connect() as conn:
            m = t.Message.__table__  # type: ignore[attr-defined]
            row = conn.execute(
                select(m.c.trace)
                .where(m.c.customer_id == self.link.customer_id)
                .order_by(m.c.created_at.desc())
                .limit(1)
            ).first()
            if row is not None:
                trace = list(row.trace or [])
        # only links a message made (a page view never asks the provider for new ones)
        provider = ReusedLinks(NotConfiguredProvider(), recorded_links(trace))
        reference = payment_reference(
            self.link.customer_id, [str(i["id"]) for i in self.data.invoices]
        )
        found = build_payment_options(
            self.decision.payment_options or ("bank_transfer",),
            amount=amount,
            currency=self.currency,
            reference=reference,
            description=self.creditor.name,
            creditor=self.creditor,
            provider=provider,
            send_at=self.now,
            customer_id=self.link.customer_id,
            locale=self.locale,
        )
        shown = [o for o in found if o.get("available", True) and (o.get("url") or o.get("iban"))]
        return [{**o, "amount": amount} for o in shown]


def _link(request: Request, state: ApiState, token: str, *, action: bool) -> store.Link | Response:
    limiter = _limiter(request)
    client = request.client.host if request.client else "unknown"
    if not limiter.allow(PER_CLIENT, "client", client):
        return _too_many(request)
    link = store.find_link(state.engine, token, clock_now(request))
    if link is None:
        return _gone(request, state)
    digest = store.token_digest(token)
    if not limiter.allow(PER_LINK, "link", digest) or (
        action and not limiter.allow(ACTIONS_PER_LINK, "action", digest)
    ):
        return _too_many(request)
    return link


def _render(
    request: Request,
    state: ApiState,
    token: str,
    debtor: _Debtor,
    *,
    done: str | None = None,
    refused: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    fmt = debtor.fmt
    plan = store.open_plan(state.engine, debtor.link.customer_id)
    method_names = _METHODS[debtor.language]
    limits = debtor.policy.plan
    latest = {k: debtor.date(o.latest) if o.latest else "" for k, o in debtor.offers.items()}
    closed = {
        k: reason_text(o.reason, debtor.language, debtor.date)
        for k, o in debtor.offers.items()
        if not o.open and k in debtor.policy.actions
    }
    context = {
        "lang": debtor.language,
        "w": words(
            debtor.tone,
            creditor=debtor.creditor.name,
            latest=latest.get("promise", ""),
            min=2,
            max=limits.max_instalments if limits else 2,
            every=limits.every_days if limits else 0,
            phone=debtor.creditor.phone or "",
            email=debtor.creditor.email or "",
            date=debtor.date(debtor.facts["journey.promised_until"])
            if debtor.facts["journey.promised_until"]
            else "",
            channel=_CHANNEL_NAMES[debtor.language].get(
                str(debtor.facts["customer.preferred_channel"]), ""
            ),
        ),
        "token": token,
        "csrf": csrf_token(state, token),
        "name": debtor.facts["customer.name"],
        "creditor": debtor.creditor,
        "open_amount": debtor.open_amount,
        "amount": fmt.money(debtor.open_amount, debtor.currency),
        "invoices": [
            {
                **i,
                "amount_text": fmt.money(i["amount"], i["currency"]),
                "due_text": debtor.date(i["due_date"]),
            }
            for i in debtor.data.invoices
        ],
        "options": [
            {
                **o,
                "label": pay_label(
                    debtor.tone,
                    fmt.money(debtor.open_amount, debtor.currency),
                    method_names[o["method"]],
                ),
                "amount_text": fmt.money(o["amount"], debtor.currency),
            }
            for o in debtor.options(state, plan)
        ],
        "method_names": method_names,
        "offer": debtor.offers,
        "actions": debtor.policy.actions,
        "closed": closed,
        "promise_max": debtor.offers["promise"].latest.isoformat()
        if debtor.offers["promise"].latest
        else "",
        "today": debtor.today.isoformat(),
        "plan_counts": list(range(2, (limits.max_instalments if limits else 2) + 1)),
        "plan_first_max": (debtor.today + dt.timedelta(days=limits.every_days)).isoformat()
        if limits
        else "",
        "plan": _plan_rows(plan, debtor) if plan else None,
        "plan_status": plan["status"] if plan else None,
        "channels": [(c, _CHANNEL_NAMES[debtor.language][c]) for c in CHANNELS],
        "preferred": debtor.facts["customer.preferred_channel"],
        "done": done,
        # a promise or a plan's instalment runs: say so, and offer no second arrangement
        "arranged": bool(debtor.facts["journey.promised_until"]),
        # a dispute is being looked at: say so, and ask no second time
        "disputed": bool(debtor.facts["behaviour.open_disputes"]),
        "refused": refused,
    }
    return _page(request, "debtor.html", context, status)


def _plan_rows(plan: dict[str, Any], debtor: _Debtor) -> list[dict[str, str]]:
    return [
        {
            "number": str(i["number"]),
            "date": debtor.date(i["due_date"]),
            "amount": debtor.fmt.money(Decimal(i["amount"]), plan["currency"]),
        }
        for i in plan["instalments"]
    ]


_METHODS = {
    "nl": {
        "ideal": "iDEAL | Wero",
        "wero": "Wero",
        "bancontact": "Bancontact",
        "paypal": "PayPal",
        "card": "creditcard",
        "sepa_direct_debit": "automatische incasso",
        "barzahlen": "contant (Barzahlen)",
        "bank_transfer": "overmaken",
    },
    "de": {
        "ideal": "iDEAL | Wero",
        "wero": "Wero",
        "bancontact": "Bancontact",
        "paypal": "PayPal",
        "card": "Kreditkarte",
        "sepa_direct_debit": "Lastschrift",
        "barzahlen": "bar (Barzahlen)",
        "bank_transfer": "Überweisung",
    },
}
_CHANNEL_NAMES = {
    "nl": {"email": "e-mail", "sms": "sms", "whatsapp": "WhatsApp", "letter": "brief"},
    "de": {"email": "E-Mail", "sms": "SMS", "whatsapp": "WhatsApp", "letter": "Brief"},
}


@router.get("/p/{token}")
def page(request: Request, token: str, state: State, done: str | None = None) -> Response:
    """The debtor's page."""
    found = _link(request, state, token, action=False)
    if not isinstance(found, store.Link):
        return found
    debtor = _Debtor(state, found, clock_now(request))
    known = {"promise", "plan", "queued", "dispute", "question", "channel"}
    return _render(request, state, token, debtor, done=done if done in known else None)


def _checked(
    request: Request, state: ApiState, token: str, csrf: str, action: str
) -> tuple[_Debtor, None] | tuple[None, Response]:
    found = _link(request, state, token, action=True)
    if not isinstance(found, store.Link):
        return None, found
    if not hmac.compare_digest(csrf, csrf_token(state, token)):
        return None, _page(request, "debtor_gone.html", {"creditor": None, "forbidden": True}, 403)
    debtor = _Debtor(state, found, clock_now(request))
    if action not in debtor.policy.actions:
        return None, _render(request, state, token, debtor, status=403)
    return debtor, None


def _done(token: str, what: str) -> RedirectResponse:
    response = RedirectResponse(f"/p/{token}?done={what}", status_code=303)
    response.headers.update(HEADERS)
    return response


def _refused(
    request: Request, state: ApiState, token: str, debtor: _Debtor, action: str, verdict: Verdict
) -> HTMLResponse:
    reasons = [reason_text(r, debtor.language, debtor.date) for r in verdict.reasons]
    return _render(
        request, state, token, debtor, refused={"action": action, "reasons": reasons}, status=422
    )


def _event(debtor: _Debtor, kind: str, data: dict[str, Any]) -> EventRow:
    return EventRow.model_validate(
        {
            "id": f"page-{uuid.uuid4().hex}",
            "customer_id": debtor.link.customer_id,
            "type": kind,
            "channel": "page",
            "occurred_at": debtor.now,
            "data": data,
        }
    )


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        return None


@router.post("/p/{token}/promise")
def promise(
    request: Request,
    token: str,
    state: State,
    csrf: Annotated[str, Form(max_length=128)],
    until: Annotated[str, Form(max_length=20)],
) -> Response:
    debtor, answer = _checked(request, state, token, csrf, "promise")
    if debtor is None:
        return answer  # type: ignore[return-value]
    day = _date(until)
    if day is None:
        verdict = Verdict(outcome=Outcome.REFUSED, reasons=())
        return _refused(request, state, token, debtor, "promise", verdict)
    verdict = judge_promise(debtor.policy, debtor.facts, debtor.today, day)
    if verdict.outcome is Outcome.REFUSED:
        return _refused(request, state, token, debtor, "promise", verdict)
    data = {
        "amount": str(debtor.open_amount),
        "currency": debtor.currency,
        "until": day.isoformat(),
    }
    if verdict.outcome is Outcome.QUEUED:
        reasons = [r.text for r in verdict.reasons]
        _task(state, debtor, "arrangement", None, data={"promise": data, "reasons": reasons})
        return _done(token, "queued")
    take_event(state.engine, _event(debtor, "promised", data), debtor.now, state.rulebook.current)
    return _done(token, "promise")


@router.post("/p/{token}/plan")
def plan(
    request: Request,
    token: str,
    state: State,
    csrf: Annotated[str, Form(max_length=128)],
    count: Annotated[int, Form(ge=1, le=99)],
    first: Annotated[str, Form(max_length=20)],
) -> Response:
    debtor, answer = _checked(request, state, token, csrf, "plan")
    if debtor is None:
        return answer  # type: ignore[return-value]
    day = _date(first)
    if day is None:
        return _refused(
            request, state, token, debtor, "plan", Verdict(outcome=Outcome.REFUSED, reasons=())
        )
    verdict = judge_plan(debtor.policy, debtor.facts, debtor.today, count, day)
    if verdict.outcome is Outcome.REFUSED:
        return _refused(request, state, token, debtor, "plan", verdict)
    plan_id = f"plan-{uuid.uuid4().hex[:16]}"
    queued = verdict.outcome is Outcome.QUEUED
    with state.engine.begin() as conn:
        store.add_plan(
            conn,
            plan_id=plan_id,
            customer_id=debtor.link.customer_id,
            status="awaiting_approval" if queued else "active",
            total=debtor.open_amount,
            currency=debtor.currency,
            instalments=dialogue.instalment_rows(verdict.instalments),
            now=debtor.now,
        )
        if queued:
            store.add_task(
                conn,
                customer_id=debtor.link.customer_id,
                kind="arrangement",
                now=debtor.now,
                channel="page",
                plan_id=plan_id,
                data={"reasons": [r.text for r in verdict.reasons]},
            )
    if queued:
        return _done(token, "queued")
    dialogue.start_plan(
        state.engine, state.rulebook.current, plan_id, debtor.now, grace=PROMISE_GRACE
    )
    return _done(token, "plan")


@router.post("/p/{token}/dispute")
def dispute(
    request: Request,
    token: str,
    state: State,
    csrf: Annotated[str, Form(max_length=128)],
    reason: Annotated[str, Form(min_length=1, max_length=2000)],
) -> Response:
    debtor, answer = _checked(request, state, token, csrf, "dispute")
    if debtor is None:
        return answer  # type: ignore[return-value]
    event = _event(debtor, "disputed", {"reason": reason.strip()})
    take_event(state.engine, event, debtor.now, state.rulebook.current)
    _task(state, debtor, "dispute", reason.strip(), event_id=event.id)
    return _done(token, "dispute")


@router.post("/p/{token}/question")
def question(
    request: Request,
    token: str,
    state: State,
    csrf: Annotated[str, Form(max_length=128)],
    text: Annotated[str, Form(min_length=1, max_length=2000)],
) -> Response:
    debtor, answer = _checked(request, state, token, csrf, "question")
    if debtor is None:
        return answer  # type: ignore[return-value]
    _task(state, debtor, "question", text.strip())
    return _done(token, "question")


def _task(
    state: ApiState,
    debtor: _Debtor,
    kind: str,
    text: str | None,
    *,
    event_id: str | None = None,
    plan_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """A task for the credit team from the debtor's page."""
    with state.engine.begin() as conn:
        store.add_task(
            conn,
            customer_id=debtor.link.customer_id,
            kind=kind,
            now=debtor.now,
            text=text,
            channel="page",
            event_id=event_id,
            plan_id=plan_id,
            data=data,
        )


@router.post("/p/{token}/channel")
def channel(
    request: Request,
    token: str,
    state: State,
    csrf: Annotated[str, Form(max_length=128)],
    choice: Annotated[str, Form(max_length=16)],
    address: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    debtor, answer = _checked(request, state, token, csrf, "channel")
    if debtor is None:
        return answer  # type: ignore[return-value]
    if choice not in CHANNELS:
        return _render(request, state, token, debtor, status=422)
    store.record_consent(
        state.engine,
        customer_id=debtor.link.customer_id,
        channel=choice,
        address=address.strip() or None,
        now=debtor.now,
        source="debtor-page",
    )
    return _done(token, "channel")
