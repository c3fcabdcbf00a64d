"""Helpers for tests and benchmarks that run a streaming connector against its simulated devices."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from connectors.sdk.base import UnparsedEvent
from connectors.sdk.conformance import SimulatedDevice as ConformanceDevice
from connectors.sdk.secrets import camera_secret_env
from connectors.sdk.simulation.device import DeviceFleet, StreamingDevice
from connectors.sdk.vendor import VendorConfig, VendorConnector
from topics.models import DeviceEvent


@dataclass(frozen=True)
class VendorKit:
    """A connector and the simulator it is tested against."""

    name: str
    connector: type[VendorConnector[Any]]
    config: type[VendorConfig]
    simulator: type[DeviceFleet[Any]]

    def make(
        self, address: str, credential_ref: str | None, **options: Any
    ) -> VendorConnector[Any]:
        return self.connector(
            self.config(address=address, credential_ref=credential_ref, **options)
        )


@dataclass
class NumberedRun:
    """What a connector delivered from a simulated device's numbered events."""

    seen: list[int] = field(default_factory=list)
    unparsed: list[UnparsedEvent] = field(default_factory=list)
    events: list[DeviceEvent] = field(default_factory=list)

    def missing(self, device: StreamingDevice, count: int) -> set[int]:
        """Event numbers below ``count`` neither delivered nor damaged by a fault."""
        return set(range(count)) - set(self.seen) - device.damaged


async def collect_numbered(
    connector: VendorConnector[Any],
    device: StreamingDevice,
    count: int,
    *,
    timeout_s: float,
    stop: Callable[[NumberedRun], bool] | None = None,
) -> NumberedRun:
    """Read ``connector.events()`` until events 0..count-1 have arrived or were damaged."""
    run = NumberedRun()
    stream = connector.events()

    async def consume() -> None:
        async for item in stream:
            if isinstance(item, DeviceEvent):
                run.events.append(item)
                run.seen.append(device.seq_of(item.device_time))
            else:
                run.unparsed.append(item)
            if stop is not None and stop(run):
                return
            if stop is None and not run.missing(device, count):
                return

    try:
        await asyncio.wait_for(consume(), timeout_s)
    except TimeoutError:
        pass
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    return run


@asynccontextmanager
async def connected(
    kit: VendorKit, fleet: DeviceFleet[Any], credential_ref: str, **options: Any
) -> AsyncIterator[list[VendorConnector[Any]]]:
    """One connector per simulated device, closed on exit."""
    connectors = [kit.make(address, credential_ref, **options) for address in fleet.addresses]
    try:
        yield connectors
    finally:
        await asyncio.gather(*(c.close() for c in connectors))


def conformance_simulator(
    kit: VendorKit, *, channels: int = 4
) -> Callable[[], AbstractAsyncContextManager[ConformanceDevice]]:
    """A ``make_conformance_suite`` simulator factory for ``kit``: a recorder streaming events."""
    env = camera_secret_env(f"CONFORMANCE_{kit.name.upper()}")
    password = f"{kit.name}-Conformance-Pw-9"

    @asynccontextmanager
    async def simulate() -> AsyncIterator[ConformanceDevice]:
        async with kit.simulator(channels=channels, password=password, event_rate=20) as sim:
            device = sim.devices[0]

            async def corrupt(mode: str) -> None:
                device.set_corruption(mode)

            options = {"reconnect_initial_s": 0.1, "timeout_s": 5.0}
            yield ConformanceDevice(
                config=kit.config(
                    address=sim.addresses[0], credential_ref=f"admin@env:{env}", **options
                ),
                bad_credentials_config=kit.config(
                    address=sim.addresses[0], credential_ref=f"admin@env:{env}_WRONG", **options
                ),
                secrets={env: password, f"{env}_WRONG": "wrong-" + password[::-1]},
                expected_cameras=channels,
                corrupt=corrupt,
            )

    return simulate
