"""Talking to one ONVIF device with raw SOAP: clock, identity, services, scopes, profiles, stream URIs.

The one implementation of these operations: the onboarding probe (``snapshot``), the health
check, the connector's ``check`` and the event subscriptions use them (why raw SOAP and not
onvif-zeep-async: docs/onvif.md, "One device stack"). I/O over a shared ``SoapTransport``; each
reply is read by a pure ``parse_*`` function (which gives None for a value it cannot use and
raises nothing but ``DeviceDataError``); turning the answers into a ``CameraRecord`` is
``connectors.onvif.probe``'s job. Service addresses the device reports (XAddrs) are re-pointed at
the host:port the hub actually reached, because cameras behind NAT or port forwards report their
private address, and because a device must not be able to steer the hub to other hosts.

Media profiles come from the Media service (``ver10/media``) when the device has one, else from
Media2 (``ver20/media``, Profile T): H.265 cameras may offer only Media2, and GetCapabilities
predates it, so such a device is found through GetServices. The two differ only in envelopes and
element names (``MediaVersion``); one parser reads both.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit
from xml.sax.saxutils import escape

from lxml import etree

from connectors.onvif.soap import SoapFault, SoapTransport
from connectors.sdk.devicedata import decimal, finite_float
from connectors.sdk.errors import DeviceDataError
from connectors.sdk.secrets import Credentials
from connectors.sdk.xmlsafe import children_named, first, iter_named, text

TDS = "http://www.onvif.org/ver10/device/wsdl"
TRT = "http://www.onvif.org/ver10/media/wsdl"
TR2 = "http://www.onvif.org/ver20/media/wsdl"
TT = "http://www.onvif.org/ver10/schema"
DEVICE_PATH = "/onvif/device_service"
#: media profiles of one device that are read and registered at most (their URIs asked for)
MAX_PROFILES = 64


@dataclass(frozen=True)
class DeviceInfo:
    manufacturer: str | None
    model: str | None
    firmware: str | None
    serial: str | None
    hardware_id: str | None


@dataclass(frozen=True)
class ServiceAddresses:
    """Where the device's services live (already re-pointed at the reached host:port)."""

    media: str | None = None
    #: Media2 (Profile T); profiles are read from it only when there is no ``media``
    media2: str | None = None
    events: str | None = None
    ptz: str | None = None
    analytics: str | None = None
    imaging: str | None = None


@dataclass(frozen=True)
class MediaProfile:
    """One media profile. ``video_source`` is the token of the video source it encodes (its
    channel, on an encoder or recorder), ``source_configuration`` and ``analytics_configuration``
    the tokens events name that channel by (``connectors.onvif.channels``)."""

    token: str
    name: str | None = None
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    has_ptz: bool = False
    stream_uri: str | None = None
    snapshot_uri: str | None = None
    video_source: str | None = None
    source_configuration: str | None = None
    analytics_configuration: str | None = None


@dataclass
class DeviceSnapshot:
    """Everything a probe learned about one device."""

    address: str
    info: DeviceInfo
    services: ServiceAddresses
    scopes: list[str] = field(default_factory=list)
    mac: str | None = None
    profiles: list[MediaProfile] = field(default_factory=list)
    clock_offset: timedelta = timedelta(0)


