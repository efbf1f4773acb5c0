"""Freed heap memory kept in a long-running process (glibc: the API, the daemon), so each SQLite
query does not grow the heap anew.

glibc hands the top of the heap back to the kernel whenever more than 128 KiB lie free there
(M_TRIM_THRESHOLD). A stored preview's fact query builds its CTEs' temporary b-trees in about
a megabyte of SQLite scratch memory, freed when the statement ends: right at the top of the
heap, so every query shrank the heap (brk), grew it again and faulted fresh zeroed pages in.
That took 1.7 ms of CPU on top of the query's own 0.25 ms (measured on the 100,000-debtor
bench database; `strace -c` showed some 18 brk calls a query). Keeping up to HEAP_KEPT
bytes free costs that much memory at most per worker and makes the query take its own time.
"""

from __future__ import annotations

import ctypes
import sys

#: Free bytes at the top of the heap glibc keeps rather than returning (4 MiB was enough).
HEAP_KEPT = 16 * 1024 * 1024
_M_TRIM_THRESHOLD = -1  # malloc.h


def keep_freed_heap(kept: int = HEAP_KEPT) -> bool:
    """Ask glibc to keep up to `kept` freed bytes; False where the C library has no mallopt
    (not Linux, or musl): nothing changes there."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_TRIM_THRESHOLD, kept))
