"""The onboarding probe through onvif-zeep-async: clock, identity, services, scopes, MAC, profiles, URIs.

Gives the same ``DeviceSnapshot`` as the raw operations in ``connectors.onvif.device`` (which the
health check and PullPoint loop keep using), so ``probe.camera_records`` turns either into the
same ``CameraRecord``. zeep's errors are translated here, at the boundary, into the SDK's types:

    AuthenticationError   HTTP 401/403 (from the transport) or a NotAuthorized-style fault
    SoapFault             any other fault (optional operations fall back or give None)
    RetriableError        timeouts and connection errors (from the transport)
    DeviceDataError       hostile, malformed or unmappable XML (DTD, entities, syntax, schema)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import zeep.exceptions
from onvif.exceptions import ONVIFError

from connectors.onvif.device import (
    DeviceInfo,
    DeviceSnapshot,
    MediaProfile,
    ServiceAddresses,
    repoint,
    utc_reading,
)
from connectors.onvif.soap import SoapFault, SoapTransport, is_auth_fault
from connectors.onvif.zeep_client import FleetOnvifCamera, FleetOnvifService
from connectors.sdk.devicedata import finite_float
from connectors.sdk.errors import AuthenticationError, DeviceDataError
from connectors.sdk.secrets import Credentials

_T = TypeVar("_T")

#: ONVIF service namespace → the ``ServiceAddresses`` field it fills
_SERVICE_FIELDS = {
    "http://www.onvif.org/ver10/media/wsdl": "media",
    "http://www.onvif.org/ver10/events/wsdl": "events",
    "http://www.onvif.org/ver20/ptz/wsdl": "ptz",
    "http://www.onvif.org/ver20/analytics/wsdl": "analytics",
    "http://www.onvif.org/ver20/imaging/wsdl": "imaging",
}
_NAMESPACE_OF = {name: namespace for namespace, name in _SERVICE_FIELDS.items()}
_CAPABILITY_FIELDS = {"Media": "media", "Events": "events", "PTZ": "ptz", "Analytics": "analytics"}
_CAPABILITY_FIELDS["Imaging"] = "imaging"
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


def _clean(value: Any) -> str | None:
    """Stripped text, None when absent or empty (as the raw operations read it)."""
    if value is None:
        return None
    stripped = str(value).strip()
    return stripped or None


def _number(value: Any, kind: Callable[[float], _T]) -> _T | None:
    """A finite number of the reply as ``kind``; None when absent or not one (nan, 1e400)."""
    number = finite_float(None if value is None else str(value))
    return None if number is None else kind(number)


def _field(node: Any, *path: str) -> Any:
    """``node.a.b.c`` with None for any missing step (replies omit optional elements)."""
    for name in path:
        if node is None:
            return None
        node = getattr(node, name, None)
    return node


class ZeepOnvifDevice:
    """One device probed through ``onvif.ONVIFCamera`` over the shared transport."""

    def __init__(
        self,
        transport: SoapTransport,
        address: str,
        credentials: Credentials | None,
        *,
        scheme: str = "http",
        timeout_s: float | None = None,
    ) -> None:
        self.address = address
        self.scheme = scheme
        self.camera = FleetOnvifCamera(
            transport, address, credentials, scheme=scheme, timeout_s=timeout_s
        )
        self.clock_offset = timedelta(0)

    async def _call(self, operation: Callable[[], Awaitable[_T]]) -> _T:
        """Run one zeep operation; its errors leave as the SDK's types."""
        device = self.address
        self.camera.zeep_transport.last_reply = b""
        try:
            return await operation()
        except zeep.exceptions.Fault as fault:
            subcodes = [getattr(q, "localname", str(q)) for q in (fault.subcodes or [])]
            subcode = subcodes[-1] if subcodes else None
            reason = (_clean(fault.message) or "no reason given")[:300]
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
                payload=self.camera.zeep_transport.last_reply or None,
            ) from None
        except ONVIFError as exc:
            raise DeviceDataError(
                f"device cannot be used through ONVIF: {str(exc)[:200]}", device=device
            ) from None
        except (ValueError, TypeError, AttributeError, LookupError) as exc:
            # zeep maps a reply onto the schema's types as it reads it; a value that does not
            # fit surfaces as one of these, and it is the device's data that is wrong.
            raise DeviceDataError(
                f"reply does not fit the ONVIF schema: {type(exc).__name__}",
                device=device,
                payload=self.camera.zeep_transport.last_reply or None,
            ) from None

    async def _service(self, name: str) -> FleetOnvifService:
        service: FleetOnvifService = await self._call(
            lambda: self.camera.create_onvif_service(name)
        )
        return service

    async def sync_clock(self) -> timedelta:
        """GetSystemDateAndTime (unauthenticated); later tokens are signed on the device's clock."""
        devicemgmt = await self._service("devicemgmt")
        sent = datetime.now(UTC)
        reply = await self._call(devicemgmt.authless_GetSystemDateAndTime)
        received = datetime.now(UTC)
        date, clock = _field(reply, "UTCDateTime", "Date"), _field(reply, "UTCDateTime", "Time")
        # Some devices only report local time, others garbage; without a usable UTC clock
        # assume no skew.
        device_time = utc_reading(
            _field(date, "Year"), _field(date, "Month"), _field(date, "Day"),
            _field(clock, "Hour"), _field(clock, "Minute"), _field(clock, "Second"),
        )  # fmt: skip
        offset = timedelta(0)
        if device_time is not None:
            offset = device_time - (sent + (received - sent) / 2)
        self.clock_offset = offset
        self.camera.dt_diff = offset
        for service in self.camera.services.values():
            service.follow_clock(offset)
        return offset

    async def device_information(self) -> DeviceInfo:
        devicemgmt = await self._service("devicemgmt")
        info = await self._call(devicemgmt.GetDeviceInformation)
        return DeviceInfo(
            manufacturer=_clean(_field(info, "Manufacturer")),
            model=_clean(_field(info, "Model")),
            firmware=_clean(_field(info, "FirmwareVersion")),
            serial=_clean(_field(info, "SerialNumber")),
            hardware_id=_clean(_field(info, "HardwareId")),
        )

    def _repoint(self, xaddr: Any) -> str | None:
        return repoint(_clean(xaddr), self.address, self.scheme)

    async def services(self) -> ServiceAddresses:
        """GetCapabilities (every ONVIF profile has it); GetServices when a device faults on it.

        Addresses are re-pointed at the reached host:port before the camera object may use them.
        """
        devicemgmt = await self._service("devicemgmt")
        found: dict[str, str | None] = {}
        try:
            capabilities = await self._call(lambda: devicemgmt.GetCapabilities({"Category": "All"}))
        except SoapFault:
            listed = await self._call(lambda: devicemgmt.GetServices({"IncludeCapability": False}))
            for service in listed or []:
                key = _SERVICE_FIELDS.get(_clean(_field(service, "Namespace")) or "")
                if key is not None:
                    found[key] = self._repoint(_field(service, "XAddr"))
        else:
            for element, key in _CAPABILITY_FIELDS.items():
                found[key] = self._repoint(_field(capabilities, element, "XAddr"))
        addresses = ServiceAddresses(**found)
        self.camera.xaddrs = {
            _NAMESPACE_OF[key]: url for key, url in found.items() if url is not None
        }
        return addresses

    async def scopes(self) -> list[str]:
        devicemgmt = await self._service("devicemgmt")
        scopes = await self._call(devicemgmt.GetScopes)
        return [item for scope in scopes or [] if (item := _clean(_field(scope, "ScopeItem")))]

    async def mac_address(self) -> str | None:
        devicemgmt = await self._service("devicemgmt")
        try:
            interfaces = await self._call(devicemgmt.GetNetworkInterfaces)
        except SoapFault:
            return None
        for interface in interfaces or []:
            if mac := _clean(_field(interface, "Info", "HwAddress")):
                return mac
        return None

    async def profiles(self, media_url: str | None) -> list[MediaProfile]:
        """Every media profile with its stream and snapshot URI (as the device reports them)."""
        self.camera.xaddrs[_NAMESPACE_OF["media"]] = (
            media_url or self.camera.get_definition("devicemgmt")[0]
        )
        media = await self._service("media")
        profiles = []
        for node in await self._call(media.GetProfiles) or []:
            token = _clean(_field(node, "token"))
            if not token:
                raise DeviceDataError("media profile without a token", device=self.address)
            encoder = _field(node, "VideoEncoderConfiguration")
            profiles.append(
                MediaProfile(
                    token=token,
                    name=_clean(_field(node, "Name")),
                    codec=_clean(_field(encoder, "Encoding")),
                    width=_number(_field(encoder, "Resolution", "Width"), int),
                    height=_number(_field(encoder, "Resolution", "Height"), int),
                    fps=_number(_field(encoder, "RateControl", "FrameRateLimit"), float),
                    has_ptz=_field(node, "PTZConfiguration") is not None,
                    video_source=_clean(_field(node, "VideoSourceConfiguration", "SourceToken")),
                    source_configuration=_clean(_field(node, "VideoSourceConfiguration", "token")),
                    analytics_configuration=_clean(
                        _field(node, "VideoAnalyticsConfiguration", "token")
                    ),
                    stream_uri=await self._uri(
                        media,
                        "GetStreamUri",
                        {
                            "StreamSetup": {
                                "Stream": "RTP-Unicast",
                                "Transport": {"Protocol": "RTSP"},
                            },
                            "ProfileToken": token,
                        },
                    ),
                    snapshot_uri=await self._uri(media, "GetSnapshotUri", {"ProfileToken": token}),
                )
            )
        return profiles

    async def _uri(
        self, media: FleetOnvifService, operation: str, request: dict[str, Any]
    ) -> str | None:
        try:
            reply = await self._call(lambda: getattr(media, operation)(request))
        except SoapFault:
            return None  # optional operations: many encoders have no snapshot
        return _clean(_field(reply, "Uri"))

    async def snapshot(self) -> DeviceSnapshot:
        """The full probe: clock first (so the token is accepted), then identity, services, media."""
        try:
            await self.sync_clock()
            info = await self.device_information()
            services = await self.services()
            scopes = await self.scopes()
            mac = await self.mac_address()
            profiles = await self.profiles(services.media)
        finally:
            await self.camera.close()
        return DeviceSnapshot(
            address=self.address,
            info=info,
            services=services,
            scopes=scopes,
            mac=mac,
            profiles=profiles,
            clock_offset=self.clock_offset,
        )
