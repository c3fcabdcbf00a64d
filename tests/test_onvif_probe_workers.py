"""Onboarding with the probe in worker processes (``connectors.onvif.probe_workers``): the same
records as in one process, and a device's failure as the same SDK error with its payload."""

from __future__ import annotations

import pytest
from test_onvif_devices import XXE, answering

from connectors.onvif.onboard_run import OnboardRequest, run_onboarding
from connectors.onvif.probe_workers import error_document, error_of
from connectors.onvif.simulator import OnvifFleet
from connectors.sdk.errors import AuthenticationError, DeviceDataError, RetriableError
from connectors.sdk.netpolicy import ProbePolicy

PASSWORD = "Kata-Sandi-Pekerja-9"
REF = "admin@env:TILIK_CAMERA_SECRET_TEST_PROBE_WORKERS"


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TILIK_CAMERA_SECRET_TEST_PROBE_WORKERS", PASSWORD)


def request(addresses: list[str], processes: int) -> OnboardRequest:
    return OnboardRequest(
        policy=ProbePolicy.default(environ={}),
        hosts=addresses,
        credential_ref=REF,
        concurrency=8,
        processes=processes,
        timeout_s=5,
        publish=False,
    )


async def test_two_probe_processes_find_the_records_one_process_finds() -> None:
    async with OnvifFleet(cameras=5, username="admin", password=PASSWORD, seed=41) as fleet:
        alone = await run_onboarding(request(fleet.addresses, 1))
        spread = await run_onboarding(request(fleet.addresses, 2))
    assert len(alone.records) == 5 and not spread.report.failures

    def comparable(records: list) -> dict:  # type: ignore[type-arg]
        return {r.camera_id: r.model_dump(exclude={"discovered_at", "updated_at"}) for r in records}

    assert comparable(spread.records) == comparable(alone.records)
    assert set(spread.report.snapshots) == set(alone.report.snapshots)


async def test_a_hostile_reply_probed_in_a_worker_fails_its_device_with_the_payload() -> None:
    async with (
        answering(XXE) as port,
        OnvifFleet(cameras=1, username="admin", password=PASSWORD, seed=42) as fleet,
    ):
        outcome = await run_onboarding(request([f"127.0.0.1:{port}", *fleet.addresses], 2))
    assert [r.address for r in outcome.records] == fleet.addresses
    (failure,) = outcome.report.failures
    assert failure.error_type == "DeviceDataError" and failure.payload == XXE
    assert failure.input_at_fault


def test_errors_cross_between_processes_as_the_sdk_types_they_are() -> None:
    for error in (
        DeviceDataError("bad", device="10.0.0.1:80", payload=b"\x00<x>"),
        DeviceDataError("bad text", device=None, payload="<x>"),
        AuthenticationError("refused", device="10.0.0.2:80"),
        RetriableError("no answer", device="10.0.0.3:80"),
    ):
        again = error_of(error_document(error))
        assert type(again) is type(error) and str(again) == str(error)
        assert again.device == error.device
        assert getattr(again, "payload", None) == getattr(error, "payload", None)