def repoint(url: str | None, address: str, scheme: str = "http") -> str | None:
    """The path of a device-reported URL on the host:port we reached (see module docstring)."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # "http://[::1" and other unsplittable netlocs
        return None
    if parts.scheme not in ("http", "https"):
        return None
    return urlunsplit((scheme, address, parts.path or "/", parts.query, ""))


# A device clock outside these years is not a clock: it would put the WS-Security timestamp
# (local time plus the offset) out of datetime's range.
_CLOCK_YEARS = (1970, 2999)
_HMS = ("Hour", "Minute", "Second")


def utc_reading(
    year: object, month: object, day: object, hour: object, minute: object, second: object
) -> datetime | None:
    """A device's UTC clock reading from its parts (text or numbers); None when they make no
    usable date. Firmwares send garbage here (a year of 99999 or 10^30, month 13): that is no
    clock, not a reason to refuse the device. A missing hour, minute or second is 0, as firmware
    that leaves them out means it."""

    def part(value: object, low: int, high: int) -> int | None:
        return decimal(None if value is None else str(value), low=low, high=high)

    y, mo, d = part(year, *_CLOCK_YEARS), part(month, 1, 12), part(day, 1, 31)
    h, mi, s = (part(0 if value is None else value, 0, 59) for value in (hour, minute, second))
    if y is None or mo is None or d is None or h is None or mi is None or s is None:
        return None
    try:
        return datetime(y, mo, d, h, mi, s, tzinfo=UTC)
    except ValueError:  # 31 February
        return None


def parse_clock(body: etree._Element) -> datetime | None:
    """The device's UTC clock from a GetSystemDateAndTime reply; None when absent or unusable."""
    node = first(body, "UTCDateTime")
    date = first(node, "Date") if node is not None else None
    clock = first(node, "Time") if node is not None else None
    if date is None or clock is None:
        return None
    return utc_reading(
        text(date, "Year"),
        text(date, "Month"),
        text(date, "Day"),
        *(text(clock, name) for name in _HMS),
    )


def parse_device_information(body: etree._Element) -> DeviceInfo:
    return DeviceInfo(
        manufacturer=text(body, "Manufacturer"),
        model=text(body, "Model"),
        firmware=text(body, "FirmwareVersion"),
        serial=text(body, "SerialNumber"),
        hardware_id=text(body, "HardwareId"),
    )


def parse_capabilities(body: etree._Element, address: str, scheme: str) -> ServiceAddresses:
    """Service addresses from a GetCapabilities reply, re-pointed at ``address``."""
    found: dict[str, str | None] = {}
    for name in ("Media", "Events", "PTZ", "Analytics", "Imaging"):
        node = first(body, "Capabilities", name)
        found[name.lower()] = repoint(text(node, "XAddr"), address, scheme)
    return ServiceAddresses(**found)


_SERVICE_NAMESPACES = {
    "ver10/media/wsdl": "media",
    "ver20/media/wsdl": "media2",
    "ver10/events/wsdl": "events",
    "ver20/ptz/wsdl": "ptz",
    "ver20/analytics/wsdl": "analytics",
    "ver20/imaging/wsdl": "imaging",
}


def parse_services(body: etree._Element, address: str, scheme: str) -> ServiceAddresses:
    """Service addresses from a GetServices reply, re-pointed at ``address``."""
    found: dict[str, str | None] = {}
    for service in iter_named(body, "Service"):
        namespace = text(service, "Namespace") or ""
        for suffix, key in _SERVICE_NAMESPACES.items():
            if namespace.endswith(suffix):
                found[key] = repoint(text(service, "XAddr"), address, scheme)
    return ServiceAddresses(**found)


def parse_scopes(body: etree._Element) -> list[str]:
    return [item for s in iter_named(body, "ScopeItem") if (item := text(s))]


@dataclass(frozen=True)
class MediaVersion:
    """What differs between Media (ver10) and Media2 (ver20): envelopes and element names."""

    namespace: str
    #: the profile's video encoder, PTZ, video source and video analytics configuration elements
    encoder: str
    ptz: str
    source: str
    analytics: str
    #: GetProfiles' body (Media2 returns configurations only for the types asked)
    profiles_request: str
    #: GetStreamUri's arguments before the profile token
    stream_setup: str

    def uri_request(self, operation: str, token: str) -> str:
        setup = self.stream_setup if operation == "GetStreamUri" else ""
        return (
            f'<{operation} xmlns="{self.namespace}">{setup}'
            f"<ProfileToken>{escape(token)}</ProfileToken></{operation}>"
        )


