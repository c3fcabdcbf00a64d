"""pytest plugin (entry point ``tilik_conformance``): registers the ``conformance`` marker and
offers the kit's helpers as fixtures to any project that has Tilik installed."""

from __future__ import annotations

import pytest

from connectors.sdk.conformance.suite import SimulatedDevice, make_conformance_suite


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "conformance: a Tilik connector conformance check (connectors.sdk.conformance)"
    )


@pytest.fixture
def conformance_suite_factory() -> object:
    """``make_conformance_suite``, for projects that prefer fixtures to imports."""
    return make_conformance_suite


@pytest.fixture
def simulated_device_type() -> type[SimulatedDevice]:
    return SimulatedDevice
