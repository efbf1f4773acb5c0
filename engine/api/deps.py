"""Request dependencies: the shared state, the caller's token and scope, the `now` parameter."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from engine.api.auth import SESSION_COOKIE, ApiToken, find_token, session_token
from engine.api.errors import ApiError
from engine.api.state import ApiState, state_of
from engine.preview.answer import parse_moment

# The dependencies are `async def` though nothing in them waits: FastAPI runs a plain `def`
# dependency in its thread pool, one hop there and back per dependency and request, which
# cost more than the check itself.


async def get_state(request: Request) -> ApiState:
    return state_of(request.app)


def caller(request: Request, *, cookies: bool = False) -> ApiToken | None:
    """The token of the request's bearer header (or, for pages, its session cookie)."""
    state = state_of(request.app)
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() == "bearer" and presented.strip():
        return find_token(state.config.tokens, presented.strip())
    if cookies and (value := request.cookies.get(SESSION_COOKIE)):
        return session_token(state.config.tokens, state.config.session_secret, value)
    return None


#: Declares the bearer scheme in the OpenAPI document (/docs gets an Authorize button); the
#: check itself is `require`, which answers in the JSON error format.
bearer_scheme = HTTPBearer(auto_error=False, description="a payjourney API token")


def require(scope: str) -> Callable[..., Awaitable[ApiToken]]:
    """A dependency that lets the request in only with a token holding `scope`."""

    async def check(
        request: Request,
        _declared: HTTPAuthorizationCredentials | None = Depends(bearer_scheme),  # noqa: B008
    ) -> ApiToken:
        token = caller(request)
        if token is None:
            raise ApiError(
                401,
                "unauthorized",
                "send `Authorization: Bearer <token>`; tokens are configured in "
                "PAYJOURNEY_API_TOKENS (`payjourney token new NAME --scope preview`)",
                headers={"WWW-Authenticate": 'Bearer realm="payjourney"'},
            )
        if scope not in token.scopes:
            raise ApiError(
                403,
                "forbidden",
                f"the token {token.name!r} lacks the {scope!r} scope; "
                f"it has {', '.join(sorted(token.scopes))}",
            )
        return token

    return check


def moment(text: str | None, zone: str) -> dt.datetime:
    """`now` from a query or body: ISO 8601; without an offset it is read in `zone` (the rules'
    time zone), a bare date as the start of that day; absent: the clock."""
    try:
        return parse_moment(text, zone)
    except ValueError as exc:
        raise ApiError(
            422, "invalid_now", str(exc), [{"field": "now", "problem": str(exc)}]
        ) from None
