"""The SDK conformance kit against the Hikvision connector and a simulated NVR."""

from __future__ import annotations

from connectors.private_vendors.hikvision.connector import HikvisionConnector
from connectors.private_vendors.kits import VENDORS
from connectors.sdk.conformance import make_conformance_suite
from connectors.sdk.simulation.testing import conformance_simulator

TestHikvisionConnector = make_conformance_suite(
    HikvisionConnector, simulator=conformance_simulator(VENDORS["hikvision"]), event_timeout_s=10
)
