"""onvif-zeep-async for the ONVIF services the raw stack does not carry: PTZ and imaging.

The hot path (probe, health, events) is raw SOAP (``device``, ``pullpoint``, ``push``), chosen by
measurement (docs/onvif.md): none of its operations is implemented here. What zeep earns its
cost for is breadth, WSDL-typed operations with many optional parts that nothing calls often:
moving a PTZ head, reading or changing imaging settings. ``ZeepServices`` gives those for one
camera whose service addresses the raw probe already found, on the process's transport:

- every request posts through the ``SoapTransport`` (``FleetZeepTransport``), so the pool,
  deadline, response cap, HTTP Digest answer and error translation are the raw path's;
- replies are checked by the hardened parser (``connectors.sdk.xmlsafe``) before zeep sees them,
  and zeep parses with ``HARDENED_SETTINGS`` (no DTD, entities or external references, libxml2's
  size limits kept); ``strict=False`` stays, because vendors add elements the schemas lack;
- each WSDL is parsed once per process (``shared_document``), from the package's own files only;
- the WS-UsernameToken follows the device clock the raw stack measured.

zeep's errors leave as the SDK's types (``call``):

    AuthenticationError   HTTP 401/403 (from the transport) or a NotAuthorized-style fault
    SoapFault             any other fault
    RetriableError        timeouts and connection errors (from the transport)
    DeviceDataError       hostile, malformed or unmappable XML (DTD, entities, syntax, schema)
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import onvif
import zeep
import zeep.exceptions
from onvif.client import UsernameDigestTokenDtDiff
from onvif.definition import SERVICES
from onvif.wsa import WsAddressingIfMissingPlugin
from requests import Response
from requests.structures import CaseInsensitiveDict
from zeep.proxy import AsyncServiceProxy
from zeep.transports import Transport
from zeep.wsdl import Document
from zeep.wsdl.utils import etree_to_string

from connectors.onvif.device import OnvifDevice, ServiceAddresses
from connectors.onvif.soap import SoapFault, SoapTransport, is_auth_fault, reply_root
from connectors.sdk.errors import AuthenticationError, ConfigurationError, DeviceDataError
from connectors.sdk.secrets import Credentials

ZeepService = Literal["ptz", "imaging"]

HARDENED_SETTINGS = zeep.Settings(
    strict=False,
    raw_response=False,
    forbid_dtd=True,
    forbid_entities=True,
    forbid_external=True,
    xml_huge_tree=False,
)

WSDL_DIR = (Path(onvif.__file__).parent / "wsdl").resolve()

_HOSTILE = (
    zeep.exceptions.DTDForbidden,
    zeep.exceptions.EntitiesForbidden,
    zeep.exceptions.ExternalReferenceForbidden,
    zeep.exceptions.XMLSyntaxError,
    zeep.exceptions.XMLParseError,
    zeep.exceptions.TransportError,
    zeep.exceptions.ValidationError,
    zeep.exceptions.UnexpectedElementError,
    zeep.exceptions.LookupError,
)

_DOCUMENTS: dict[str, Document] = {}
_DOCUMENT_LOCKS: dict[str, asyncio.Lock] = {}


class _PackageWsdlLoader(Transport):
    """Loads WSDL and schema files from the package's own directory, and nothing else."""

    def __init__(self) -> None:
        # zeep's base constructor would open a ``requests`` session nothing uses.
        self.cache = None
        self._close_session = False

    def load(self, url: str) -> bytes:
        path = Path(url).resolve()
        if not path.is_relative_to(WSDL_DIR) or not path.is_file():
            raise ConfigurationError(f"WSDL import outside the ONVIF WSDL directory: {url}")
        return path.read_bytes()


async def shared_document(name: ZeepService) -> Document:
    """The parsed WSDL of service ``name``, parsed at most once per process.

    The lock makes the first caller parse (in a thread: it reads files) and the others wait for
    it, however many cameras ask at once.
    """
    path = str(WSDL_DIR / SERVICES[name]["wsdl"])
    document = _DOCUMENTS.get(path)
    if document is not None:
        return document
    lock = _DOCUMENT_LOCKS.setdefault(path, asyncio.Lock())
    async with lock:
        document = _DOCUMENTS.get(path)
        if document is None:
            document = await asyncio.to_thread(_parse_wsdl, path)
            _DOCUMENTS[path] = document
    return document


