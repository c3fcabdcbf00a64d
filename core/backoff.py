"""Retry delays: exponential growth to a cap, with jitter, so thousands of devices (or deliveries)
that failed together do not retry together.

The delay before retry ``n`` (0-based) is drawn uniformly from the upper half of
``min(max_s, initial_s * factor**n)`` ("equal jitter"): a dead peer is retried ever more slowly,
never faster than half the ceiling, and peers that failed at the same moment spread out.
``Backoff`` keeps the count for one peer (reset after a success); ``backoff_delay`` is the same
delay for a caller that counts its attempts itself.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


def backoff_delay(
    retry: int,
    *,
    initial_s: float,
    max_s: float,
    factor: float = 2.0,
    rng: random.Random | None = None,
) -> float:
    """The delay before retry number ``retry`` (0 for the first retry)."""
    # Past 64 doublings every ceiling is max_s; the power is bounded so it cannot overflow.
    ceiling = min(max_s, initial_s * factor ** min(retry, 64))
    return (rng or random).uniform(ceiling / 2, ceiling)


@dataclass
class Backoff:
    """The delay before one peer's next attempt; ``reset()`` after a success."""

    initial_s: float = 1.0
    max_s: float = 300.0
    factor: float = 2.0
    retries: int = 0
    #: None: the process's shared generator (a ``random.Random`` is 2.5 KB of state, too much
    #: to keep per watched camera); a test passes a seeded one
    rng: random.Random | None = None

    def next_delay(self) -> float:
        delay = backoff_delay(
            self.retries,
            initial_s=self.initial_s,
            max_s=self.max_s,
            factor=self.factor,
            rng=self.rng,
        )
        self.retries += 1
        return delay

    def reset(self) -> None:
        self.retries = 0