MEDIA1 = MediaVersion(
    namespace=TRT,
    encoder="VideoEncoderConfiguration",
    ptz="PTZConfiguration",
    source="VideoSourceConfiguration",
    analytics="VideoAnalyticsConfiguration",
    profiles_request=f'<GetProfiles xmlns="{TRT}"/>',
    stream_setup=(
        f'<StreamSetup><Stream xmlns="{TT}">RTP-Unicast</Stream>'
        f'<Transport xmlns="{TT}"><Protocol>RTSP</Protocol></Transport></StreamSetup>'
    ),
)
MEDIA2 = MediaVersion(
    namespace=TR2,
    encoder="VideoEncoder",
    ptz="PTZ",
    source="VideoSource",
    analytics="Analytics",
    profiles_request=f'<GetProfiles xmlns="{TR2}"><Type>All</Type></GetProfiles>',
    # RTP over the RTSP connection, as Media's RTP-Unicast over RTSP above.
    stream_setup="<Protocol>RTSP</Protocol>",
)


def parse_profiles(
    body: etree._Element, *, device: str | None, media: MediaVersion = MEDIA1
) -> list[MediaProfile]:
    """The media profiles of a GetProfiles reply (Media or Media2), without their URIs (asked
    for separately)."""
    profiles = []
    for node in iter_named(body, "Profiles"):
        token = (node.get("token") or "").strip()
        if not token:
            raise DeviceDataError("media profile without a token", device=device)
        encoder = first(node, media.encoder)
        resolution = first(encoder, "Resolution") if encoder is not None else None
        source = first(node, media.source)
        analytics = first(node, media.analytics)
        profiles.append(
            MediaProfile(
                token=token,
                name=text(next(iter(children_named(node, "Name")), None)),
                codec=text(encoder, "Encoding") if encoder is not None else None,
                width=_pixels(text(resolution, "Width")) if resolution is not None else None,
                height=_pixels(text(resolution, "Height")) if resolution is not None else None,
                fps=finite_float(text(encoder, "FrameRateLimit")) if encoder is not None else None,
                has_ptz=first(node, media.ptz) is not None,
                video_source=text(source, "SourceToken") if source is not None else None,
                source_configuration=_token(source),
                analytics_configuration=_token(analytics),
            )
        )
    return profiles


def _token(node: etree._Element | None) -> str | None:
    return ((node.get("token") or "").strip() or None) if node is not None else None


def _pixels(value: str | None) -> int | None:
    # Some encoders write "1920.0"; anything not a finite number is no size at all.
    number = finite_float(value)
    return None if number is None or number < 0 else int(number)


