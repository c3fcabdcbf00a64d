"""Freed memory goes back to the operating system after a burst (``core.memory``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.memory import _malloc_trim, release_free_memory

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _resident() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * _PAGE


@pytest.mark.skipif(_malloc_trim() is None, reason="not glibc: nothing to trim")
def test_a_burst_freed_in_the_middle_of_the_heap_stops_counting_as_resident() -> None:
    # A burst of C-heap allocations (replies, parse trees, buffers) of which a few outlive it:
    # the survivors pin the heap, so freeing the rest alone leaves it resident.
    burst = [bytes(4096) for _ in range(12_000)]  # about 48 MiB through malloc
    survivors = burst[::200]
    del burst
    before = _resident()
    assert release_free_memory()
    after = _resident()
    assert before - after > 24 * 2**20, (before, after)
    assert len(survivors) == 60
