"""Children that end with the process that started them, however it ends (Linux's
``PR_SET_PDEATHSIG``): a killed test session or benchmark must not leave brokers, simulators or
runtimes behind."""

from __future__ import annotations

import ctypes
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1
SUPPORTED = sys.platform.startswith("linux")


def ends_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` asking the kernel to send ``sig`` to the child when its parent dies, or
    None where the kernel cannot. SIGTERM lets a service shut down cleanly; a benchmark's
    children take SIGKILL, since a clean shutdown may wait forever on a broker that died too."""
    if not SUPPORTED:
        return None

    def arm() -> None:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)

    return arm