class OnvifDevice:
    """One device at ``address`` (host:port); credentials are resolved, never logged.

    Every call has a total deadline, ``timeout_s`` (the device's config), and a reply cap,
    ``max_response_bytes``; else the transport's.
    """

    def __init__(
        self,
        transport: SoapTransport,
        address: str,
        credentials: Credentials | None,
        *,
        scheme: str = "http",
        clock_offset: timedelta | None = None,
        timeout_s: float | None = None,
        max_response_bytes: int | None = None,
    ) -> None:
        self.transport = transport
        self.address = address
        self.credentials = credentials
        self.scheme = scheme
        self.clock_offset = clock_offset
        self.timeout_s = timeout_s
        self.max_response_bytes = max_response_bytes

    @property
    def device_url(self) -> str:
        return f"{self.scheme}://{self.address}{DEVICE_PATH}"

    async def call(
        self,
        url: str | None,
        body: str,
        *,
        auth: bool = True,
        action: str | None = None,
        to: str | None = None,
        timeout_s: float | None = None,
    ) -> etree._Element:
        """One SOAP request to this device (``url`` None: its device service), signed on its clock."""
        return await self.transport.call(
            url or self.device_url,
            body,
            device=self.address,
            credentials=self.credentials if auth else None,
            clock_offset=self.clock_offset or timedelta(0),
            action=action,
            to=to,
            timeout_s=timeout_s or self.timeout_s,
            max_bytes=self.max_response_bytes,
        )

    async def sync_clock(self) -> timedelta:
        """GetSystemDateAndTime (unauthenticated) and remember the device-minus-local offset."""
        sent = datetime.now(UTC)
        body = await self.call(None, f'<GetSystemDateAndTime xmlns="{TDS}"/>', auth=False)
        received = datetime.now(UTC)
        device_time = parse_clock(body)
        if device_time is None:
            # Some devices only report local time; without a UTC clock assume no skew.
            self.clock_offset = timedelta(0)
        else:
            self.clock_offset = device_time - (sent + (received - sent) / 2)
        return self.clock_offset

    async def device_information(self) -> DeviceInfo:
        body = await self.call(None, f'<GetDeviceInformation xmlns="{TDS}"/>')
        return parse_device_information(body)

    async def services(self) -> ServiceAddresses:
        """GetCapabilities (every ONVIF profile has it); GetServices when a device faults on it,
        or names no Media service (Media2 is listed only there)."""
        try:
            body = await self.call(
                None,
                f'<GetCapabilities xmlns="{TDS}"><Category>All</Category></GetCapabilities>',
            )
        except SoapFault:
            return await self._services_from_get_services()
        found = parse_capabilities(body, self.address, self.scheme)
        if found.media is not None:
            return found
        try:
            listed = await self._services_from_get_services()
        except SoapFault:
            return found
        # What GetCapabilities said stands; GetServices fills in what it left out.
        return replace(listed, **{k: v for k, v in asdict(found).items() if v is not None})

    async def _services_from_get_services(self) -> ServiceAddresses:
        body = await self.call(
            None,
            f'<GetServices xmlns="{TDS}"><IncludeCapability>false</IncludeCapability></GetServices>',
        )
        return parse_services(body, self.address, self.scheme)

    async def scopes(self) -> list[str]:
        body = await self.call(None, f'<GetScopes xmlns="{TDS}"/>')
        return parse_scopes(body)

    async def mac_address(self) -> str | None:
        try:
            body = await self.call(None, f'<GetNetworkInterfaces xmlns="{TDS}"/>')
        except SoapFault:
            return None
        return text(body, "HwAddress")

    async def profiles(self, services: ServiceAddresses) -> list[MediaProfile]:
        """The media profiles (the first ``MAX_PROFILES``), each with its stream and snapshot URI
        (as the device reports them):
        from Media, else Media2, else Media at the device service (some firmwares serve it there).
        """
        if services.media is None and services.media2 is not None:
            url, media = services.media2, MEDIA2
        else:
            url, media = services.media or self.device_url, MEDIA1
        body = await self.call(url, media.profiles_request)
        # Only the profiles a registry record keeps cost their two requests each.
        profiles = parse_profiles(body, device=self.address, media=media)[:MAX_PROFILES]
        # One request at a time per camera: one kept-alive connection, not one per URI; the
        # fleet is where the concurrency is.
        return [
            replace(
                profile,
                stream_uri=await self._uri(url, media, "GetStreamUri", profile.token),
                snapshot_uri=await self._uri(url, media, "GetSnapshotUri", profile.token),
            )
            for profile in profiles
        ]

    async def _uri(
        self, media_url: str, media: MediaVersion, operation: str, token: str
    ) -> str | None:
        try:
            body = await self.call(media_url, media.uri_request(operation, token))
        except SoapFault:
            return None  # optional operations: many encoders have no snapshot
        # Media answers MediaUri/Uri, Media2 a bare Uri: the first Uri is the one either way.
        return text(body, "Uri")

    async def snapshot(self) -> DeviceSnapshot:
        """The full probe: clock first (so the token is accepted), then identity, services, media."""
        await self.sync_clock()
        info = await self.device_information()
        services = await self.services()
        scopes = await self.scopes()
        mac = await self.mac_address()
        profiles = await self.profiles(services)
        return DeviceSnapshot(
            address=self.address,
            info=info,
            services=services,
            scopes=scopes,
            mac=mac,
            profiles=profiles,
            clock_offset=self.clock_offset or timedelta(0),
        )
