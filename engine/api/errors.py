"""The JSON error format of shared/design/surfaces.md, and how every failure maps onto it.

`{"error": {"code": "...", "message": "...", "details": [...]}}`: 4xx for the caller's mistakes
(with the fix in the message), 503 when the database is away, 500 only for our own bugs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.errors import FactSheetError, PayjourneyError, RuleError
from engine.messages.payments.base import PaymentError
from engine.messages.sandbox import TemplateProblem
from engine.store.errors import (
    CustomerNotFound,
    DatabaseNotReady,
    DatabaseUnreachable,
    ImportFileError,
    ImportRejected,
    StoreError,
)

log = logging.getLogger("payjourney.api")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
}


class ApiError(Exception):
    """An answer other than 2xx, in the JSON error format."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Sequence[Any] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = list(details)
        self.headers = headers


def error_body(code: str, message: str, details: Sequence[Any] = ()) -> dict[str, Any]:
    """The JSON error body."""
    return {"error": {"code": code, "message": message, "details": list(details)}}


def _json(error: ApiError) -> JSONResponse:
    return JSONResponse(
        error_body(error.code, error.message, error.details),
        status_code=error.status,
        headers=error.headers,
    )


def translate(exc: PayjourneyError) -> ApiError:
    """A payjourney error as the answer the caller can act on."""
    if isinstance(exc, CustomerNotFound):
        return ApiError(404, "customer_not_found", str(exc))
    if isinstance(exc, RuleError):
        return ApiError(
            422,
            "invalid_rules",
            "the rules have errors; fix them (the same problems `payjourney validate` prints)",
            [p.to_json() | {"text": str(p)} for p in exc.problems],
        )
    if isinstance(exc, ImportRejected):
        return ApiError(
            422,
            "invalid_rows",
            "some rows are invalid; nothing was used. Fix the rows named in details",
            [
                {"row": f"{p.path}:{p.row}", "field": p.column, "problem": p.problem}
                for p in exc.problems
            ],
        )
    if isinstance(exc, FactSheetError):
        return ApiError(422, "invalid_facts", str(exc), list(exc.problems))
    if isinstance(exc, DatabaseUnreachable | DatabaseNotReady):
        return ApiError(503, "database_unavailable", str(exc))
    if isinstance(exc, TemplateProblem):
        return ApiError(422, "template_problem", str(exc))
    if isinstance(exc, PaymentError):
        return ApiError(502, "payment_provider", str(exc))
    if isinstance(exc, ImportFileError | StoreError):
        return ApiError(422, "invalid_data", str(exc))
    return ApiError(422, "invalid", str(exc))


def install_error_handlers(app: FastAPI) -> None:
    """Every failure becomes the JSON error format; never an HTML page or a bare 500."""

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return _json(exc)

    @app.exception_handler(PayjourneyError)
    async def _payjourney(_request: Request, exc: PayjourneyError) -> JSONResponse:
        return _json(translate(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {
                "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"),
                "problem": str(err.get("msg", "")),
            }
            for err in exc.errors()
        ]
        return _json(
            ApiError(
                422,
                "invalid_request",
                "the request does not fit the schema at /docs; see details",
                details,
            )
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = str(exc.detail) if exc.detail else code.replace("_", " ")
        if exc.status_code == 404 and exc.detail == "Not Found":
            message = "no such endpoint; the API is described at /docs"
        return _json(
            ApiError(exc.status_code, code, message, headers=getattr(exc, "headers", None))
        )

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, _route_of(request))
        return _json(ApiError(500, "internal", "an unexpected error on our side; it is logged"))


def _route_of(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", "?"))
