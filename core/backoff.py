"""Per-device retry delays: exponential with full jitter, so thousands of devices that failed
together (a switch rebooting) do not retry together."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delay before the next attempt; ``reset()`` after a success."""

    initial_s: float = 1.0
    max_s: float = 300.0
    factor: float = 2.0
    attempts: int = 0
    _random: random.Random = field(default_factory=random.Random, repr=False)

    def next_delay(self) -> float:
        """A delay drawn uniformly from [initial/2, min(max, initial * factor**attempts)]."""
        ceiling = min(self.max_s, self.initial_s * self.factor**self.attempts)
        self.attempts += 1
        return self._random.uniform(min(self.initial_s / 2, ceiling), ceiling)

    def reset(self) -> None:
        self.attempts = 0
