"""How hard delivery tries: attempts, and exponential backoff with jitter between them."""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict, Field


class RetryPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(default=6, ge=1, le=50)
    base_delay_s: float = Field(default=0.5, gt=0)
    max_delay_s: float = Field(default=60.0, gt=0)

    def delay_s(self, attempt: int, rng: random.Random | None = None) -> float:
        """Pause after failed attempt number ``attempt`` (1-based): between half and all of base * 2^(n-1), capped (equal jitter)."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        return (rng or random).uniform(ceiling / 2, ceiling)
