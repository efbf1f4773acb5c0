"""What an operator can tune about a daemon, as one frozen record built (and checked) at start."""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from engine.errors import PayjourneyError

Clock = Callable[[], dt.datetime]


def system_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def daemon_name() -> str:
    """A name no other daemon has: host, pid and a random tail (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class DaemonConfigError(PayjourneyError):
    """A daemon setting is wrong; raised at start, before anything is claimed."""


#: How long after a promised date a journey stays paused before it resumes (the default of
#: the daemon, and of the API and `payjourney record`, which settle through the same life cycle).
PROMISE_GRACE = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonSettings:
    """Timing and limits of one daemon.

    `lease`: how long a claim holds before another daemon may take the step over (a send that
    was under way then becomes `unknown`). `tolerance`: a step due within this much is sent now
    (`decide` answers `send_at == now` only for a step already due, and ticks are seconds apart).
    """

    daemon_id: str = field(default_factory=daemon_name)
    lease: dt.timedelta = dt.timedelta(seconds=60)
    tolerance: dt.timedelta = dt.timedelta(seconds=5)
    batch: int = 200
    max_attempts: int = 5
    backoff_base: dt.timedelta = dt.timedelta(seconds=60)
    backoff_cap: dt.timedelta = dt.timedelta(hours=2)
    rate_limits: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    breaker_threshold: int = 5
    breaker_reset: dt.timedelta = dt.timedelta(seconds=30)
    promise_grace: dt.timedelta = PROMISE_GRACE
    dispatch_every: dt.timedelta = dt.timedelta(seconds=2)
    plan_cron: str = "0 2 * * *"  # nightly, in the daemon's time zone
    timezone: str = "Europe/Amsterdam"
    #: the folder whose CAMT.053/MT940 files are imported (None: no statement watch)
    statements_dir: Path | None = None
    statements_every: dt.timedelta = dt.timedelta(seconds=30)
    #: how long a statement file must be unchanged before it is taken (still being copied)
    statements_quiet: dt.timedelta = dt.timedelta(seconds=10)
    #: where debtors' own pages are served (`payjourney serve`'s public address): with it,
    #: every message carries a personal link (docs/self-service.md); without, none does
    public_url: str | None = None
    link_ttl: dt.timedelta = dt.timedelta(days=60)

    def __post_init__(self) -> None:
        problems = []
        if self.lease < dt.timedelta(seconds=1):
            problems.append(f"--lease must be at least 1s, got {self.lease}")
        if self.batch < 1:
            problems.append(f"--batch must be at least 1, got {self.batch}")
        if self.statements_every < dt.timedelta(seconds=1):
            problems.append(f"--statements-every must be at least 1s, got {self.statements_every}")
        if self.max_attempts < 1:
            problems.append(f"max attempts must be at least 1, got {self.max_attempts}")
        for channel, rate in self.rate_limits.items():
            if rate <= 0:
                problems.append(f"rate limit for {channel} must be positive, got {rate}")
        if self.public_url is not None and not self.public_url.startswith(("https://", "http://")):
            problems.append(
                f"--public-url must be the address debtors reach, e.g. https://pay.example.nl,"
                f" got {self.public_url!r}"
            )
        if problems:
            raise DaemonConfigError("; ".join(problems))
        object.__setattr__(self, "rate_limits", MappingProxyType(dict(self.rate_limits)))
