"""Letters: the rendered PDF to Pingen's print-and-mail API, or into a print house's drop folder.

Pingen (api.pingen.com, v2): a client-credentials token, then `GET /file-upload` for a signed
upload URL, `PUT` the PDF there, then `POST /organisations/{org}/letters` (JSON:API) with
`auto_send` and the delivery product, under an `Idempotency-Key` header carrying our key.
Pingen reads the address from the PDF's address window. Its webhooks (sent, issues,
undeliverable) are signed: `Signature: <hex HMAC-SHA256(signing key, raw body)>`.

The drop folder writes `<key>.pdf` and one manifest row per letter (CSV or JSON Lines: message
id, file, recipient address, pages, postage class) for a print house that collects the folder.
Registered mail (`metadata["registered"] == "true"`) picks the registered product or postage.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import json
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx
from pypdf import PdfReader
from pypdf.errors import PdfReadError

from channels.base import (
    ChannelConfigError,
    ChannelError,
    OutgoingMessage,
    PermanentChannelError,
    Receipt,
    TransientChannelError,
)
from channels.provider_http import json_body, make_client, provider_error, transport_errors
from channels.receipts import (
    CallbackRejected,
    DeliveryReceipt,
    InboundRequest,
    ReplayGuard,
    accepted,
)

PINGEN = "pingen"
DROP_FOLDER = "drop-folder"
API_URL = "https://api.pingen.com"
IDENTITY_URL = "https://identity.pingen.com"


def is_registered(message: OutgoingMessage) -> bool:
    """Whether the step asked for registered mail (proof of receipt)."""
    return message.metadata.get("registered", "").lower() in ("true", "1", "yes")


def _pdf(message: OutgoingMessage) -> bytes:
    pdf = message.pdf
    if pdf is None:
        raise ValueError(
            f"letter {message.idempotency_key} has no PDF attachment; render it with letter_pdf first"
        )
    return pdf.data


def count_pages(data: bytes) -> int:
    """The number of pages of a PDF (the print house charges by the page)."""
    try:
        return len(PdfReader(io.BytesIO(data)).pages)
    except PdfReadError as exc:
        raise ValueError(f"the letter PDF cannot be read: {exc}") from exc


# --- Pingen ---------------------------------------------------------------------------------

#: Pingen answers errors as JSON:API `errors` with HTTP statuses; these are the ones it documents.
ERROR_CODES: Mapping[str, type[ChannelError]] = {
    "400": PermanentChannelError,  # malformed request
    "401": TransientChannelError,  # token rejected: check the client id and secret, then retry
    "403": TransientChannelError,  # the client lacks the letter scope or the organisation
    "404": PermanentChannelError,  # organisation or letter not found
    "409": TransientChannelError,  # the same Idempotency-Key is still being processed
    "422": PermanentChannelError,  # the letter is invalid (no readable address, bad format)
    "429": TransientChannelError,  # rate limited
    "500": TransientChannelError,
    "503": TransientChannelError,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class PingenSettings:
    client_id: str
    client_secret: str
    organisation_id: str
    delivery_product: str = "cheap"
    registered_product: str = "sign"  # Pingen's registered letter with signature on receipt
    print_mode: Literal["simplex", "duplex"] = "simplex"
    print_spectrum: Literal["grayscale", "color"] = "grayscale"
    api_url: str = API_URL
    identity_url: str = IDENTITY_URL
    timeout: float = 30.0


class PingenLetterChannel:
    """Letters through Pingen: upload the PDF, then create the letter with auto_send."""

    name = "letter"
    provider = PINGEN

    def __init__(
        self,
        settings: PingenSettings,
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._client = make_client(settings.api_url, timeout=settings.timeout)
        self._token: tuple[str, dt.datetime] | None = None

    def _access_token(self, message: OutgoingMessage) -> str:
        now = self._clock()
        if self._token is not None and self._token[1] > now:
            return self._token[0]
        with transport_errors(PINGEN):
            response = self._client.post(
                f"{self.settings.identity_url}/auth/access-tokens",
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.settings.client_id,
                    "client_secret": self.settings.client_secret,
                    "scope": "letter",
                },
            )
        if response.status_code >= 400:
            raise self._error(response, message, what="the access token request")
        body = response.json()
        ttl = dt.timedelta(seconds=max(int(body.get("expires_in", 0)) - 60, 0))
        self._token = (str(body["access_token"]), now + ttl)
        return self._token[0]

    def _call(
        self, method: str, url: str, message: OutgoingMessage, *, what: str, **kwargs: object
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})  # type: ignore[call-overload]
        headers["Authorization"] = f"Bearer {self._access_token(message)}"
        with transport_errors(PINGEN):
            response = self._client.request(method, url, headers=headers, **kwargs)  # type: ignore[arg-type]
        if response.status_code >= 400:
            if response.status_code == 401:
                self._token = None
            raise self._error(response, message, what=what)
        return response

    def send(self, message: OutgoingMessage) -> Receipt:
        data = _pdf(message)
        upload = self._call("GET", "/file-upload", message, what="the upload URL").json()["data"][
            "attributes"
        ]
        with transport_errors(PINGEN):
            put = self._client.put(str(upload["url"]), content=data)
        if put.status_code >= 400:
            raise self._error(put, message, what="the PDF upload")
        registered = is_registered(message)
        attributes = {
            "file_original_name": f"{message.idempotency_key}.pdf",
            "file_url": upload["url"],
            "file_url_signature": upload["url_signature"],
            "address_position": "left",
            "auto_send": True,
            "delivery_product": self.settings.registered_product
            if registered
            else self.settings.delivery_product,
            "print_mode": self.settings.print_mode,
            "print_spectrum": self.settings.print_spectrum,
        }
        created = self._call(
            "POST",
            f"/organisations/{self.settings.organisation_id}/letters",
            message,
            what="the letter",
            json={"data": {"type": "letters", "attributes": attributes}},
            headers={
                "Idempotency-Key": message.idempotency_key,
                "Content-Type": "application/vnd.api+json",
            },
        ).json()["data"]
        return accepted(
            message,
            provider=PINGEN,
            provider_message_id=str(created["id"]),
            at=self._clock(),
            cost={"pages": str(count_pages(data)), "product": str(attributes["delivery_product"])},
        )

    def _error(
        self, response: httpx.Response, message: OutgoingMessage, *, what: str
    ) -> ChannelError:
        body = json_body(response)
        errors = body.get("errors") if isinstance(body, dict) else None
        first = (
            errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
        )
        detail = first.get("detail") or first.get("title") or response.reason_phrase
        return provider_error(
            PINGEN,
            response,
            message,
            code=str(response.status_code),
            description=f"{what}: {detail}",
            codes=ERROR_CODES,
        )

    def close(self) -> None:
        self._client.close()


def pingen_signature(body: bytes, signing_key: str) -> str:
    return hmac.new(signing_key.encode(), body, hashlib.sha256).hexdigest()


_PINGEN_EVENTS = {
    "webhook_sent": "delivered",
    "webhook_undeliverable": "bounced",
    "webhook_issues": "failed",
}


def parse_pingen_webhook(
    request: InboundRequest,
    *,
    signing_key: str,
    replay_guard: ReplayGuard,
    max_age: dt.timedelta = dt.timedelta(days=3),
    now: dt.datetime | None = None,
) -> tuple[DeliveryReceipt, ...]:
    """A verified Pingen webhook as a receipt: sent -> delivered (to the post), undeliverable ->
    bounced (returned mail: a hard bounce), issues -> failed (soft: the letter needs attention)."""
    signature = request.header("Signature")
    if not signature:
        raise CallbackRejected(PINGEN, "no Signature header")
    if not hmac.compare_digest(pingen_signature(request.body, signing_key), signature.strip()):
        raise CallbackRejected(
            PINGEN, "Signature does not match (wrong signing key or a forged request)"
        )
    try:
        data = json.loads(request.body)["data"]
        kind = str(data["type"])
        attributes = data.get("attributes", {})
        letter_id = str(data["relationships"]["letter"]["data"]["id"])
        occurred_at = dt.datetime.fromisoformat(str(attributes["created_at"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise CallbackRejected(PINGEN, "not a Pingen letter webhook") from exc
    if occurred_at.tzinfo is None:
        occurred_at = occurred_at.replace(tzinfo=dt.UTC)
    if (now or dt.datetime.now(dt.UTC)) - occurred_at > max_age:
        raise CallbackRejected(
            PINGEN, f"an event from {occurred_at.isoformat()} is too old (a replay?)"
        )
    replay_guard.check(PINGEN, str(data.get("id") or signature))
    status = _PINGEN_EVENTS.get(kind)
    if status is None:
        return ()
    return (
        DeliveryReceipt(
            provider=PINGEN,
            provider_message_id=letter_id,
            status=status,  # type: ignore[arg-type]
            occurred_at=occurred_at,
            code=kind,
            permanent=kind == "webhook_undeliverable",
            detail=attributes.get("reason"),
        ),
    )


# --- drop folder ----------------------------------------------------------------------------

MANIFEST_FIELDS = (
    "message_id",
    "file",
    "recipient_address",
    "pages",
    "postage",
    "locale",
    "customer_id",
    "created_at",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class DropFolderSettings:
    folder: Path
    manifest: Literal["csv", "json"] = "csv"
    postage: str = "standard"
    registered_postage: str = "registered"


class DropFolderLetterChannel:
    """Letters for a print house: `<key>.pdf` files and a manifest row each, in one folder."""

    name = "letter"
    provider = DROP_FOLDER

    def __init__(
        self,
        settings: DropFolderSettings,
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        if settings.manifest not in ("csv", "json"):
            raise ChannelConfigError(
                f"drop-folder manifest {settings.manifest!r} is neither csv nor json "
                "(PAYJOURNEY_LETTER_MANIFEST)"
            )
        self.settings = settings
        self._clock = clock
        self._lock = threading.Lock()

    @property
    def manifest_path(self) -> Path:
        return self.settings.folder / (
            "manifest.csv" if self.settings.manifest == "csv" else "manifest.jsonl"
        )

    def _file_name(self, key: str) -> str:
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", key)
        return f"{safe}-{hashlib.sha256(key.encode()).hexdigest()[:8]}.pdf"

    def manifest_rows(self) -> list[dict[str, str]]:
        """The manifest as written so far."""
        path = self.manifest_path
        if not path.exists():
            return []
        with path.open(newline="", encoding="utf-8") as handle:
            if self.settings.manifest == "csv":
                return list(csv.DictReader(handle))
            return [json.loads(line) for line in handle if line.strip()]

    def send(self, message: OutgoingMessage) -> Receipt:
        data = _pdf(message)
        pages = count_pages(data)
        postage = (
            self.settings.registered_postage if is_registered(message) else self.settings.postage
        )
        file_name = self._file_name(message.idempotency_key)
        now = self._clock()
        row = {
            "message_id": message.idempotency_key,
            "file": file_name,
            "recipient_address": message.recipient,
            "pages": str(pages),
            "postage": postage,
            "locale": message.locale,
            "customer_id": message.customer_id or "",
            "created_at": now.isoformat(),
        }
        try:
            with self._lock:
                self.settings.folder.mkdir(parents=True, exist_ok=True)
                if not any(
                    r["message_id"] == message.idempotency_key for r in self.manifest_rows()
                ):
                    target = self.settings.folder / file_name
                    partial = target.with_suffix(".pdf.part")
                    partial.write_bytes(data)
                    os.replace(partial, target)
                    self._append(row)
        except OSError as exc:
            raise TransientChannelError(
                f"cannot write the letter to the drop folder {self.settings.folder} ({exc.strerror}); "
                "check PAYJOURNEY_LETTER_DROP_DIR exists and is writable",
                provider=DROP_FOLDER,
                code=f"errno-{exc.errno}",
            ) from exc
        return accepted(
            message,
            provider=DROP_FOLDER,
            provider_message_id=file_name,
            at=now,
            cost={"pages": str(pages), "postage": postage},
        )

    def _append(self, row: Mapping[str, str]) -> None:
        path = self.manifest_path
        new = not path.exists()
        with path.open("a", newline="", encoding="utf-8") as handle:
            if self.settings.manifest == "csv":
                writer = csv.DictWriter(handle, fieldnames=MANIFEST_FIELDS)
                if new:
                    writer.writeheader()
                writer.writerow(row)
            else:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def close(self) -> None:
        """Nothing to release: every send closes its files."""