def _parse_wsdl(path: str) -> Document:
    # zeep annotates the transport as a class; it takes (and needs) an instance.
    loader: Any = _PackageWsdlLoader()
    return Document(path, loader, settings=HARDENED_SETTINGS)


class FleetZeepTransport(Transport):
    """zeep's transport seam over the shared ``SoapTransport`` for one device.

    zeep's base constructor opens a ``requests`` session, which is not needed: WSDLs are local
    and loaded by ``shared_document``, and references out of a reply are refused.
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


class ZeepServices:
    """The PTZ and imaging services of one device, as zeep proxies made on first use."""

    def __init__(self, device: OnvifDevice, addresses: ServiceAddresses) -> None:
        self.device = device
        self.addresses = addresses
        credentials = device.credentials
        self.transport = FleetZeepTransport(
            device.transport, device.address, credentials, timeout_s=device.timeout_s
        )
        self._wsse = (
            UsernameDigestTokenDtDiff(
                credentials.username,
                credentials.password.get_secret_value(),
                dt_diff=device.clock_offset,
                use_digest=True,
            )
            if credentials is not None
            else None
        )
        self._proxies: dict[str, AsyncServiceProxy] = {}

    async def _proxy(self, name: ZeepService) -> AsyncServiceProxy:
        proxy = self._proxies.get(name)
        if proxy is not None:
            return proxy
        xaddr = getattr(self.addresses, name)
        if not xaddr:
            raise ConfigurationError(f"device has no {name} service", device=self.device.address)
        client = zeep.AsyncClient(
            wsdl=await shared_document(name),
            transport=self.transport,
            wsse=self._wsse,
            settings=HARDENED_SETTINGS,
            plugins=[WsAddressingIfMissingPlugin()],
        )
        definition = SERVICES[name]
        binding = client.wsdl.bindings[f"{{{definition['ns']}}}{definition['binding']}"]
        proxy = AsyncServiceProxy(client, binding, address=xaddr)
        self._proxies[name] = proxy
        return proxy

    async def call(
        self, name: ZeepService, operation: str, request: Mapping[str, Any] | None = None
    ) -> Any:
        """Run ``operation`` of service ``name``; its errors leave as the SDK's types."""
        device = self.device.address
        if self._wsse is not None:
            # Tokens are signed on the device's clock as last measured by the raw stack.
            self._wsse.dt_diff = self.device.clock_offset
        self.transport.last_reply = b""
        try:
            proxy = await self._proxy(name)
            return await getattr(proxy, operation)(**dict(request or {}))
        except zeep.exceptions.Fault as fault:
            subcodes = [getattr(q, "localname", str(q)) for q in (fault.subcodes or [])]
            subcode = subcodes[-1] if subcodes else None
            reason = (str(fault.message or "").strip() or "no reason given")[:300]
            if is_auth_fault(fault.code, subcode):
                raise AuthenticationError(
                    f"device refused the credentials: {reason}", device=device
                ) from None
            raise SoapFault(
                f"SOAP fault {subcode or fault.code}: {reason}",
                device=device,
                code=fault.code,
                subcode=subcode,
            ) from None
        except _HOSTILE as exc:
            raise DeviceDataError(
                f"unusable reply: {type(exc).__name__}",
                device=device,
                payload=self.transport.last_reply or None,
            ) from None
        except (ValueError, TypeError, AttributeError, LookupError) as exc:
            # zeep maps a reply onto the schema's types as it reads it; a value that does not
            # fit surfaces as one of these, and it is the device's data that is wrong. An
            # operation the WSDL does not have is the caller's (AttributeError, no reply yet).
            if not self.transport.last_reply:
                raise ConfigurationError(
                    f"{name} has no usable operation {operation!r}: {type(exc).__name__}",
                    device=device,
                ) from None
            raise DeviceDataError(
                f"reply does not fit the ONVIF schema: {type(exc).__name__}",
                device=device,
                payload=self.transport.last_reply,
            ) from None
