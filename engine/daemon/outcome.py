"""What happened to one claimed step, and the counters a dispatch pass keeps."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum


class Outcome(StrEnum):
    """The end of one step's turn in a dispatch pass."""

    SENT = "sent"
    RETRY = "retried"  # transient failure: back on the schedule after a backoff
    FAILED = "failed"  # retries used up, or nothing left to try
    PERMANENT = "permanent"  # this channel can never reach this debtor: try the next one
    UNKNOWN = "unknown"  # the provider may or may not have it; a person settles it
    CANCELLED = "cancelled"  # no longer right: paid, disputed, paused, another step is due
    RESCHEDULED = "rescheduled"  # right, but not now (window, weekly cap, pause)
    LOST = "lost"  # our lease was gone before we called the provider; nothing was sent
    HANDED_OFF = "handed_off"
    RELEASED = "released"  # given back at shutdown


@dataclass(slots=True)
class DispatchReport:
    """Counts of one or more dispatch passes."""

    claimed: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    fallbacks: int = 0
    expired_retaken: int = 0
    expired_unknown: int = 0

    def add(self, outcome: Outcome) -> None:
        self.outcomes[outcome.value] += 1

    def __getitem__(self, name: str) -> int:
        return self.outcomes[name]
