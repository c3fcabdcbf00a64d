"""Multicast WS-Discovery through the WSDiscovery package, held to the loopback interface."""

from __future__ import annotations

import pytest

from connectors.onvif import discovery
from connectors.onvif.discovery import ws_discover
from connectors.onvif.simulator import OnvifFleet
from connectors.sdk.errors import ConfigurationError
from connectors.sdk.netpolicy import ProbePolicy


async def test_multicast_on_loopback_finds_the_fleet_and_nothing_leaves_loopback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    joined: list[object] = []
    original = discovery.ThreadedWSDiscovery.addSourceAddr

    def recording(self: object, addr: object) -> None:
        joined.append(addr)
        original(self, addr)

    monkeypatch.setattr(discovery.ThreadedWSDiscovery, "addSourceAddr", recording)
    # The package's multicast port is the standard one; other responders on this host may
    # answer too, so only this fleet's endpoints are looked for.
    async with OnvifFleet(3, discovery_port=3702, discovery_multicast=True, seed=41) as fleet:
        found = await ws_discover(
            policy=ProbePolicy.default(environ={}), interface="127.0.0.1", timeout_s=1.5
        )
    ours = {d.endpoint_reference: d for d in found}
    for camera in fleet.cameras:
        assert ours[camera.endpoint_reference].address == camera.address
    assert [str(a) for a in joined] == ["127.0.0.1"]


async def test_multicast_without_an_interface_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="interface"):
        await ws_discover(policy=ProbePolicy.default(environ={}), timeout_s=0.1)
