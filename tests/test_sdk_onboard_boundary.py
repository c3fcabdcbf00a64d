"""The per-device onboarding boundary and the registry fitting policy, without a network.

``isolated`` is where anything one device's work raises becomes that device's ``ConnectorError``;
``registry_record`` decides what happens to device values that do not fit the registry model.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr

from connectors.sdk.errors import (
    AuthenticationError,
    DeviceDataError,
    FatalConnectorError,
    RetriableError,
)
from connectors.sdk.onboard import DeviceFailure, isolated
from connectors.sdk.records import registry_record
from connectors.sdk.secrets import Credentials
from topics.models import DeadLetterKind, Owner, OwnerKind

PASSWORD = "Kunci-Rahasia-42"


async def _raise(exc: BaseException) -> None:
    raise exc


async def test_the_deadline_ends_work_that_never_finishes() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(RetriableError, match=r"0\.2s deadline") as info:
        await isolated(lambda: asyncio.sleep(3600), device="10.0.0.9:80", deadline_s=0.2)
    assert loop.time() - started < 2
    assert info.value.device == "10.0.0.9:80"


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (ValueError("invalid literal for int() with base 10: '¹'"), DeviceDataError),
        (OverflowError("Python int too large to convert to C long"), DeviceDataError),
        (KeyError("serialNumber"), FatalConnectorError),
        (AuthenticationError("refused"), AuthenticationError),
    ],
)
async def test_whatever_one_device_raises_leaves_as_a_connector_error(
    raised: Exception, expected: type[Exception]
) -> None:
    with pytest.raises(expected) as info:
        await isolated(lambda: _raise(raised), device="10.0.0.9:80", deadline_s=5)
    if expected is not AuthenticationError:
        # The reason names the kind and the place, never the value the device sent.
        assert type(raised).__name__ in str(info.value) and "_raise" in str(info.value)
        assert "¹" not in str(info.value) and "serialNumber" not in str(info.value)


async def test_cancellation_is_not_swallowed() -> None:
    task = asyncio.create_task(
        isolated(lambda: asyncio.sleep(3600), device="10.0.0.9:80", deadline_s=60)
    )
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_a_failure_reason_never_carries_the_devices_password() -> None:
    credentials = Credentials(username="admin", password=SecretStr(PASSWORD))
    echoed = DeviceDataError(f"SOAP fault: password {PASSWORD} expired", device="10.0.0.9:80")
    failure = DeviceFailure.of("10.0.0.9:80", echoed, credentials=credentials)
    assert PASSWORD not in failure.reason and "expired" in failure.reason
    assert failure.input_at_fault
    letter = failure.dead_letter("connector.test")
    assert letter.kind is DeadLetterKind.DEVICE_INPUT
    assert letter.source_device == "10.0.0.9:80"
    assert PASSWORD not in letter.model_dump_json()
    unreachable = DeviceFailure.of("10.0.0.9:80", RetriableError("refused"))
    assert not unreachable.input_at_fault


def _fields(**overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    fields: dict[str, Any] = {
        "camera_id": "cam-" + "0" * 20,
        "name": "Pos RT 3",
        "connector": "hikvision",
        "device_id": "dev-" + "0" * 20,
        "address": "10.0.0.9:80",
        "owner": Owner(kind=OwnerKind.MUNICIPAL, id="city"),
        "serial": "DS-2CD2143G2-I20230101",
        "streams": [{"token": "101", "name": "main", "width": 1920, "height": 1080}],
        "discovered_at": now,
        "updated_at": now,
    }
    fields.update(overrides)
    return fields


def test_descriptive_values_too_long_for_the_registry_are_clipped() -> None:
    record = registry_record(
        _fields(
            name="N" * 300,
            model="M" * 1000,
            firmware="F" * 257,
            streams=[{"token": "101", "name": "S" * 300, "codec": "H264" * 100}],
        ),
        device="10.0.0.9:80",
    )
    assert (len(record.name), len(record.model or ""), len(record.firmware or "")) == (256,) * 3
    assert record.streams[0].name == "S" * 256 and len(record.streams[0].codec or "") == 256
    assert record.serial == "DS-2CD2143G2-I20230101"


def test_stream_numbers_out_of_range_are_left_unknown() -> None:
    record = registry_record(
        _fields(streams=[{"token": "101", "width": 0, "height": 99_999, "fps": -1}]),
        device="10.0.0.9:80",
    )
    stream = record.streams[0]
    assert (stream.width, stream.height, stream.fps) == (None, None, None)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"serial": "S" * 300}, "serial"),
        ({"mac": "not-a-mac"}, "mac"),
        ({"streams": [{"token": "T" * 300}]}, "streams.0.token"),
        ({"streams": [{"token": "1", "rtsp_uri": "rtsp://admin:pw@10.0.0.9/"}]}, "rtsp_uri"),
    ],
)
def test_identity_and_locators_that_do_not_fit_refuse_the_device(
    overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(DeviceDataError, match="do not fit the registry") as info:
        registry_record(_fields(**overrides), device="10.0.0.9:80")
    reason = str(info.value)
    assert field in reason
    assert "SSSS" not in reason and "not-a-mac" not in reason and "admin:pw" not in reason
    assert info.value.device == "10.0.0.9:80"
