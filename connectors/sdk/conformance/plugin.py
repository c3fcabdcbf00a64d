"""pytest plugin (entry point ``tilik_conformance``, active wherever Tilik is installed): the
``conformance`` marker and fixtures for an integrator's own secret-leak tests."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator

import pytest
from structlog.testing import capture_logs

from connectors.sdk.conformance.suite import find_secret


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "conformance: a Tilik connector conformance check (connectors.sdk.conformance)"
    )


@pytest.fixture
def log_texts(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], list[str]]]:
    """Everything logged during the test (structlog events and stdlib records), as text."""
    caplog.set_level(logging.DEBUG)
    with capture_logs() as structured:

        def texts() -> list[str]:
            return [json.dumps(e, default=str) for e in structured] + [
                r.getMessage() for r in caplog.records
            ]

        yield texts


@pytest.fixture
def assert_no_secret() -> Callable[[Iterable[str], Iterable[str]], None]:
    """``assert_no_secret(texts, secrets)``: fail naming the first text that holds a secret."""

    def check(texts: Iterable[str], secrets: Iterable[str]) -> None:
        leak = find_secret(texts, list(secrets))
        assert leak is None, f"a secret appeared in: {leak[:200]!r}"

    return check
