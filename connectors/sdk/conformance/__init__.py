"""The connector conformance kit: one suite of checks every connector must pass.

``make_conformance_suite(MyConnector, simulator=my_simulator)`` returns a pytest test class;
``my_simulator`` is an async context manager factory yielding a ``SimulatedDevice``. See
``connectors.sdk.conformance.suite`` for the checks, ``not_applicable=`` to declare one that cannot
apply (with the reason; the run reports it), and ``docs/connectors.md`` for a walk-through.
"""

from connectors.sdk.conformance.suite import (
    ALWAYS_APPLICABLE,
    ConformanceFailure,
    ConformanceSuite,
    CorruptionMode,
    SimulatedDevice,
    SimulatorFactory,
    checks,
    collect_events,
    find_secret,
    make_conformance_suite,
)

__all__ = [
    "ALWAYS_APPLICABLE",
    "ConformanceFailure",
    "ConformanceSuite",
    "CorruptionMode",
    "SimulatedDevice",
    "SimulatorFactory",
    "checks",
    "collect_events",
    "find_secret",
    "make_conformance_suite",
]
