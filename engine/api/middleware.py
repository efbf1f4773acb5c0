"""ASGI middleware: request body limit, an access log without personal data, and metrics."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.api.errors import error_body

access_log = logging.getLogger("payjourney.api.access")


class ApiMetrics:
    """The API's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "payjourney_api_requests",
            "HTTP requests by route template and status",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "payjourney_api_request_seconds",
            "request latency by route template",
            ("method", "route"),
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )


def _too_large(limit: int) -> list[Message]:
    body = json.dumps(
        error_body(
            "body_too_large",
            f"the request body is larger than {limit} bytes; send less (split the rows)",
        )
    ).encode()
    return [
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        },
        {"type": "http.response.body", "body": body},
    ]


class ApiMiddleware:
    """Refuses bodies over `body_limit` (413, before the route reads them), logs each request as
    method, route template, status and milliseconds — never the path, query or body, which name
    customers — and counts it for /metrics."""

    def __init__(self, app: ASGIApp, *, body_limit: int, metrics: ApiMetrics) -> None:
        self.app, self.limit, self.metrics = app, body_limit, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            for message in _too_large(self.limit):
                await send(message)
            self._done(scope, 413, started)
            return
        if declared is None and scope.get("method") in ("POST", "PUT", "PATCH"):
            # no Content-Length (chunked): read the body here, up to the limit, then replay it
            chunks: list[bytes] = []
            seen = 0
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    break
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    for reply in _too_large(self.limit):
                        await send(reply)
                    self._done(scope, 413, started)
                    return
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    break
            replayed, original = False, receive

            async def replay() -> Message:
                nonlocal replayed
                if replayed:
                    return await original()
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

            receive = replay

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            self._done(scope, status, started)

    def _done(self, scope: Scope, status: int, started: float) -> None:
        elapsed = time.perf_counter() - started
        route: Any = scope.get("route")
        template = str(getattr(route, "path", "")) or "(unmatched)"
        method = str(scope.get("method", ""))
        self.metrics.requests.labels(method, template, str(status)).inc()
        self.metrics.latency.labels(method, template).observe(elapsed)
        access_log.info("%s %s %d %.1fms", method, template, status, elapsed * 1000)
