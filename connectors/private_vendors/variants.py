"""Vendor variants for the Hikvision and Dahua simulators: recorded event payloads, replayed in turn.

``HikvisionSimulator(variants=DIR)`` and ``DahuaSimulator(variants=DIR)`` make every device stream
the payload files of ``DIR`` (in name order; ``tests/fixtures/hikvision`` and
``tests/fixtures/dahua`` are the project's corpus, a recorded device's capture works the same)
instead of their own templates, as recorded but for the device time, which is set to the event's
number as for every simulated event, so a test still counts losses exactly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Protocol


class Replaying(Protocol):
    """A simulated device that can replay variants."""

    variants: tuple[bytes, ...]


def load_payloads(directory: Path, pattern: str) -> tuple[bytes, ...]:
    """The files of ``directory`` matching ``pattern``, in name order (at least one)."""
    payloads = tuple(
        path.read_bytes() for path in sorted(directory.glob(pattern)) if path.is_file()
    )
    if not payloads:
        raise ValueError(f"no {pattern} payloads in {directory}")
    return payloads


def replay(devices: Iterable[Replaying], directory: Path | None, pattern: str) -> None:
    """Make every device replay the payloads of ``directory`` (None: their own templates)."""
    if directory is None:
        return
    payloads = load_payloads(directory, pattern)
    for device in devices:
        device.variants = payloads


def retimed(
    payload: bytes, field: re.Pattern[bytes], stamp: Callable[[datetime], bytes], at: datetime
) -> bytes:
    """``payload`` with its first time ``field`` (a pattern whose group 1 is the time) set to ``at``."""
    match = field.search(payload)
    if match is None:
        return payload
    start, end = match.span(1)
    return payload[:start] + stamp(at) + payload[end:]
