"""Health of ONVIF cameras: one authenticated GetDeviceInformation each, classified into a CameraStatus.

The check is one small raw SOAP request over the shared transport (nothing kept per camera but
its clock offset), so a process can check about a thousand cameras a second; ``check_fleet``
bounds how many are in flight. The authenticated call proves more than reachability: wrong
credentials show up as ``unauthorized``.
A rejected token is retried once after re-reading the device clock, because a drifted camera
clock looks exactly like a wrong password.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from connectors.onvif.device import TDS, OnvifDevice
from connectors.onvif.soap import SoapTransport
from connectors.sdk.errors import (
    AuthenticationError,
    ConfigurationError,
    DeviceDataError,
    RetriableError,
)
from connectors.sdk.secrets import Credentials
from topics.models import CameraState, CameraStatus, utcnow

CONNECTOR_NAME = "onvif"
DEFAULT_DEGRADED_MS = 2000.0


@dataclass
class HealthTarget:
    """One camera to check; ``clock_offset`` is remembered between cycles."""

    camera_id: str
    address: str
    credentials: Credentials | None
    clock_offset: timedelta | None = None


def _status(
    target: HealthTarget, state: CameraState, latency_ms: float | None, reason: str | None
) -> CameraStatus:
    return CameraStatus(
        camera_id=target.camera_id,
        state=state,
        checked_at=utcnow(),
        latency_ms=round(latency_ms, 2) if latency_ms is not None else None,
        reason=reason[:4096] if reason else None,
        connector=CONNECTOR_NAME,
    )


async def check_camera(
    transport: SoapTransport,
    target: HealthTarget,
    *,
    degraded_ms: float = DEFAULT_DEGRADED_MS,
    timeout_s: float | None = None,
) -> CameraStatus:
    """One camera's status; never raises for anything the device does."""
    device = OnvifDevice(
        transport,
        target.address,
        target.credentials,
        clock_offset=target.clock_offset,
        timeout_s=timeout_s,
    )
    started = time.perf_counter()
    body = f'<GetDeviceInformation xmlns="{TDS}"/>'
    try:
        try:
            await device.call(None, body)
        except AuthenticationError:
            if target.credentials is None:
                raise
            target.clock_offset = await device.sync_clock()
            started = time.perf_counter()
            await device.call(None, body)
    except AuthenticationError as exc:
        return _status(target, CameraState.UNAUTHORIZED, None, str(exc))
    except RetriableError as exc:
        return _status(target, CameraState.OFFLINE, None, str(exc))
    except (DeviceDataError, ConfigurationError) as exc:
        # It answered, but not with anything usable: up, yet not healthy.
        latency = (time.perf_counter() - started) * 1000
        return _status(target, CameraState.DEGRADED, latency, str(exc))
    latency = (time.perf_counter() - started) * 1000
    if latency > degraded_ms:
        return _status(
            target, CameraState.DEGRADED, latency, f"slow: {latency:.0f} ms > {degraded_ms:.0f} ms"
        )
    return _status(target, CameraState.ONLINE, latency, None)


async def check_fleet(
    transport: SoapTransport,
    targets: Sequence[HealthTarget],
    *,
    concurrency: int = 512,
    degraded_ms: float = DEFAULT_DEGRADED_MS,
    timeout_s: float | None = None,
) -> list[CameraStatus]:
    """Every target's status, at most ``concurrency`` checks in flight."""
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(target: HealthTarget) -> CameraStatus:
        async with gate:
            return await check_camera(
                transport, target, degraded_ms=degraded_ms, timeout_s=timeout_s
            )

    return list(await asyncio.gather(*(one(t) for t in targets)))
