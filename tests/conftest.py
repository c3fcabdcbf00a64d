"""Session fixtures shared by every test: one real Kafka broker per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """bootstrap address of the session's broker (``TILIK_TEST_BOOTSTRAP`` reuses a running one)."""
    external = os.environ.get("TILIK_TEST_BOOTSTRAP")
    if not external:
        pytest.skip("local broker fixture not implemented yet")
    yield external
