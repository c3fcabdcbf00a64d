"""The conformance kit passes against the SDK's well-behaved example connector."""

from __future__ import annotations

from connectors.sdk.conformance import make_conformance_suite
from connectors.sdk.example.connector import ExampleConnector
from connectors.sdk.example.simulator import conformance_device

TestExampleConnector = make_conformance_suite(
    ExampleConnector, simulator=conformance_device, event_timeout_s=5
)
