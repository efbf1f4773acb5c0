"""Retry backoff, per-channel rate limits and a circuit breaker per provider, once for every channel.

Our own small pieces rather than tenacity and pybreaker: a retry here is not a loop in memory but
a step put back on the schedule (`send_at` moves), so it survives a restart and another daemon
may send it; and the breaker's clock must be the daemon's injected clock, for tests.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

#: Monotonic seconds, injectable.
Ticker = Callable[[], float]
Sleep = Callable[[float], None]


def backoff_seconds(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with jitter: attempt 1 waits about `base`, then twice as long each
    time up to `cap`; the wait is drawn from its upper half so retries of many steps spread."""
    ceiling = float(min(cap, base * 2.0 ** max(0, attempt - 1)))
    return ceiling / 2 + float(rng.uniform(0, ceiling / 2))


class RateLimiter:
    """A token bucket: at most `rate` sends per second on average, bursts up to `burst`."""

    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        ticker: Ticker = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"a rate limit must be positive, got {rate}")
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._ticker, self._sleep = ticker, sleep
        self._tokens = self.burst
        self._last = ticker()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping until there is one; returns the seconds waited."""
        with self._lock:
            now = self._ticker()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= 1
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait


@dataclass(slots=True)
class _BreakerState:
    failures: int = 0
    opened_at: float | None = None


class CircuitBreaker:
    """Opens after `threshold` transient failures in a row: the channel pauses for `reset_after`
    seconds, then one trial send decides (success closes it, failure opens it again)."""

    def __init__(
        self, *, threshold: int = 5, reset_after: float = 30.0, ticker: Ticker = time.monotonic
    ) -> None:
        self.threshold, self.reset_after, self._ticker = threshold, reset_after, ticker
        self._state = _BreakerState()
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return self.wait() > 0

    def wait(self) -> float:
        """Seconds until a send may be tried; 0 when the breaker lets it through."""
        with self._lock:
            if self._state.opened_at is None:
                return 0.0
            left = self._state.opened_at + self.reset_after - self._ticker()
            return max(0.0, left)

    def success(self) -> None:
        with self._lock:
            self._state = _BreakerState()

    def failure(self) -> bool:
        """Count a transient failure; True when this one opened (or re-opened) the breaker."""
        with self._lock:
            self._state.failures += 1
            if self._state.failures >= self.threshold:
                self._state.opened_at = self._ticker()
                return True
            return False
