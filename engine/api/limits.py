"""Previews in turn: a worker runs at most PAYJOURNEY_API_CONCURRENCY (default 2) of them at once on
threads, the rest wait in arrival order; 0 runs each on the event loop itself.

A preview is CPU-bound Python (about 2 ms of CPU). Run in Starlette's thread pool without a
bound, forty of them would share the one interpreter lock at once under load, each finishing
only when all are nearly done, so every request waits as long as the slowest (processor
sharing). In turn (first come, first served, two at a time so one can wait on the database
while the other computes) each finishes in its own time, which is what the tail latency sees.

On the event loop (0) a SQLite preview costs about 0.25 ms of CPU less (no hop to a thread and
back), but on a machine whose cores are busy with other work its tail was longer, not shorter
(docs/api.md, "The tail"): the default stays two threads.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")
_LIMITER: list[anyio.CapacityLimiter] = []
#: Previews at once per worker process, by default.
TURNS = 2


def preview_turns(environ: Mapping[str, str] | None = None) -> int:
    """How many previews a worker runs at once on threads (PAYJOURNEY_API_CONCURRENCY, default
    TURNS); 0: on the event loop, one at a time."""
    configured = (os.environ if environ is None else environ).get("PAYJOURNEY_API_CONCURRENCY")
    return max(0, int(configured)) if configured else TURNS


def _limiter(turns: int) -> anyio.CapacityLimiter:
    if not _LIMITER:  # made inside the event loop (anyio needs one)
        _LIMITER.append(anyio.CapacityLimiter(turns))
    return _LIMITER[0]


async def in_turn(work: Callable[[], T], turns: int) -> T:
    """`work()` once a turn is free (FIFO): on a worker thread, or right here when `turns` is 0."""
    if turns == 0:
        return work()
    return await anyio.to_thread.run_sync(work, limiter=_limiter(turns))
