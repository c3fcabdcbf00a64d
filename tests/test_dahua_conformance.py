"""The SDK conformance kit against the Dahua connector and a simulated NVR."""

from __future__ import annotations

from connectors.private_vendors.dahua.connector import DahuaConnector
from connectors.private_vendors.kits import VENDORS
from connectors.sdk.conformance import make_conformance_suite
from connectors.sdk.simulation.testing import conformance_simulator

TestDahuaConnector = make_conformance_suite(
    DahuaConnector, simulator=conformance_simulator(VENDORS["dahua"]), event_timeout_s=10
)
