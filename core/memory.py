"""Handing freed memory back to the operating system, for long-running processes with bursts.

A watcher's health round or a rebalance briefly holds thousands of replies, parse trees and
buffers at once. Python and libxml2 free them into the C allocator, which keeps freed pages
inside its heap, so resident memory after the burst stays at the burst's size. glibc's
``malloc_trim(0)`` returns those free pages to the kernel; elsewhere (musl, macOS) this is a
no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None  # not glibc
    return trim


def release_free_memory() -> bool:
    """Return the C heap's free pages to the kernel; whether the allocator could do it."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
