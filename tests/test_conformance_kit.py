"""The conformance kit fails a broken connector, and each failure tells its author what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

FIXTURES = Path(__file__).parent / "fixtures"

# check that must fail -> the advice its message must carry
EXPECTED_FAILURES = {
    "test_config_schema_is_declared_and_strict": "keep `extra='forbid'`",
    "test_config_rejects_unknown_field": "a typo must be an error",
    "test_check_with_bad_credentials_raises_authentication_error": "did not raise",
    "test_discover_ids_are_stable": "never from time, order or address",
    "test_health_reports_every_camera": "one CameraStatus per discovered camera",
    "test_events_are_normalised": "no DeviceEvent within 2s",
    "test_no_secret_in_logs_errors_or_payloads": "never log or publish Credentials.password",
    "test_close_stops_events_and_leaves_no_tasks": "make events() end",
}


def test_broken_connector_fails_each_check_with_its_fix(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_broken=f"""
import sys
sys.path.insert(0, {str(FIXTURES)!r})
from broken_connector.broken import BrokenConnector, broken_device
from connectors.sdk.conformance import make_conformance_suite

TestBroken = make_conformance_suite(
    BrokenConnector, simulator=broken_device, event_timeout_s=2, close_timeout_s=1
)
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", "-rfEs", timeout=240)
    output = result.stdout.str()

    failed = {
        line.split("::")[-1].split(" ")[0]
        for line in output.splitlines()
        if line.startswith("FAILED test_broken.py::TestBroken::")
    }
    assert failed == set(EXPECTED_FAILURES), output[-4000:]
    for check, advice in EXPECTED_FAILURES.items():
        assert advice in output, f"{check}: the failure does not say {advice!r}"
    assert output.count("How to fix:") >= len(EXPECTED_FAILURES)
    # what the broken connector does right still passes; hooks it lacks are skipped, not failed
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 2
    assert "no `corrupt` hook" in output
