"""The providers as a local HTTP server plays them: their request checks, answers and callbacks.

Callbacks are signed here independently of channels/ (the official twilio package for Twilio,
PyJWT and hmac for the rest), so a verifier that drifts from the documented scheme fails.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import uuid
from typing import Any

import httpx
import jwt
from twilio.request_validator import RequestValidator

from tests.channels.servers import ProviderServer, Recorded, Reply

INVALID_NUMBER = "+31000000000"


class TwilioFake:
    account_sid = "AC00000000000000000000000000000001"
    auth_token = "twilio-test-token"

    def __init__(self, server: ProviderServer) -> None:
        self.server = server
        self.messages: dict[str, dict[str, str]] = {}
        server.route = self.route

    def route(self, request: Recorded) -> Reply:
        if (
            request.path != f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
            or request.method != "POST"
        ):
            return Reply(
                404,
                {"code": 20404, "message": "The requested resource was not found", "status": 404},
            )
        expected = (
            "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        )
        if request.headers.get("authorization") != expected:
            return Reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
        form = request.form()
        if form["To"] == INVALID_NUMBER:
            return Reply(
                400,
                {
                    "code": 21211,
                    "message": f"The 'To' number {form['To']} is not a valid phone number.",
                    "status": 400,
                },
            )
        sid = "SM" + uuid.uuid4().hex
        self.messages[sid] = form
        return Reply(
            201,
            {"sid": sid, "status": "queued", "to": form["To"], "body": form["Body"], "price": None},
        )

    def seen_keys(self) -> list[str]:
        keys = []
        for form in self.messages.values():
            query = httpx.URL(form["StatusCallback"]).params
            keys.append(query["key"])
        return keys

    def callback(self, sid: str, status: str, error_code: str | None = None) -> None:
        """Post the status callback the way Twilio does, signed with the official validator."""
        url = self.messages[sid]["StatusCallback"]
        params = {
            "AccountSid": self.account_sid,
            "MessageSid": sid,
            "SmsSid": sid,
            "MessageStatus": status,
            "SmsStatus": status,
            "To": self.messages[sid]["To"],
            "ApiVersion": "2010-04-01",
        }
        if error_code:
            params["ErrorCode"] = error_code
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        httpx.post(
            url,
            data=params,
            headers={
                "X-Twilio-Signature": signature,
                "I-Twilio-Idempotency-Token": uuid.uuid4().hex,
            },
        ).raise_for_status()


class MessageBirdFake:
    access_key = "live_messagebird_test_key"
    signing_key = "messagebird-signing-key-of-32-bytes-or-more"

    def __init__(self, server: ProviderServer) -> None:
        self.server = server
        self.messages: dict[str, dict[str, Any]] = {}
        server.route = self.route

    def route(self, request: Recorded) -> Reply:
        if request.path != "/messages" or request.method != "POST":
            return Reply(
                404,
                {"errors": [{"code": 20, "description": "message not found", "parameter": None}]},
            )
        if request.headers.get("authorization") != f"AccessKey {self.access_key}":
            return Reply(
                401,
                {
                    "errors": [
                        {
                            "code": 2,
                            "description": "Request not allowed (incorrect access_key)",
                            "parameter": "access_key",
                        }
                    ]
                },
            )
        body = request.json()
        if "+" + body["recipients"][0] == INVALID_NUMBER:
            return Reply(
                422,
                {
                    "errors": [
                        {
                            "code": 9,
                            "description": "no (correct) recipients found",
                            "parameter": "recipient",
                        }
                    ]
                },
            )
        message_id = uuid.uuid4().hex
        self.messages[message_id] = body
        return Reply(
            201,
            {
                "id": message_id,
                "href": f"{self.server.url}/messages/{message_id}",
                "direction": "mt",
                "originator": body["originator"],
                "body": body["body"],
                "reference": body["reference"],
                "recipients": {
                    "totalCount": 1,
                    "totalSentCount": 1,
                    "items": [{"recipient": int(body["recipients"][0]), "status": "sent"}],
                },
            },
        )

    def seen_keys(self) -> list[str]:
        return [m["reference"] for m in self.messages.values()]

    def callback(self, message_id: str, status: str, error_code: str | None = None) -> None:
        """GET the reportUrl with the status, signed with MessageBird-Signature-JWT (HS256)."""
        message = self.messages[message_id]
        params = {
            "id": message_id,
            "reference": message["reference"],
            "recipient": message["recipients"][0],
            "status": status,
            "statusDatetime": "2026-11-24T09:30:00+00:00",
        }
        if error_code:
            params["statusErrorCode"] = error_code
        url = str(httpx.URL(message["reportUrl"], params=params))
        now = int(dt.datetime.now(dt.UTC).timestamp())
        claims = {
            "iss": "MessageBird",
            "nbf": now,
            "exp": now + 60,
            "jti": uuid.uuid4().hex,
            "url_hash": hashlib.sha256(url.encode()).hexdigest(),
        }
        token = jwt.encode(claims, self.signing_key, algorithm="HS256")
        httpx.get(url, headers={"MessageBird-Signature-JWT": token}).raise_for_status()


class WhatsAppFake:
    token = "whatsapp-system-user-token"
    phone_number_id = "106540352242922"
    app_secret = "whatsapp-app-secret"

    def __init__(self, server: ProviderServer, callback_url: str) -> None:
        self.server = server
        self.callback_url = callback_url
        self.messages: dict[str, dict[str, Any]] = {}
        server.route = self.route

    def route(self, request: Recorded) -> Reply:
        if request.path != f"/v21.0/{self.phone_number_id}/messages":
            return Reply(
                404, {"error": {"message": "Unknown path", "type": "OAuthException", "code": 803}}
            )
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return Reply(
                401,
                {
                    "error": {
                        "message": "Invalid OAuth access token.",
                        "type": "OAuthException",
                        "code": 190,
                        "fbtrace_id": "A",
                    }
                },
            )
        body = request.json()
        if "+" + body["to"] == INVALID_NUMBER:
            return Reply(
                400,
                {
                    "error": {
                        "message": "(#131026) Message Undeliverable.",
                        "type": "OAuthException",
                        "code": 131026,
                        "error_data": {
                            "messaging_product": "whatsapp",
                            "details": "Message Undeliverable.",
                        },
                        "fbtrace_id": "B",
                    }
                },
            )
        wamid = "wamid." + base64.b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        self.messages[wamid] = body
        return Reply(
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                "messages": [{"id": wamid}],
            },
        )

    def seen_keys(self) -> list[str]:
        return [m["biz_opaque_callback_data"] for m in self.messages.values()]

    def status_payload(
        self, wamid: str, status: str, *, timestamp: int, error_code: int | None = None
    ) -> bytes:
        entry: dict[str, Any] = {
            "id": wamid,
            "status": status,
            "timestamp": str(timestamp),
            "recipient_id": self.messages[wamid]["to"] if wamid in self.messages else "31612345678",
        }
        if wamid in self.messages:
            entry["biz_opaque_callback_data"] = self.messages[wamid]["biz_opaque_callback_data"]
        if error_code:
            entry["errors"] = [{"code": error_code, "title": "Message undeliverable"}]
        payload = {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "WABA-1",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "31201234567",
                                    "phone_number_id": self.phone_number_id,
                                },
                                "statuses": [entry],
                            },
                        }
                    ],
                }
            ],
        }
        return json.dumps(payload).encode()

    def callback(self, wamid: str, status: str, error_code: str | None = None) -> None:
        body = self.status_payload(
            wamid,
            status,
            timestamp=int(dt.datetime.now(dt.UTC).timestamp()),
            error_code=int(error_code) if error_code else None,
        )
        signature = "sha256=" + hmac.new(self.app_secret.encode(), body, hashlib.sha256).hexdigest()
        httpx.post(
            self.callback_url,
            content=body,
            headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
        ).raise_for_status()


class PingenFake:
    client_id = "pingen-client"
    client_secret = "pingen-secret"
    organisation_id = "6a9c1f6e-0000-4000-8000-000000000001"
    signing_key = "pingen-webhook-signing-key"

    def __init__(self, server: ProviderServer, callback_url: str) -> None:
        self.server = server
        self.callback_url = callback_url
        self.uploads: dict[str, bytes] = {}
        self.letters: dict[str, dict[str, Any]] = {}
        self.by_key: dict[str, str] = {}
        self.tokens: set[str] = set()
        server.route = self.route

    def route(self, request: Recorded) -> Reply:
        if request.path == "/auth/access-tokens" and request.method == "POST":
            form = request.form()
            if (form.get("client_id"), form.get("client_secret")) != (
                self.client_id,
                self.client_secret,
            ):
                return Reply(401, {"error": "invalid_client"})
            token = uuid.uuid4().hex
            self.tokens.add(token)
            return Reply(200, {"token_type": "Bearer", "expires_in": 43200, "access_token": token})
        if request.path.startswith("/upload/") and request.method == "PUT":
            self.uploads[request.path] = request.body
            return Reply(200, b"")
        if request.headers.get("authorization", "").removeprefix("Bearer ") not in self.tokens:
            return Reply(
                401,
                {
                    "errors": [
                        {"code": "401", "title": "Unauthenticated", "detail": "Invalid token"}
                    ]
                },
            )
        if request.path == "/file-upload" and request.method == "GET":
            path = f"/upload/{uuid.uuid4().hex}"
            return Reply(
                200,
                {
                    "data": {
                        "id": "u1",
                        "type": "file_uploads",
                        "attributes": {
                            "url": self.server.url + path,
                            "url_signature": "sig-" + path[-8:],
                            "expires_at": "2026-11-24T10:00:00+0000",
                        },
                    }
                },
            )
        if (
            request.path == f"/organisations/{self.organisation_id}/letters"
            and request.method == "POST"
        ):
            key = request.headers.get("idempotency-key", "")
            attributes = request.json()["data"]["attributes"]
            if key in self.by_key:  # Pingen replays the first answer for a repeated key
                letter_id = self.by_key[key]
            else:
                path = httpx.URL(attributes["file_url"]).path
                if path not in self.uploads:
                    return Reply(
                        422,
                        {
                            "errors": [
                                {
                                    "code": "422",
                                    "title": "Unprocessable",
                                    "detail": "file_url was not uploaded",
                                }
                            ]
                        },
                    )
                letter_id = str(uuid.uuid4())
                self.by_key[key] = letter_id
                self.letters[letter_id] = {"key": key, **attributes}
            return Reply(
                201,
                {
                    "data": {
                        "id": letter_id,
                        "type": "letters",
                        "attributes": {"status": "validating"},
                    }
                },
            )
        return Reply(
            404, {"errors": [{"code": "404", "title": "Not Found", "detail": request.path}]}
        )

    def seen_keys(self) -> list[str]:
        return [letter["key"] for letter in self.letters.values()]

    def event_body(
        self,
        letter_id: str,
        kind: str,
        *,
        created_at: str | None = None,
        event_id: str | None = None,
    ) -> bytes:
        payload = {
            "data": {
                "id": event_id or str(uuid.uuid4()),
                "type": kind,
                "attributes": {
                    "reason": "letter handed to the postal service",
                    "url": "https://app.pingen.com",
                    "created_at": created_at or dt.datetime.now(dt.UTC).isoformat(),
                },
                "relationships": {
                    "organisation": {"data": {"id": self.organisation_id, "type": "organisations"}},
                    "letter": {"data": {"id": letter_id, "type": "letters"}},
                },
            }
        }
        return json.dumps(payload).encode()

    def callback(self, letter_id: str, status: str, error_code: str | None = None) -> None:
        kind = {
            "delivered": "webhook_sent",
            "bounced": "webhook_undeliverable",
            "failed": "webhook_issues",
        }[status]
        body = self.event_body(letter_id, kind)
        signature = hmac.new(self.signing_key.encode(), body, hashlib.sha256).hexdigest()
        httpx.post(
            self.callback_url,
            content=body,
            headers={"Content-Type": "application/json", "Signature": signature},
        ).raise_for_status()


class TaskSystemFake:
    token = "task-system-token"

    def __init__(self, server: ProviderServer) -> None:
        self.server = server
        self.tasks: list[dict[str, Any]] = []
        server.route = self.route

    def route(self, request: Recorded) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return Reply(401, {"error": "unauthorised"})
        task = request.json()
        if task["task_id"] != request.headers.get("idempotency-key"):
            return Reply(400, {"error": "Idempotency-Key must be the task id"})
        if not any(t["task_id"] == task["task_id"] for t in self.tasks):
            self.tasks.append(task)
        return Reply(201, {"id": "T-" + task["task_id"]})

    def seen_keys(self) -> list[str]:
        return [t["task_id"] for t in self.tasks]
