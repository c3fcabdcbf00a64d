"""The one retry backoff (``core.backoff``): growth to a cap, jitter, reset, and the stateless form."""

from __future__ import annotations

import random

from core.backoff import Backoff, backoff_delay


def test_delays_grow_to_the_cap_within_the_upper_half_of_each_ceiling() -> None:
    backoff = Backoff(initial_s=1, max_s=8, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(8)]
    ceilings = [1, 2, 4, 8, 8, 8, 8, 8]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))


def test_peers_that_failed_together_do_not_retry_together() -> None:
    rng = random.Random(3)
    first_retries = [Backoff(initial_s=10, max_s=60, rng=rng).next_delay() for _ in range(50)]
    assert len({round(delay, 6) for delay in first_retries}) == 50
    assert max(first_retries) - min(first_retries) > 2


def test_a_success_resets_the_growth() -> None:
    backoff = Backoff(initial_s=1, max_s=300)
    for _ in range(10):
        backoff.next_delay()
    assert backoff.next_delay() > 150
    backoff.reset()
    assert backoff.next_delay() <= 1


def test_the_stateless_form_counts_retries_from_zero_and_never_overflows() -> None:
    rng = random.Random(5)
    assert 0.25 <= backoff_delay(0, initial_s=0.5, max_s=60, rng=rng) <= 0.5
    assert 2 <= backoff_delay(3, initial_s=0.5, max_s=60, rng=rng) <= 4
    assert 30 <= backoff_delay(10_000, initial_s=0.5, max_s=60, rng=rng) <= 60
