"""Previews in turn: a worker runs at most PAYJOURNEY_API_CONCURRENCY (default 2) of them at once,
the rest wait in arrival order.

A preview is CPU-bound Python (about 3 ms of CPU): run in Starlette's thread pool without a
bound, forty of them would share the one interpreter lock at once under load, each finishing
only when all are nearly done, so every request waits as long as the slowest (processor
sharing). In turn (first come, first served, two at a time so one can wait on the database
while the other computes) each finishes in its own time, which is what the tail latency sees.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")
_LIMITER: list[anyio.CapacityLimiter] = []


def _limiter() -> anyio.CapacityLimiter:
    if not _LIMITER:  # made inside the event loop (anyio needs one)
        _LIMITER.append(
            anyio.CapacityLimiter(int(os.environ.get("PAYJOURNEY_API_CONCURRENCY", "2")))
        )
    return _LIMITER[0]


async def in_turn(work: Callable[[], T]) -> T:
    """`work()` on a worker thread once a turn is free (FIFO)."""
    return await anyio.to_thread.run_sync(work, limiter=_limiter())
