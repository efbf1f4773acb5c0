"""The served API keeps freed heap memory (glibc), so SQLite's per-query scratch is reused
instead of being handed back to the kernel and faulted in again on the next query."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from engine.store.heap import keep_freed_heap

#: Run in a child process: malloc 2 MiB in 8 KiB blocks (below the mmap threshold, as SQLite's
#: scratch is), free them, and print how far the program break fell.
PROBE = textwrap.dedent(
    """
    import ctypes, sys
    from engine.store.heap import keep_freed_heap
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = (ctypes.c_void_p,)
    libc.sbrk.restype = ctypes.c_void_p
    libc.sbrk.argtypes = (ctypes.c_long,)
    if sys.argv[1] == "keep":
        assert keep_freed_heap()
    blocks = [libc.malloc(8192) for _ in range(256)]
    top = libc.sbrk(0)
    for block in reversed(blocks):
        libc.free(block)
    print(top - libc.sbrk(0))
    """
)


def heap_returned(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    )
    return int(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_scratch_memory_stays_with_the_process() -> None:
    """Without the setting glibc gives back most of 2 MiB freed at the top of the heap; with it
    the heap keeps it all."""
    assert heap_returned("default") > 1024 * 1024
    assert heap_returned("keep") == 0


def test_asking_where_there_is_no_glibc_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a platform without glibc's mallopt the call answers False and does nothing."""
    monkeypatch.setattr(sys, "platform", "darwin")
    assert keep_freed_heap() is False
