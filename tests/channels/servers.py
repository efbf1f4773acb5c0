"""Real servers on loopback that play the providers: an HTTP server with scripted replies, an
SMTP server (aiosmtpd), and a receiver for the providers' callbacks."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from channels.receipts import InboundRequest


@dataclass
class Recorded:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    url: str

    def form(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(self.body.decode(), keep_blank_values=True))

    def json(self) -> Any:
        return json.loads(self.body)

    def inbound(self) -> InboundRequest:
        return InboundRequest(
            method=self.method, url=self.url, body=self.body, headers=self.headers
        )


@dataclass
class Reply:
    status: int = 200
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


Route = Callable[[Recorded], Reply]


class ProviderServer:
    """An HTTP server on 127.0.0.1: replies come from `route`, or first from the `fail_next` queue."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.route: Route = lambda request: Reply(404, {"error": "no route"})
        self._queue: list[Reply] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                split = urllib.parse.urlsplit(self.path)
                recorded = Recorded(
                    method=self.command,
                    path=split.path,
                    query=dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True)),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    url=f"http://{self.headers.get('Host')}{self.path}",
                )
                with outer._lock:
                    outer.requests.append(recorded)
                    reply = outer._queue.pop(0) if outer._queue else None
                if reply is None:
                    reply = outer.route(recorded)
                if reply.delay:
                    time.sleep(reply.delay)
                data = reply.encoded()
                try:
                    self.send_response(reply.status)
                    content_type = (
                        "application/json"
                        if not isinstance(reply.body, bytes | str)
                        else "text/plain"
                    )
                    self.send_header("Content-Type", content_type)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_PUT = do_PATCH = _handle

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def fail_next(self, reply: Reply) -> None:
        with self._lock:
            self._queue.append(reply)

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class CallbackReceiver(ProviderServer):
    """Our side of the webhooks: records what the provider posted, answers 200."""

    def __init__(self) -> None:
        super().__init__()
        self.route = lambda request: Reply(200, b"ok")

    def received(self) -> list[InboundRequest]:
        return [r.inbound() for r in self.requests]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class SmtpRecorder:
    """An aiosmtpd handler: keeps each accepted message, and replies what the test scripts."""

    def __init__(self, *, pipelining: bool = True) -> None:
        self.messages: list[bytes] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.rcpt_replies: list[str] = []
        self.mail_replies: list[str] = []
        self.data_delay = 0.0
        self.pipelining = pipelining  # offer PIPELINING (RFC 2920), as Postfix does

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if not self.pipelining:
            return responses
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.mail_replies:
            return self.mail_replies.pop(0)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.rcpt_replies:
            return self.rcpt_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_delay:
            delay, self.data_delay = self.data_delay, 0.0
            await asyncio.sleep(delay)
        self.messages.append(envelope.original_content or envelope.content)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


def smtp_controller(handler: SmtpRecorder, **kwargs: Any) -> Controller:
    return Controller(handler, hostname="127.0.0.1", port=free_port(), **kwargs)
