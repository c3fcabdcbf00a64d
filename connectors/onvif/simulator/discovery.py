"""WS-Discovery responder for the simulated fleet: answers Probe on a loopback UDP port, one reply per camera."""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import socket
import struct
import uuid
from collections.abc import Sequence

import structlog
from lxml import etree

from connectors.onvif.simulator.device import VirtualCamera
from connectors.onvif.simulator.soap import SOAP_ENV, text

log = structlog.get_logger(__name__)

WSA_2004 = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
DN = "http://www.onvif.org/ver10/network/wsdl"
TDS = "http://www.onvif.org/ver10/device/wsdl"
ANONYMOUS = f"{WSA_2004}/role/anonymous"
PROBE_ACTION = f"{WSD}/Probe"
PROBE_MATCHES_ACTION = f"{WSD}/ProbeMatches"
DEVICE_TYPES = frozenset({(DN, "NetworkVideoTransmitter"), (TDS, "Device")})
MAX_DATAGRAM = 64 * 1024
MULTICAST_GROUP = "239.255.255.250"
WS_DISCOVERY_PORT = 3702

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
)


class ProbeError(ValueError):
    """A datagram that is not a WS-Discovery Probe this responder can answer."""


def _qnames(element: etree._Element) -> set[tuple[str, str]]:
    names = set()
    for item in (element.text or "").split():
        prefix, sep, local = item.rpartition(":")
        namespace = element.nsmap.get(prefix) if sep else None
        names.add((namespace or "", local))
    return names


def parse_probe(payload: bytes) -> tuple[str, set[tuple[str, str]], list[str]]:
    """The Probe's MessageID, requested types (namespace, local name) and scopes."""
    try:
        root = etree.fromstring(payload, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        raise ProbeError(f"not well-formed XML: {exc.msg}") from None
    probe = root.find(f"{{{SOAP_ENV}}}Body/{{{WSD}}}Probe")
    if probe is None:
        raise ProbeError("no Probe in the body")
    message_id = (root.findtext(f"{{{SOAP_ENV}}}Header/{{{WSA_2004}}}MessageID") or "").strip()
    if not message_id:
        raise ProbeError("Probe has no MessageID")
    types_node = probe.find(f"{{{WSD}}}Types")
    scopes_node = probe.find(f"{{{WSD}}}Scopes")
    types = _qnames(types_node) if types_node is not None else set()
    scopes = (scopes_node.text or "").split() if scopes_node is not None else []
    return message_id, types, scopes


def _types_match(requested: set[tuple[str, str]]) -> bool:
    for namespace, local in requested:
        if namespace and (namespace, local) not in DEVICE_TYPES:
            return False
        if not namespace and local not in {name for _, name in DEVICE_TYPES}:
            return False
    return True


def _scope_matches(wanted: str, scopes: Sequence[str]) -> bool:
    """RFC 3986 prefix matching by path segment, WS-Discovery's default rule."""
    wanted = wanted.rstrip("/")
    return any(scope == wanted or scope.startswith(wanted + "/") for scope in scopes)


def matching_cameras(
    cameras: Sequence[VirtualCamera], types: set[tuple[str, str]], scopes: list[str]
) -> list[VirtualCamera]:
    if not _types_match(types):
        return []
    return [
        camera
        for camera in cameras
        if all(_scope_matches(scope, camera.identity.scopes) for scope in scopes)
    ]


def probe_match(camera: VirtualCamera, relates_to: str, instance_id: int, number: int) -> bytes:
    """The ProbeMatches datagram a camera sends back to a prober."""
    identity = camera.identity
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<env:Envelope xmlns:env="{SOAP_ENV}" xmlns:wsa="{WSA_2004}" xmlns:wsd="{WSD}" '
        f'xmlns:dn="{DN}" xmlns:tds="{TDS}"><env:Header>'
        f"<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>"
        f"<wsa:RelatesTo>{text(relates_to)}</wsa:RelatesTo>"
        f'<wsa:To env:mustUnderstand="true">{ANONYMOUS}</wsa:To>'
        f'<wsa:Action env:mustUnderstand="true">{PROBE_MATCHES_ACTION}</wsa:Action>'
        f'<wsd:AppSequence InstanceId="{instance_id}" MessageNumber="{number}"/>'
        "</env:Header><env:Body><wsd:ProbeMatches><wsd:ProbeMatch><wsa:EndpointReference>"
        f"<wsa:Address>{identity.endpoint_reference}</wsa:Address></wsa:EndpointReference>"
        "<wsd:Types>dn:NetworkVideoTransmitter tds:Device</wsd:Types>"
        f"<wsd:Scopes>{text(' '.join(identity.scopes))}</wsd:Scopes>"
        f"<wsd:XAddrs>{text(camera.device_url)}</wsd:XAddrs>"
        "<wsd:MetadataVersion>10</wsd:MetadataVersion></wsd:ProbeMatch></wsd:ProbeMatches>"
        "</env:Body></env:Envelope>"
    ).encode()


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class DiscoveryResponder(asyncio.DatagramProtocol):
    """Answers Probes arriving on a loopback UDP socket; never sends to a non-loopback address.

    Unicast by default (``host:port``, port 0 picks one). With ``multicast=True`` it also joins
    239.255.255.250 on the loopback interface only, listening on ``port`` (3702 when 0), so a
    standard WS-Discovery client probing over loopback finds the fleet.
    """

    def __init__(
        self,
        cameras: Sequence[VirtualCamera],
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        multicast: bool = False,
    ) -> None:
        if not _is_loopback(host):
            raise ValueError(f"the discovery responder binds loopback only, not {host}")
        self.cameras = cameras
        self.multicast = multicast
        self._bind = (host, port or (WS_DISCOVERY_PORT if multicast else 0))
        self._transport: asyncio.DatagramTransport | None = None
        self.address: tuple[str, int] = self._bind
        self.probes_answered = 0
        self.probes_rejected = 0
        self._instance_id = int(uuid.uuid4().int % 2**31)
        self._numbers = itertools.count(1)

    def _socket(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            if self.multicast:
                # Several responders (and clients) may share the well-known port on one host.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((MULTICAST_GROUP, self._bind[1]))
                membership = struct.pack(
                    "4s4s", socket.inet_aton(MULTICAST_GROUP), socket.inet_aton(self._bind[0])
                )
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 0)
            else:
                sock.bind(self._bind)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        return sock

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, sock=self._socket())
        self._transport = transport
        host, port = transport.get_extra_info("sockname")[:2]
        self.address = (MULTICAST_GROUP if self.multicast else host, port)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def datagram_received(self, data: bytes, addr: tuple[str | int, int]) -> None:
        host, port = str(addr[0]), int(addr[1])
        if not _is_loopback(host) or self._transport is None:
            return
        if len(data) > MAX_DATAGRAM:
            self.probes_rejected += 1
            return
        try:
            message_id, types, scopes = parse_probe(data)
        except ProbeError as exc:
            self.probes_rejected += 1
            log.debug("onvif_sim.probe_rejected", reason=str(exc))
            return
        self.probes_answered += 1
        for camera in matching_cameras(self.cameras, types, scopes):
            self._transport.sendto(
                probe_match(camera, message_id, self._instance_id, next(self._numbers)),
                (host, port),
            )
