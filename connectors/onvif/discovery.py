"""WS-Discovery: find ONVIF NetworkVideoTransmitters by multicast on an interface, or by unicast Probe.

A Probe is one UDP datagram; every device that matches answers with a ProbeMatch naming its
endpoint reference (a stable identity, used for the camera id when a device has no serial or
MAC), its scopes and its service addresses (XAddrs). XAddrs outside the probe policy are dropped.

Multicast uses the ``WSDiscovery`` package (``ThreadedWSDiscovery``, run in a worker thread for
a bounded time), held to the one interface named: left alone it sends on every interface the
host has. Unicast to one host:port stays on asyncio's datagram API: the package sends a
unicast Probe from a socket it never reads, so the answers would be lost. Unicast answers go
through the hardened XML parser and a size cap; the package parses multicast answers itself
(``xml.dom.minidom`` on expat, which loads no external entities and caps entity amplification).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import structlog
from wsdiscovery.discovery import ThreadedWSDiscovery
from wsdiscovery.qname import QName
from wsdiscovery.service import Service

from connectors.sdk.errors import ConfigurationError, DeviceDataError
from connectors.sdk.netpolicy import ProbePolicy, join_host_port
from connectors.sdk.xmlsafe import first, iter_named, parse_device_xml, text

log = structlog.get_logger("connectors.onvif.discovery")

MAX_DATAGRAM_BYTES = 64 * 1024
_WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
_WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
_SOAP = "http://www.w3.org/2003/05/soap-envelope"
_NVT = "http://www.onvif.org/ver10/network/wsdl"


@dataclass(frozen=True)
class DiscoveredDevice:
    """One ProbeMatch: the device's endpoint reference, scopes and reachable service address."""

    endpoint_reference: str
    address: str  # host:port of the device service, from the first allowed XAddr
    xaddrs: tuple[str, ...]
    scopes: tuple[str, ...] = ()
    types: tuple[str, ...] = ()


def probe_message(message_id: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>'
        f'<s:Envelope xmlns:s="{_SOAP}" xmlns:a="{_WSA}" xmlns:d="{_WSD}" xmlns:dn="{_NVT}">'
        "<s:Header>"
        f"<a:Action>{_WSD}/Probe</a:Action>"
        f"<a:MessageID>{message_id}</a:MessageID>"
        f"<a:ReplyTo><a:Address>{_WSA}/role/anonymous</a:Address></a:ReplyTo>"
        "<a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>"
        "</s:Header>"
        "<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body>"
        "</s:Envelope>"
    ).encode()


def parse_probe_matches(
    payload: bytes, *, policy: ProbePolicy, sender: str, message_id: str | None = None
) -> list[DiscoveredDevice]:
    """The matches of one datagram; a reply to someone else's Probe or a hostile one is dropped."""
    root = parse_device_xml(payload, device=sender, max_bytes=MAX_DATAGRAM_BYTES)
    relates_to = text(root, "Header", "RelatesTo")
    if message_id is not None and relates_to is not None and relates_to != message_id:
        return []
    devices = []
    for match in iter_named(root, "ProbeMatch"):
        device = _discovered(
            text(first(match, "EndpointReference"), "Address"),
            (text(match, "XAddrs") or "").split(),
            (text(match, "Scopes") or "").split(),
            (text(match, "Types") or "").split(),
            policy=policy,
            sender=sender,
        )
        if device is not None:
            devices.append(device)
    return devices


def _discovered(
    epr: str | None,
    xaddrs: list[str],
    scopes: list[str],
    types: list[str],
    *,
    policy: ProbePolicy,
    sender: str,
) -> DiscoveredDevice | None:
    """One match as a device at its first allowed XAddr; None when it names nothing usable."""
    if not epr or not xaddrs:
        return None
    address = next((a for x in xaddrs if (a := _allowed_address(x, policy))), None)
    if address is None:
        log.warning("onvif.discovery.xaddr_refused", sender=sender, xaddrs=xaddrs[:4])
        return None
    return DiscoveredDevice(
        endpoint_reference=epr,
        address=address,
        xaddrs=tuple(xaddrs),
        scopes=tuple(scopes),
        types=tuple(types),
    )


