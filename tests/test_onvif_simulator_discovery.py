"""WS-Discovery over real UDP on loopback: Probe from the WSDiscovery library, ProbeMatches per camera."""

from __future__ import annotations

import asyncio
import socket

import pytest
from wsdiscovery.actions.probe import constructProbe, createProbeMessage
from wsdiscovery.message import parseSOAPMessage
from wsdiscovery.qname import QName
from wsdiscovery.scope import Scope

from connectors.onvif.simulator import OnvifFleet
from connectors.onvif.simulator.discovery import DiscoveryResponder

NVT = QName("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter", "dn")
PRINTER = QName("http://schemas.example.org/print", "Printer", "prn")


def probe(types, scopes=()) -> tuple[bytes, str]:
    envelope = constructProbe(types, list(scopes))
    return createProbeMessage(envelope).encode(), envelope.getMessageId()


async def exchange(address: tuple[str, int], payload: bytes, settle: float = 0.5) -> list[bytes]:
    """Send one datagram from a fresh loopback socket; collect replies until quiet."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    replies: list[bytes] = []
    try:
        await loop.sock_sendto(sock, payload, address)
        while True:
            try:
                replies.append(await asyncio.wait_for(loop.sock_recv(sock, 65536), settle))
            except TimeoutError:
                return replies
    finally:
        sock.close()


@pytest.fixture
async def fleet():
    async with OnvifFleet(4, password="pw", discovery_port=0, seed=2) as running:
        yield running


async def test_probe_for_video_transmitters_gets_one_match_per_camera(fleet):
    payload, message_id = probe([NVT])
    replies = await exchange(fleet.discovery.address, payload)
    matches = [parseSOAPMessage(reply, "127.0.0.1") for reply in replies]
    assert len(matches) == len(fleet.cameras)
    by_endpoint = {}
    for envelope in matches:
        assert envelope.getRelatesTo() == message_id
        [match] = envelope.getProbeResolveMatches()
        by_endpoint[match.getEPR()] = match
    for camera in fleet.cameras:
        match = by_endpoint[camera.endpoint_reference]
        assert match.getXAddrs() == [camera.device_url]
        scopes = [scope.getValue() for scope in match.getScopes()]
        assert "onvif://www.onvif.org/location/city/Semarang" in scopes
        names = {(t.getNamespace(), t.getLocalname()) for t in match.getTypes()}
        assert (NVT.getNamespace(), "NetworkVideoTransmitter") in names


async def test_probe_scope_narrows_the_matches(fleet):
    camera = fleet.cameras[1]
    scope = f"onvif://www.onvif.org/location/kecamatan/{camera.identity.kecamatan}"
    payload, _ = probe([NVT], [Scope(scope)])
    replies = await exchange(fleet.discovery.address, payload)
    expected = [c for c in fleet.cameras if c.identity.kecamatan == camera.identity.kecamatan]
    assert len(replies) == len(expected)
    assert camera.endpoint_reference.encode() in b"".join(replies)


async def test_probe_for_another_device_type_is_not_answered(fleet):
    payload, _ = probe([PRINTER])
    assert await exchange(fleet.discovery.address, payload, settle=0.3) == []


async def test_garbage_is_ignored_and_the_responder_keeps_answering(fleet):
    assert await exchange(fleet.discovery.address, b"\x00not xml", settle=0.2) == []
    responder = fleet.discovery
    assert responder.probes_rejected == 1
    payload, _ = probe([NVT])
    assert len(await exchange(responder.address, payload)) == len(fleet.cameras)


async def test_moved_camera_is_discovered_at_its_new_address_with_the_same_identity(fleet):
    camera = fleet.cameras[0]
    await camera.move_to(0)
    payload, _ = probe([NVT])
    replies = b"".join(await exchange(fleet.discovery.address, payload))
    assert camera.device_url.encode() in replies
    assert replies.count(camera.endpoint_reference.encode()) == 1


def test_responder_refuses_a_non_loopback_address():
    with pytest.raises(ValueError, match="loopback"):
        DiscoveryResponder([], host="0.0.0.0")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return probe_socket.getsockname()[1]


async def test_multicast_probe_over_loopback_is_answered():
    port = free_udp_port()
    async with OnvifFleet(2, discovery_port=port, discovery_multicast=True) as fleet:
        assert fleet.discovery.address == ("239.255.255.250", port)
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # Keep the probe on loopback: loopback interface, TTL 0.
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 0)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        try:
            payload, _ = probe([NVT])
            await loop.sock_sendto(sock, payload, ("239.255.255.250", port))
            replies = [await asyncio.wait_for(loop.sock_recv(sock, 65536), 2) for _ in range(2)]
        finally:
            sock.close()
    endpoints = {
        parseSOAPMessage(r, "127.0.0.1").getProbeResolveMatches()[0].getEPR() for r in replies
    }
    assert endpoints == {camera.endpoint_reference for camera in fleet.cameras}
