"""The connector conformance kit: one suite of checks every connector must pass.

``make_conformance_suite(MyConnector, simulator=my_simulator)`` returns a pytest test class;
``my_simulator`` is an async context manager factory yielding a ``SimulatedDevice``. See
``connectors.sdk.conformance.suite`` for the checks and ``docs/connectors.md`` for a walk-through.
"""

from connectors.sdk.conformance.suite import (
    ConformanceFailure,
    ConformanceSuite,
    CorruptionMode,
    SimulatedDevice,
    SimulatorFactory,
    collect_events,
    find_secret,
    make_conformance_suite,
)

__all__ = [
    "ConformanceFailure",
    "ConformanceSuite",
    "CorruptionMode",
    "SimulatedDevice",
    "SimulatorFactory",
    "collect_events",
    "find_secret",
    "make_conformance_suite",
]
