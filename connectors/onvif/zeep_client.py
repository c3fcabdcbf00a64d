"""onvif-zeep-async for a fleet: hardened zeep settings, one parse of each WSDL, the shared HTTP pool.

``onvif.ONVIFCamera`` as shipped opens an aiohttp session, a connector and a ``requests`` session
per service per camera, parses replies with ``xml_huge_tree=True`` and loads each WSDL through a
cache that concurrent first callers all miss. Here:

- every camera's services post through the process's ``SoapTransport`` (one pool, its per-call
  deadline, response cap, HTTP Digest handling and error translation), via ``FleetZeepTransport``;
- replies are checked by the hardened parser (``connectors.sdk.xmlsafe``: no DTD in any encoding, no entities, size cap)
  before zeep sees them, and zeep itself parses with ``HARDENED_SETTINGS`` (``forbid_dtd``,
  ``forbid_entities``, ``forbid_external``, libxml2's size limits kept);
- each WSDL document is parsed once per process (``shared_document``), whatever the number of
  cameras probed at once.

``strict=False`` stays: vendors add elements the ONVIF schemas do not have, and a probe should
read what it needs rather than reject the device. Well-formedness is enforced by the pre-check,
not by zeep's recovering parser.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import zeep
from onvif import ONVIFCamera, ONVIFService
from onvif.client import UsernameDigestTokenDtDiff, ZeepAsyncClient, _cached_document
from onvif.wsa import WsAddressingIfMissingPlugin
from requests import Response
from requests.structures import CaseInsensitiveDict
from zeep.transports import Transport
from zeep.wsdl import Document
from zeep.wsdl.utils import etree_to_string

from connectors.onvif.soap import SoapTransport, reply_root
from connectors.sdk.errors import DeviceDataError
from connectors.sdk.secrets import Credentials

HARDENED_SETTINGS = zeep.Settings(
    strict=False,
    raw_response=False,
    forbid_dtd=True,
    forbid_entities=True,
    forbid_external=True,
    xml_huge_tree=False,
)

_DOCUMENTS: dict[str, Document] = {}
_DOCUMENT_LOCKS: dict[str, asyncio.Lock] = {}


async def shared_document(path: str) -> Document:
    """The parsed WSDL at ``path``, parsed at most once per process.

    onvif-zeep-async's own cache is checked before an ``await``, so a fleet probed with 256
    cameras in flight would parse each WSDL 256 times; the lock makes the first caller parse and
    the others wait for it. Its loader is kept (it installs lenient date/time types).
    """
    document = _DOCUMENTS.get(path)
    if document is not None:
        return document
    lock = _DOCUMENT_LOCKS.setdefault(path, asyncio.Lock())
    async with lock:
        document = _DOCUMENTS.get(path)
        if document is None:
            document = await _cached_document(path)
            _DOCUMENTS[path] = document
    return document


class FleetZeepTransport(Transport):
    """zeep's transport seam over the shared ``SoapTransport`` for one device.

    zeep's base constructor opens a ``requests`` session, which a fleet does not need: WSDLs are
    local and loaded by ``shared_document``, and references out of a reply are refused.
    """

    def __init__(
        self,
        soap: SoapTransport,
        device: str,
        credentials: Credentials | None,
        *,
        timeout_s: float | None = None,
    ) -> None:
        self.soap = soap
        self.device = device
        self.credentials = credentials
        self.cache = None
        self._close_session = False  # zeep's finaliser looks for it
        #: each operation's total deadline (None: the transport's)
        self.timeout_s = timeout_s
        self.load_timeout = timeout_s or soap.limits.timeout_s
        self.operation_timeout = timeout_s or soap.limits.timeout_s
        #: the last reply body, kept so a reply zeep cannot map can be dead-lettered with it
        self.last_reply: bytes = b""

    async def post_xml(self, address: str, envelope: Any, headers: dict[str, str]) -> Response:
        self.last_reply = b""
        status, raw = await self.soap.exchange(
            address,
            etree_to_string(envelope),
            headers.get("Content-Type", "application/soap+xml; charset=utf-8"),
            device=self.device,
            credentials=self.credentials,
            timeout_s=self.timeout_s,
        )
        self.last_reply = raw
        reply_root(status, raw, device=self.device, max_bytes=self.soap.limits.max_response_bytes)
        response = Response()
        response._content = raw
        response.status_code = status
        response.headers = CaseInsensitiveDict({"Content-Type": "application/soap+xml"})
        response.encoding = "utf-8"
        return response

    def load(self, url: str) -> bytes:
        raise DeviceDataError("reply refers to an external document", device=self.device)


class FleetOnvifService(ONVIFService):
    """An ONVIF service of one camera with the fleet's transport, settings and shared WSDL."""

    def __init__(
        self,
        xaddr: str,
        credentials: Credentials | None,
        wsdl_path: str,
        *,
        transport: FleetZeepTransport,
        clock_offset: timedelta | None,
        binding_name: str,
        binding_key: tuple[str, str | None],
    ) -> None:
        # The library's constructor opens a session per service; this one only records.
        self.url = wsdl_path
        self.xaddr = xaddr
        self.binding_key = binding_key
        self.binding_name = binding_name
        self.user = credentials.username if credentials else None
        self.passwd = credentials.password.get_secret_value() if credentials else None
        self.encrypt = True
        self.dt_diff = clock_offset
        self._no_cache = True
        self.transport = transport
        self.document: Document | None = None
        self.zeep_client_authless = None
        self.ws_client_authless = None
        self.zeep_client = None
        self.ws_client = None
        self.create_type = None
        self._wsse: UsernameDigestTokenDtDiff | None = None

    async def setup(self) -> None:
        self.document = await shared_document(self.url)
        plugins = [WsAddressingIfMissingPlugin()]
        authless = ZeepAsyncClient(
            wsdl=self.document,
            transport=self.transport,
            settings=HARDENED_SETTINGS,
            plugins=plugins,
        )
        self.zeep_client_authless = authless
        self.ws_client_authless = authless.create_service(self.binding_name, self.xaddr)
        if self.user is None:
            self.zeep_client, self.ws_client = authless, self.ws_client_authless
            return
        self._wsse = UsernameDigestTokenDtDiff(
            self.user, self.passwd, dt_diff=self.dt_diff, use_digest=True
        )
        signed = ZeepAsyncClient(
            wsdl=self.document,
            wsse=self._wsse,
            transport=self.transport,
            settings=HARDENED_SETTINGS,
            plugins=plugins,
        )
        self.zeep_client = signed
        self.ws_client = signed.create_service(self.binding_name, self.xaddr)

    def follow_clock(self, offset: timedelta) -> None:
        """Sign later tokens on the device's clock (measured after this service was made)."""
        self.dt_diff = offset
        if self._wsse is not None:
            self._wsse.dt_diff = offset

    async def close(self) -> None:
        """Nothing to close: the pool belongs to the process's ``SoapTransport``."""


