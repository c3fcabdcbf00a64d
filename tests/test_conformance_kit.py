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
    "test_camera_ids_do_not_depend_on_the_address": "never from the address or port",
    "test_health_reports_every_camera": "one CameraStatus per discovered camera",
    "test_events_are_normalised": "no DeviceEvent within 2s",
    "test_event_ids_are_stable_across_subscriptions": "saw no common event",
    "test_malformed_input_is_bounded": "not_applicable={'malformed_input_is_bounded'",
    "test_oversized_input_is_bounded": "not_applicable={'oversized_input_is_bounded'",
    "test_no_secret_in_logs_errors_or_payloads": "never log or publish Credentials.password",
    "test_close_stops_events_and_leaves_no_tasks": "make events() end",
}


def run_suite(pytester: pytest.Pytester, module: str, suite: str) -> pytest.RunResult:
    pytester.makepyfile(
        test_kit=f"""
import sys
sys.path.insert(0, {str(FIXTURES)!r})
from connectors.sdk.conformance import make_conformance_suite
{module}
TestKit = {suite}
"""
    )
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", "-rfEs", timeout=240)


def failed_checks(output: str) -> set[str]:
    return {
        line.split("::")[-1].split(" ")[0]
        for line in output.splitlines()
        if line.startswith("FAILED test_kit.py::TestKit::")
    }


def test_broken_connector_fails_each_check_with_its_fix(pytester: pytest.Pytester) -> None:
    result = run_suite(
        pytester,
        "from broken_connector.broken import BrokenConnector, broken_device",
        "make_conformance_suite(\n"
        "    BrokenConnector, simulator=broken_device, event_timeout_s=2, close_timeout_s=1\n)",
    )
    output = result.stdout.str()
    assert failed_checks(output) == set(EXPECTED_FAILURES), output[-4000:]
    for check, advice in EXPECTED_FAILURES.items():
        assert advice in output, f"{check}: the failure does not say {advice!r}"
    assert output.count("How to fix:") >= len(EXPECTED_FAILURES)
    # What the broken connector does right still passes; nothing is skipped behind its back.
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 2
    assert outcomes.get("skipped", 0) == 0


def test_ids_derived_from_the_address_fail_the_kit(pytester: pytest.Pytester) -> None:
    result = run_suite(
        pytester,
        "from broken_connector.address_ids import AddressIdConnector, address_device",
        "make_conformance_suite(AddressIdConnector, simulator=address_device, event_timeout_s=5)",
    )
    output = result.stdout.str()
    assert failed_checks(output) == {"test_camera_ids_do_not_depend_on_the_address"}, output[-4000:]
    assert "gave different camera ids" in output
    assert "never from the address or port it was reached at" in output


def test_a_declared_opt_out_is_reported_with_its_reason(pytester: pytest.Pytester) -> None:
    reason = "the recorder allows one event subscription at a time"
    result = run_suite(
        pytester,
        "from connectors.sdk.example.connector import ExampleConnector\n"
        "from connectors.sdk.example.simulator import conformance_device",
        "make_conformance_suite(\n"
        "    ExampleConnector, simulator=conformance_device, event_timeout_s=5,\n"
        f"    not_applicable={{'event_ids_are_stable_across_subscriptions': {reason!r}}},\n"
        ")",
    )
    output = result.stdout.str()
    outcomes = result.parseoutcomes()
    assert outcomes.get("skipped") == 1 and "failed" not in outcomes, output[-4000:]
    summary = output.split("Tilik conformance: checks declared not applicable", 1)[1]
    assert f"test_event_ids_are_stable_across_subscriptions: {reason}" in summary


@pytest.mark.parametrize(
    ("declared", "refusal"),
    [
        ({"no_such_check": "why"}, "no conformance check"),
        ({"no_secret_in_logs_errors_or_payloads": "trust me"}, "cannot be declared away"),
        ({"malformed_input_is_bounded": "  "}, "needs the reason"),
    ],
)
def test_an_opt_out_needs_a_real_check_that_may_not_apply_and_a_reason(
    declared: dict[str, str], refusal: str
) -> None:
    from connectors.sdk.conformance import make_conformance_suite
    from connectors.sdk.example.connector import ExampleConnector
    from connectors.sdk.example.simulator import conformance_device

    with pytest.raises(ValueError, match=refusal):
        make_conformance_suite(
            ExampleConnector, simulator=conformance_device, not_applicable=declared
        )