def _allowed_address(xaddr: str, policy: ProbePolicy) -> str | None:
    parts = urlsplit(xaddr)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    try:
        ip = ipaddress.ip_address(parts.hostname)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    return join_host_port(str(ip), port) if policy.permits(ip) else None


class _Collector(asyncio.DatagramProtocol):
    def __init__(self, policy: ProbePolicy, message_id: str) -> None:
        self.policy = policy
        self.message_id = message_id
        self.found: dict[str, DiscoveredDevice] = {}
        self.rejected = 0

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        sender = f"{addr[0]}:{addr[1]}"
        try:
            matches = parse_probe_matches(
                data, policy=self.policy, sender=sender, message_id=self.message_id
            )
        except DeviceDataError as exc:
            self.rejected += 1
            log.warning("onvif.discovery.bad_reply", sender=sender, reason=str(exc))
            return
        for device in matches:
            # Rediscovery by endpoint reference: the latest address wins, never a duplicate.
            self.found[device.endpoint_reference] = device


class _OneInterfaceDiscovery(ThreadedWSDiscovery):
    """``ThreadedWSDiscovery`` that sends and listens on one interface, never on the others.

    The package adds every non-loopback address its monitor thread sees as a multicast source;
    this keeps only the interface asked for (loopback included, which the monitor never
    reports, so tests stay on loopback).
    """

    def __init__(self, interface: ipaddress.IPv4Address) -> None:
        self._interface = interface
        self._joined = False
        super().__init__()

    def _networkAddressAdded(self, addr: object) -> None:
        if addr == self._interface and not self._joined:
            self._joined = True
            super()._networkAddressAdded(addr)

    def _networkAddressRemoved(self, addr: object) -> None:
        if addr == self._interface and self._joined:
            self._joined = False
            super()._networkAddressRemoved(addr)


def _multicast_search(interface: ipaddress.IPv4Address, timeout_s: float) -> list[Service]:
    """Blocking: one multicast Probe for NetworkVideoTransmitters on ``interface``."""
    discovery = _OneInterfaceDiscovery(interface)
    discovery.start()
    try:
        discovery._networkAddressAdded(interface)
        services: list[Service] = discovery.searchServices(
            types=[QName(_NVT, "NetworkVideoTransmitter", "dn")], timeout=timeout_s
        )
        return services
    finally:
        discovery.stop()


async def _ws_discover_multicast(
    policy: ProbePolicy, interface: str | None, timeout_s: float
) -> list[DiscoveredDevice]:
    if not interface:
        raise ConfigurationError(
            "multicast WS-Discovery needs the interface to send on (its IPv4 address)"
        )
    try:
        address = ipaddress.IPv4Address(interface)
    except ValueError:
        raise ConfigurationError(f"not an IPv4 interface address: {interface}") from None
    services = await asyncio.wait_for(
        asyncio.to_thread(_multicast_search, address, timeout_s), timeout_s + 10
    )
    found: dict[str, DiscoveredDevice] = {}
    for service in services:
        device = _discovered(
            service.getEPR(),
            list(service.getXAddrs()),
            [scope.getValue() for scope in service.getScopes()],
            [qname.getFullname() for qname in service.getTypes()],
            policy=policy,
            sender=f"multicast via {interface}",
        )
        if device is not None:
            found[device.endpoint_reference] = device
    return list(found.values())


async def ws_discover(
    *,
    policy: ProbePolicy,
    target: tuple[str, int] | None = None,
    interface: str | None = None,
    timeout_s: float = 3.0,
) -> list[DiscoveredDevice]:
    """Send a Probe (to ``target`` by unicast, else to the multicast group) and gather matches.

    ``interface`` is the IPv4 address of the interface multicast leaves by (required for
    multicast). A unicast target must be allowed by ``policy``.
    """
    if target is None:
        return await _ws_discover_multicast(policy, interface, timeout_s)
    loop = asyncio.get_running_loop()
    message_id = f"urn:uuid:{uuid.uuid4()}"
    policy.check_address(join_host_port(*target))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.bind(("127.0.0.1" if target[0].startswith("127.") else "0.0.0.0", 0))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: _Collector(policy, message_id), sock=sock
    )
    try:
        transport.sendto(probe_message(message_id), target)
        await asyncio.sleep(timeout_s)
    finally:
        transport.close()
    return list(protocol.found.values())