class FleetOnvifCamera(ONVIFCamera):
    """``ONVIFCamera`` whose services are ``FleetOnvifService``s over the shared transport."""

    def __init__(
        self,
        soap: SoapTransport,
        address: str,
        credentials: Credentials | None,
        *,
        scheme: str,
        timeout_s: float | None = None,
    ) -> None:
        host, _, port = address.rpartition(":")
        super().__init__(
            f"{scheme}://{host}",
            int(port),
            credentials.username if credentials else None,
            None,  # the password stays in the Credentials; the services read it from there
            no_cache=True,
        )
        self.credentials = credentials
        self.zeep_transport = FleetZeepTransport(soap, address, credentials, timeout_s=timeout_s)

    async def create_onvif_service(
        self,
        name: str,
        port_type: str | None = None,
        read_timeout: int | None = None,
        write_timeout: int | None = None,
    ) -> FleetOnvifService:
        key = (name.lower(), port_type)
        xaddr, wsdl_path, binding_name = self.get_definition(key[0], port_type)
        existing = self.services.get(key)
        if isinstance(existing, FleetOnvifService) and existing.xaddr == xaddr:
            return existing
        service = FleetOnvifService(
            xaddr,
            self.credentials,
            wsdl_path,
            transport=self.zeep_transport,
            clock_offset=self.dt_diff,
            binding_name=binding_name,
            binding_key=key,
        )
        await service.setup()
        self.services[key] = service
        return service

    async def close(self) -> None:
        await self._snapshot_client.close()
        await self._snapshot_connector.close()
