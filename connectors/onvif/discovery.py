"""WS-Discovery: find ONVIF NetworkVideoTransmitters by multicast on an interface, or by unicast Probe.

A Probe is one UDP datagram; every device that matches answers with a ProbeMatch naming its
endpoint reference (a stable identity, used for the camera id when a device has no serial or
MAC), its scopes and its service addresses (XAddrs). Answers are untrusted: they go through the
hardened XML parser and a size cap, and XAddrs outside the probe policy are dropped.

Why not the ``WSDiscovery`` package: it runs its own threads and multicast sockets and has no
unicast-to-one-port mode, which tests on loopback need; a Probe and its matches are small
enough to do directly on asyncio's datagram API.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import structlog

from connectors.onvif.netpolicy import ProbePolicy, join_host_port
from connectors.onvif.xmlsafe import first, iter_named, parse_device_xml, text
from connectors.sdk.errors import ConfigurationError, DeviceDataError

log = structlog.get_logger("connectors.onvif.discovery")

MULTICAST_GROUP = "239.255.255.250"
DISCOVERY_PORT = 3702
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
        epr = text(first(match, "EndpointReference"), "Address")
        xaddrs = tuple((text(match, "XAddrs") or "").split())
        if not epr or not xaddrs:
            continue
        address = next((a for x in xaddrs if (a := _allowed_address(x, policy))), None)
        if address is None:
            log.warning("onvif.discovery.xaddr_refused", sender=sender, xaddrs=list(xaddrs)[:4])
            continue
        devices.append(
            DiscoveredDevice(
                endpoint_reference=epr,
                address=address,
                xaddrs=xaddrs,
                scopes=tuple((text(match, "Scopes") or "").split()),
                types=tuple((text(match, "Types") or "").split()),
            )
        )
    return devices


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


async def ws_discover(
    *,
    policy: ProbePolicy,
    target: tuple[str, int] | None = None,
    interface: str | None = None,
    timeout_s: float = 3.0,
) -> list[DiscoveredDevice]:
    """Send a Probe (to ``target`` by unicast, else to the multicast group) and gather matches.

    ``interface`` is the IPv4 address of the interface multicast leaves by (the default route's
    otherwise). A unicast target must be allowed by ``policy``.
    """
    loop = asyncio.get_running_loop()
    message_id = f"urn:uuid:{uuid.uuid4()}"
    if target is not None:
        policy.check_address(join_host_port(*target))
        destination = target
    else:
        destination = (MULTICAST_GROUP, DISCOVERY_PORT)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        if target is None:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
            if interface:
                try:
                    sock.setsockopt(
                        socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface)
                    )
                except OSError as exc:
                    raise ConfigurationError(
                        f"cannot send multicast on interface {interface}: {exc.strerror}"
                    ) from None
        sock.bind(("127.0.0.1" if target and target[0].startswith("127.") else "0.0.0.0", 0))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: _Collector(policy, message_id), sock=sock
    )
    try:
        transport.sendto(probe_message(message_id), destination)
        await asyncio.sleep(timeout_s)
    finally:
        transport.close()
    return list(protocol.found.values())
