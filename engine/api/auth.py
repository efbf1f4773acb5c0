"""Bearer tokens with scopes: configured as hashes, compared in constant time.

A token line is `name:scope+scope:sha256:<hex of the token's SHA-256>` (`payjourney token new`
prints one). Tokens are 32 random bytes, so a plain SHA-256 is enough at rest: there is no
password to guess, only a hash that cannot be turned back into the token.
Scopes: `preview` (read: next-message, what-if, the staff page), `events` (write events),
`metrics` (GET /metrics).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

from engine.errors import PayjourneyError

SCOPES = ("preview", "events", "metrics")
SESSION_COOKIE = "payjourney_session"
SESSION_SECONDS = 8 * 3600


class TokenConfigError(PayjourneyError):
    """A token line cannot be read."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiToken:
    """A configured token: who it is for, what it may do, and the hash of its secret."""

    name: str
    scopes: frozenset[str]
    sha256: bytes

    def line(self) -> str:
        return f"{self.name}:{'+'.join(sorted(self.scopes))}:sha256:{self.sha256.hex()}"


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def new_token(name: str, scopes: Sequence[str]) -> tuple[str, ApiToken]:
    """A fresh secret and the configuration line that accepts it."""
    _check_scopes(name, scopes)
    secret = "pj_" + secrets.token_urlsafe(32)
    return secret, ApiToken(name=name, scopes=frozenset(scopes), sha256=token_hash(secret))


def _check_scopes(name: str, scopes: Sequence[str]) -> None:
    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise TokenConfigError(
            f"token {name!r}: unknown scope(s) {', '.join(bad) or '(none given)'}; "
            f"use {', '.join(SCOPES)} joined by '+'"
        )


def parse_tokens(text: str) -> tuple[ApiToken, ...]:
    """Token lines separated by newlines or `;`; blank lines and `#` comments are skipped."""
    tokens: list[ApiToken] = []
    for raw in text.replace(";", "\n").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(":")
        if len(parts) != 4 or parts[2] != "sha256":
            raise TokenConfigError(
                f"token line {line[:40]!r}: expected name:scopes:sha256:<64 hex digits>; "
                "create one with `payjourney token new NAME --scope preview`"
            )
        name, scopes, _, digest = parts
        _check_scopes(name, scopes.split("+"))
        try:
            sha = bytes.fromhex(digest)
        except ValueError:
            sha = b""
        if len(sha) != 32:
            raise TokenConfigError(f"token {name!r}: the sha256 must be 64 hex digits")
        tokens.append(ApiToken(name=name, scopes=frozenset(scopes.split("+")), sha256=sha))
    return tuple(tokens)


def find_token(tokens: Sequence[ApiToken], presented: str) -> ApiToken | None:
    """The token whose hash matches, comparing with every configured one in constant time."""
    digest = token_hash(presented)
    found = None
    for token in tokens:
        if hmac.compare_digest(token.sha256, digest):
            found = token
    return found


def session_value(token: ApiToken, secret: bytes, now: float | None = None) -> str:
    """A signed cookie value naming the token and its expiry (never the token itself)."""
    until = int((now or time.time()) + SESSION_SECONDS)
    body = f"{token.name}|{until}"
    mac = hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()
    return f"{body}|{mac}"


def session_token(
    tokens: Sequence[ApiToken], secret: bytes, value: str, now: float | None = None
) -> ApiToken | None:
    """The token a session cookie was issued for, if its signature holds and it has not expired."""
    try:
        name, until, mac = value.rsplit("|", 2)
        expires = int(until)
    except ValueError:
        return None
    expected = hmac.new(secret, f"{name}|{until}".encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, mac) or expires < (now or time.time()):
        return None
    return next((t for t in tokens if t.name == name), None)
