"""Per-client rate limiting: a token bucket per client address, refilled continuously."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

# Buckets kept at most; the least recently seen client is forgotten first (a full bucket).
_MAX_CLIENTS = 100_000


class RateLimiter:
    """``rate`` requests per ``per_s`` seconds per client, with bursts up to ``rate``."""

    def __init__(
        self, rate: int, per_s: float = 60.0, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self._refill = rate / per_s
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str) -> float:
        """0 when ``client`` may go on (a token is spent), else the seconds until it may."""
        return self._look(client, spend=True)

    def peek(self, client: str) -> float:
        """What ``take`` would answer, without spending a token."""
        return self._look(client, spend=False)

    def _look(self, client: str, *, spend: bool) -> float:
        now = self._clock()
        tokens, seen = self._buckets.pop(client, (float(self.rate), now))
        tokens = min(float(self.rate), tokens + (now - seen) * self._refill)
        wait = 0.0 if tokens >= 1 else (1 - tokens) / self._refill
        self._buckets[client] = (tokens - 1 if wait == 0 and spend else tokens, now)
        while len(self._buckets) > _MAX_CLIENTS:
            self._buckets.popitem(last=False)
        return wait
