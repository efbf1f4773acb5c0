"""GET /preview and /preview/{id}: server-rendered Jinja2 for customer-service staff.

Same tokens as the API: a bearer header, or a session cookie from signing in with a token at
/login (the cookie names the token and is signed; it never holds the token itself).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from engine.api.auth import SESSION_COOKIE, SESSION_SECONDS, ApiToken, find_token, session_value
from engine.api.deps import caller, get_state, moment
from engine.api.errors import ApiError
from engine.api.routes.customers import stored_letter
from engine.api.state import ApiState
from engine.preview.stored import preview_stored
from engine.store.errors import CustomerNotFound
from engine.store.search import find_customers

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))

#: The page loads nothing from elsewhere; the email runs in an iframe without scripts or origin.
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; frame-src 'self' blob:; object-src 'self'; "
    "script-src 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class _SignIn(Exception):
    """The page needs a signed-in member of staff."""


async def staff_token(request: Request) -> ApiToken:  # async: no thread-pool hop
    token = caller(request, cookies=True)
    if token is None:
        raise ApiError(
            303,
            "sign_in",
            "sign in",
            headers={"Location": "/login?next=" + quote(str(request.url.path), safe="/")},
        )
    if "preview" not in token.scopes:
        raise ApiError(403, "forbidden", f"the token {token.name!r} lacks the 'preview' scope")
    return token


Staff = Annotated[ApiToken, Depends(staff_token)]
State = Annotated[ApiState, Depends(get_state)]


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers.update(HEADERS)
    return response


@router.get("/login")
def login_form(request: Request, next: str = "/preview") -> HTMLResponse:
    return _page(request, "login.html", {"next": _local(next), "problem": None})


@router.post("/login")
def login(
    request: Request,
    state: State,
    token: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=500)] = "/preview",
) -> Response:
    found = find_token(state.config.tokens, token.strip())
    if found is None or "preview" not in found.scopes:
        problem = "That token is not known or lacks the 'preview' scope."
        return _page(request, "login.html", {"next": _local(next), "problem": problem}, 401)
    response = RedirectResponse(_local(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_value(found, state.config.session_secret),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="strict",
        secure=state.config.secure_cookies,
    )
    return response


def _local(path: str) -> str:
    """Only redirect within this site."""
    return path if path.startswith("/") and not path.startswith("//") else "/preview"


@router.get("/preview")
def search(
    request: Request,
    state: State,
    _staff: Staff,
    q: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    """The search box: by customer id (prefix) or name (part)."""
    found = find_customers(state.engine, q) if q.strip() else []
    if len(found) == 1 and found[0].id == q.strip():
        return RedirectResponse(f"/preview/{quote(found[0].id, safe='')}", status_code=303)
    return _page(request, "search.html", {"q": q, "found": found})


@router.get("/preview/{customer_id}")
def page(
    request: Request,
    customer_id: str,
    state: State,
    _staff: Staff,
    now: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse:
    """The next message as the customer will see it, beside the trace."""
    at = moment(now, state.rulebook.current.spec.settings.timezone)
    try:
        found = preview_stored(
            state.engine, state.rulebook.current, customer_id, at, state.preview, letter_pdf=False
        )
    except CustomerNotFound:
        return _page(request, "search.html", {"q": customer_id, "found": [], "missing": True}, 404)
    answer = found.answer
    pdf_url = None
    message = answer.get("message")
    if isinstance(message, dict) and message.get("channel") == "letter":
        pdf_url = f"/preview/{quote(customer_id, safe='')}/letter.pdf?now={quote(at.isoformat())}"
    return _page(
        request,
        "preview.html",
        {
            "a": answer,
            "facts": found.facts,
            "customer_name": found.facts["customer.name"],
            "now": at,
            "now_text": at.isoformat(timespec="minutes"),
            "pdf_url": pdf_url,
            "send_at": _when(answer.get("send_at")),
        },
    )


@router.get("/preview/{customer_id}/letter.pdf")
def letter(
    customer_id: str,
    state: State,
    _staff: Staff,
    now: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    return Response(
        stored_letter(state, customer_id, now),
        media_type="application/pdf",
        headers={
            "Content-Disposition": 'inline; filename="letter.pdf"',
            "Cache-Control": "no-store",
        },
    )


def _when(text: Any) -> str | None:
    if not isinstance(text, str):
        return None
    at = dt.datetime.fromisoformat(text)
    return at.strftime("%a %d %b %Y, %H:%M") + f" ({at.tzname() or at.strftime('%z')})"


@router.get("/tasks")
def task_list(request: Request, state: State, _staff: Staff) -> HTMLResponse:
    """Disputes, questions, replies and arrangements awaiting a person, each with the debtor's
    latest messages and events beside it (close them with `payjourney tasks` or the API)."""
    from engine.store import dialogue

    rows = dialogue.tasks(state.engine, status="open")
    items = [(r, dialogue.history(state.engine, str(r["customer_id"]), limit=8)) for r in rows]
    return _page(request, "tasks.html", {"items": items})
