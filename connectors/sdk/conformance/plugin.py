"""pytest plugin (entry point ``tilik_conformance``, active wherever Tilik is installed): the
``conformance`` marker, a summary of the checks a connector declared not applicable, and
fixtures for an integrator's own secret-leak tests."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator

import pytest
from structlog.testing import capture_logs

from connectors.sdk.conformance.suite import NOT_APPLICABLE, find_secret


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "conformance: a Tilik connector conformance check (connectors.sdk.conformance)"
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """List every check a connector declared not applicable, with its reason, after the run."""
    declared = []
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = getattr(report, "longrepr", None)
        if isinstance(longrepr, tuple) and NOT_APPLICABLE in str(longrepr[2]):
            reason = str(longrepr[2]).split(NOT_APPLICABLE, 1)[1].strip()
            declared.append(f"{report.nodeid}: {reason}")
    if declared:
        terminalreporter.section("Tilik conformance: checks declared not applicable")
        for line in declared:
            terminalreporter.line(line)


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
