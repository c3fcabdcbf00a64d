"""ONVIF operation handlers of a simulated camera: device, media, PTZ, events and subscription managers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from xml.sax.saxutils import escape

from connectors.onvif.simulator.device import StreamProfile, VirtualCamera
from connectors.onvif.simulator.events import TOPIC_DIALECT, TOPICS, TopicSpec, UnknownSubscription
from connectors.onvif.simulator.soap import (
    NAMESPACES,
    SoapRequest,
    attr,
    child_text,
    text,
    xml_bool,
    xml_datetime,
)
from connectors.onvif.simulator.xstime import parse_duration, parse_termination

DEFAULT_SUBSCRIPTION = dt.timedelta(seconds=60)
MAX_PULL_TIMEOUT = dt.timedelta(seconds=60)
MAX_MESSAGE_LIMIT = 1024
RTSP_PORT = 554

EVENTS_ACTION = "http://www.onvif.org/ver10/events/wsdl"
WSN_ACTION = "http://docs.oasis-open.org/wsn/bw-2"


class Service(StrEnum):
    """The endpoints a camera serves, by URL path."""

    DEVICE = "device_service"
    MEDIA = "media_service"
    EVENTS = "events_service"
    PTZ = "ptz_service"
    SUBSCRIPTION = "subscription"


class SoapFault(Exception):
    """A fault the device answers with; ``status`` is the HTTP status cameras pair with it."""

    def __init__(
        self,
        status: int,
        code: str,
        subcodes: tuple[str, ...],
        reason: str,
        detail: str = "",
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.code = code
        self.subcodes = subcodes
        self.reason = reason
        self.detail = detail


def invalid_argument(reason: str) -> SoapFault:
    return SoapFault(400, "env:Sender", ("ter:InvalidArgVal", "ter:InvalidArgs"), reason)


def resource_unknown(camera: VirtualCamera, subscription_id: str) -> SoapFault:
    detail = (
        f"<wsrf-rw:ResourceUnknownFault><wsrf-bf:Timestamp>{xml_datetime(camera.now())}"
        f"</wsrf-bf:Timestamp><wsrf-bf:Description>subscription {escape(subscription_id)} "
        "does not exist</wsrf-bf:Description></wsrf-rw:ResourceUnknownFault>"
    )
    return SoapFault(
        400,
        "env:Sender",
        ("wsrf-rw:ResourceUnknownFault",),
        "The subscription does not exist or has expired",
        detail,
    )


@dataclass(frozen=True)
class RequestContext:
    camera: VirtualCamera
    request: SoapRequest
    subscription_id: str = ""


@dataclass(frozen=True)
class SoapReply:
    body: str
    action: str | None = None


Handler = Callable[[RequestContext], Awaitable[SoapReply]]
OPERATIONS: dict[tuple[Service, str], Handler] = {}
UNAUTHENTICATED = frozenset({(Service.DEVICE, "GetSystemDateAndTime")})


def operation(service: Service, name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        OPERATIONS[(service, name)] = handler
        return handler

    return register


def _xaddr(camera: VirtualCamera, service: Service) -> str:
    return f"{camera.base_url}/onvif/{service.value}"


# --- device service -------------------------------------------------------------------------


@operation(Service.DEVICE, "GetSystemDateAndTime")
async def get_system_date_and_time(ctx: RequestContext) -> SoapReply:
    now = ctx.camera.now()
    local = now + dt.timedelta(hours=7)  # WIB, Semarang's zone

    def stamp(moment: dt.datetime) -> str:
        return (
            f"<tt:Time><tt:Hour>{moment.hour}</tt:Hour><tt:Minute>{moment.minute}</tt:Minute>"
            f"<tt:Second>{moment.second}</tt:Second></tt:Time><tt:Date><tt:Year>{moment.year}"
            f"</tt:Year><tt:Month>{moment.month}</tt:Month><tt:Day>{moment.day}</tt:Day></tt:Date>"
        )

    return SoapReply(
        "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
        "<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
        "<tt:TimeZone><tt:TZ>WIB-7</tt:TZ></tt:TimeZone>"
        f"<tt:UTCDateTime>{stamp(now)}</tt:UTCDateTime>"
        f"<tt:LocalDateTime>{stamp(local)}</tt:LocalDateTime>"
        "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
    )


@operation(Service.DEVICE, "GetDeviceInformation")
async def get_device_information(ctx: RequestContext) -> SoapReply:
    identity = ctx.camera.identity
    return SoapReply(
        "<tds:GetDeviceInformationResponse>"
        f"<tds:Manufacturer>{text(identity.vendor.manufacturer)}</tds:Manufacturer>"
        f"<tds:Model>{text(identity.model)}</tds:Model>"
        f"<tds:FirmwareVersion>{text(identity.vendor.firmware)}</tds:FirmwareVersion>"
        f"<tds:SerialNumber>{text(identity.serial)}</tds:SerialNumber>"
        f"<tds:HardwareId>{text(identity.hardware_id)}</tds:HardwareId>"
        "</tds:GetDeviceInformationResponse>"
    )


def _service_entries(camera: VirtualCamera) -> list[tuple[str, Service, int, int]]:
    entries = [
        (NAMESPACES["tds"], Service.DEVICE, 2, 60),
        (NAMESPACES["trt"], Service.MEDIA, 2, 60),
        (NAMESPACES["tev"], Service.EVENTS, 2, 60),
    ]
    if camera.identity.has_ptz:
        entries.append((NAMESPACES["tptz"], Service.PTZ, 2, 60))
    return entries


def _events_capabilities() -> str:
    return (
        '<tev:Capabilities WSSubscriptionPolicySupport="true" WSPullPointSupport="true" '
        'WSPausableSubscriptionManagerInterfaceSupport="false" MaxNotificationProducers="10" '
        'MaxPullPoints="16" PersistentNotificationStorage="false"/>'
    )


@operation(Service.DEVICE, "GetServices")
async def get_services(ctx: RequestContext) -> SoapReply:
    include = (child_text(ctx.request.body, "IncludeCapability") or "").lower() == "true"
    services = []
    for namespace, service, major, minor in _service_entries(ctx.camera):
        capabilities = ""
        if include and service is Service.EVENTS:
            capabilities = f"<tds:Capabilities>{_events_capabilities()}</tds:Capabilities>"
        services.append(
            f"<tds:Service><tds:Namespace>{namespace}</tds:Namespace>"
            f"<tds:XAddr>{_xaddr(ctx.camera, service)}</tds:XAddr>{capabilities}"
            f"<tds:Version><tt:Major>{major}</tt:Major><tt:Minor>{minor}</tt:Minor></tds:Version>"
            "</tds:Service>"
        )
    return SoapReply(f"<tds:GetServicesResponse>{''.join(services)}</tds:GetServicesResponse>")


@operation(Service.DEVICE, "GetCapabilities")
async def get_capabilities(ctx: RequestContext) -> SoapReply:
    camera = ctx.camera
    ptz = (
        f"<tt:PTZ><tt:XAddr>{_xaddr(camera, Service.PTZ)}</tt:XAddr></tt:PTZ>"
        if camera.identity.has_ptz
        else ""
    )
    return SoapReply(
        "<tds:GetCapabilitiesResponse><tds:Capabilities>"
        f"<tt:Device><tt:XAddr>{_xaddr(camera, Service.DEVICE)}</tt:XAddr>"
        "<tt:Network><tt:IPFilter>true</tt:IPFilter><tt:ZeroConfiguration>false</tt:ZeroConfiguration>"
        "<tt:IPVersion6>false</tt:IPVersion6><tt:DynDNS>false</tt:DynDNS></tt:Network>"
        "<tt:System><tt:DiscoveryResolve>false</tt:DiscoveryResolve><tt:DiscoveryBye>true"
        "</tt:DiscoveryBye><tt:RemoteDiscovery>false</tt:RemoteDiscovery><tt:SystemBackup>false"
        "</tt:SystemBackup><tt:SystemLogging>true</tt:SystemLogging><tt:FirmwareUpgrade>true"
        "</tt:FirmwareUpgrade><tt:SupportedVersions><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor>"
        "</tt:SupportedVersions></tt:System>"
        "<tt:Security><tt:TLS1.1>false</tt:TLS1.1><tt:TLS1.2>false</tt:TLS1.2>"
        "<tt:OnboardKeyGeneration>false</tt:OnboardKeyGeneration><tt:AccessPolicyConfig>false"
        "</tt:AccessPolicyConfig><tt:X.509Token>false</tt:X.509Token><tt:SAMLToken>false"
        "</tt:SAMLToken><tt:KerberosToken>false</tt:KerberosToken><tt:RELToken>false</tt:RELToken>"
        "</tt:Security></tt:Device>"
        f"<tt:Events><tt:XAddr>{_xaddr(camera, Service.EVENTS)}</tt:XAddr>"
        "<tt:WSSubscriptionPolicySupport>true</tt:WSSubscriptionPolicySupport>"
        "<tt:WSPullPointSupport>true</tt:WSPullPointSupport>"
        "<tt:WSPausableSubscriptionManagerInterfaceSupport>false"
        "</tt:WSPausableSubscriptionManagerInterfaceSupport></tt:Events>"
        f"<tt:Media><tt:XAddr>{_xaddr(camera, Service.MEDIA)}</tt:XAddr>"
        "<tt:StreamingCapabilities><tt:RTPMulticast>false</tt:RTPMulticast>"
        "<tt:RTP_TCP>true</tt:RTP_TCP><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP>"
        "</tt:StreamingCapabilities></tt:Media>"
        f"{ptz}</tds:Capabilities></tds:GetCapabilitiesResponse>"
    )


@operation(Service.DEVICE, "GetScopes")
async def get_scopes(ctx: RequestContext) -> SoapReply:
    scopes = "".join(
        f"<tds:Scopes><tt:ScopeDef>Fixed</tt:ScopeDef><tt:ScopeItem>{text(scope)}</tt:ScopeItem>"
        "</tds:Scopes>"
        for scope in ctx.camera.identity.scopes
    )
    return SoapReply(f"<tds:GetScopesResponse>{scopes}</tds:GetScopesResponse>")


@operation(Service.DEVICE, "GetNetworkInterfaces")
async def get_network_interfaces(ctx: RequestContext) -> SoapReply:
    camera = ctx.camera
    return SoapReply(
        '<tds:GetNetworkInterfacesResponse><tds:NetworkInterfaces token="eth0">'
        "<tt:Enabled>true</tt:Enabled><tt:Info><tt:Name>eth0</tt:Name>"
        f"<tt:HwAddress>{camera.mac}</tt:HwAddress><tt:MTU>1500</tt:MTU></tt:Info>"
        "<tt:IPv4><tt:Enabled>true</tt:Enabled><tt:Config><tt:Manual>"
        f"<tt:Address>{text(camera.host)}</tt:Address><tt:PrefixLength>8</tt:PrefixLength>"
        "</tt:Manual><tt:DHCP>false</tt:DHCP></tt:Config></tt:IPv4>"
        "</tds:NetworkInterfaces></tds:GetNetworkInterfacesResponse>"
    )


@operation(Service.DEVICE, "GetHostname")
async def get_hostname(ctx: RequestContext) -> SoapReply:
    hostname = ctx.camera.identity.serial.lower().replace(" ", "-")
    return SoapReply(
        "<tds:GetHostnameResponse><tds:HostnameInformation><tt:FromDHCP>false</tt:FromDHCP>"
        f"<tt:Name>{text(hostname)}</tt:Name></tds:HostnameInformation></tds:GetHostnameResponse>"
    )


# --- media service --------------------------------------------------------------------------


def _profile_xml(profile: StreamProfile) -> str:
    codec = profile.encoding
    codec_options = (
        f"<tt:H264><tt:GovLength>{profile.frame_rate * 2}</tt:GovLength>"
        "<tt:H264Profile>Main</tt:H264Profile></tt:H264>"
        if codec == "H264"
        else ""
    )
    return (
        f'<trt:Profiles token={attr(profile.token)} fixed="true"><tt:Name>{profile.name}</tt:Name>'
        '<tt:VideoSourceConfiguration token="VideoSourceToken"><tt:Name>VideoSourceConfig</tt:Name>'
        "<tt:UseCount>3</tt:UseCount><tt:SourceToken>VideoSource_1</tt:SourceToken>"
        '<tt:Bounds x="0" y="0" width="2560" height="1440"/></tt:VideoSourceConfiguration>'
        f'<tt:VideoEncoderConfiguration token="VideoEncoderToken_{profile.token[-1]}">'
        f"<tt:Name>VideoEncoder_{profile.token[-1]}</tt:Name><tt:UseCount>1</tt:UseCount>"
        f"<tt:Encoding>{codec}</tt:Encoding><tt:Resolution><tt:Width>{profile.width}</tt:Width>"
        f"<tt:Height>{profile.height}</tt:Height></tt:Resolution><tt:Quality>3</tt:Quality>"
        f"<tt:RateControl><tt:FrameRateLimit>{profile.frame_rate}</tt:FrameRateLimit>"
        "<tt:EncodingInterval>1</tt:EncodingInterval>"
        f"<tt:BitrateLimit>{profile.bitrate}</tt:BitrateLimit></tt:RateControl>{codec_options}"
        "<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type><tt:IPv4Address>0.0.0.0</tt:IPv4Address>"
        "</tt:Address><tt:Port>8600</tt:Port><tt:TTL>128</tt:TTL><tt:AutoStart>false</tt:AutoStart>"
        "</tt:Multicast><tt:SessionTimeout>PT5S</tt:SessionTimeout></tt:VideoEncoderConfiguration>"
        "</trt:Profiles>"
    )


def _profile(ctx: RequestContext) -> StreamProfile:
    token = child_text(ctx.request.body, "ProfileToken")
    for profile in ctx.camera.profiles:
        if profile.token == token:
            return profile
    raise SoapFault(
        400,
        "env:Sender",
        ("ter:InvalidArgVal", "ter:NoProfile"),
        "The requested profile does not exist",
    )


def _media_uri(uri: str) -> str:
    return (
        f"<trt:MediaUri><tt:Uri>{text(uri)}</tt:Uri><tt:InvalidAfterConnect>false"
        "</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot>"
        "<tt:Timeout>PT0S</tt:Timeout></trt:MediaUri>"
    )


@operation(Service.MEDIA, "GetProfiles")
async def get_profiles(ctx: RequestContext) -> SoapReply:
    profiles = "".join(_profile_xml(profile) for profile in ctx.camera.profiles)
    return SoapReply(f"<trt:GetProfilesResponse>{profiles}</trt:GetProfilesResponse>")


@operation(Service.MEDIA, "GetStreamUri")
async def get_stream_uri(ctx: RequestContext) -> SoapReply:
    profile = _profile(ctx)
    uri = f"rtsp://{ctx.camera.host}:{RTSP_PORT}{profile.channel_path}"
    return SoapReply(f"<trt:GetStreamUriResponse>{_media_uri(uri)}</trt:GetStreamUriResponse>")


@operation(Service.MEDIA, "GetSnapshotUri")
async def get_snapshot_uri(ctx: RequestContext) -> SoapReply:
    profile = _profile(ctx)
    path = ctx.camera.identity.vendor.snapshot_path.format(channel=profile.token[-1])
    uri = f"{ctx.camera.base_url}{path}"
    return SoapReply(f"<trt:GetSnapshotUriResponse>{_media_uri(uri)}</trt:GetSnapshotUriResponse>")


# --- PTZ service ----------------------------------------------------------------------------


@operation(Service.PTZ, "GetNodes")
async def get_nodes(ctx: RequestContext) -> SoapReply:
    return SoapReply(
        '<tptz:GetNodesResponse><tptz:PTZNode token="PTZNODETOKEN" FixedHomePosition="true">'
        "<tt:Name>PTZNODE</tt:Name><tt:SupportedPTZSpaces/><tt:MaximumNumberOfPresets>300"
        "</tt:MaximumNumberOfPresets><tt:HomeSupported>true</tt:HomeSupported></tptz:PTZNode>"
        "</tptz:GetNodesResponse>"
    )


@operation(Service.PTZ, "GetStatus")
async def get_ptz_status(ctx: RequestContext) -> SoapReply:
    return SoapReply(
        "<tptz:GetStatusResponse><tptz:PTZStatus><tt:Position>"
        '<tt:PanTilt x="0" y="0" space="http://www.onvif.org/ver10/tptz/PanTiltSpaces/PositionGenericSpace"/>'
        '<tt:Zoom x="0" space="http://www.onvif.org/ver10/tptz/ZoomSpaces/PositionGenericSpace"/>'
        "</tt:Position><tt:MoveStatus><tt:PanTilt>IDLE</tt:PanTilt><tt:Zoom>IDLE</tt:Zoom>"
        f"</tt:MoveStatus><tt:UtcTime>{xml_datetime(ctx.camera.now())}</tt:UtcTime>"
        "</tptz:PTZStatus></tptz:GetStatusResponse>"
    )


@operation(Service.PTZ, "ContinuousMove")
async def continuous_move(ctx: RequestContext) -> SoapReply:
    return SoapReply("<tptz:ContinuousMoveResponse/>")


@operation(Service.PTZ, "Stop")
async def stop(ctx: RequestContext) -> SoapReply:
    return SoapReply("<tptz:StopResponse/>")


# --- event service --------------------------------------------------------------------------


@operation(Service.EVENTS, "GetServiceCapabilities")
async def get_event_service_capabilities(ctx: RequestContext) -> SoapReply:
    return SoapReply(
        f"<tev:GetServiceCapabilitiesResponse>{_events_capabilities()}"
        "</tev:GetServiceCapabilitiesResponse>",
        action=f"{EVENTS_ACTION}/EventPortType/GetServiceCapabilitiesResponse",
    )


@dataclass
class _TopicNode:
    spec: TopicSpec | None = None
    children: dict[str, _TopicNode] = field(default_factory=dict)


def _topic_set(camera: VirtualCamera) -> str:
    root = _TopicNode()
    for spec in camera.events.topics:
        node = root
        for part in spec.topic.removeprefix("tns1:").split("/"):
            node = node.children.setdefault(part, _TopicNode())
        node.spec = spec

    def render(name: str, node: _TopicNode) -> str:
        children = "".join(render(key, child) for key, child in node.children.items())
        spec = node.spec
        if spec is None:
            return f"<tns1:{name}>{children}</tns1:{name}>"
        source = "".join(
            f'<tt:SimpleItemDescription Name={attr(item)} Type="tt:ReferenceToken"/>'
            for item, _ in camera.events.source_for(spec)
        )
        data = "".join(
            f'<tt:SimpleItemDescription Name={attr(item)} Type="xs:string"/>'
            for item, _ in spec.data
        )
        return (
            f'<tns1:{name} wstop:topic="true"><tt:MessageDescription '
            f'IsProperty="{xml_bool(spec.is_property)}"><tt:Source>{source}</tt:Source>'
            f"<tt:Data>{data}</tt:Data></tt:MessageDescription>{children}</tns1:{name}>"
        )

    return "".join(render(name, node) for name, node in root.children.items())


@operation(Service.EVENTS, "GetEventProperties")
async def get_event_properties(ctx: RequestContext) -> SoapReply:
    return SoapReply(
        "<tev:GetEventPropertiesResponse>"
        "<tev:TopicNamespaceLocation>http://www.onvif.org/onvif/ver10/topics/topicns.xml"
        "</tev:TopicNamespaceLocation><wsnt:FixedTopicSet>true</wsnt:FixedTopicSet>"
        f"<wstop:TopicSet>{_topic_set(ctx.camera)}</wstop:TopicSet>"
        f"<wsnt:TopicExpressionDialect>{TOPIC_DIALECT}</wsnt:TopicExpressionDialect>"
        "<wsnt:TopicExpressionDialect>http://docs.oasis-open.org/wsn/t-1/TopicExpression/Concrete"
        "</wsnt:TopicExpressionDialect>"
        "<tev:MessageContentFilterDialect>http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter"
        "</tev:MessageContentFilterDialect>"
        "<tev:MessageContentSchemaLocation>http://www.onvif.org/onvif/ver10/schema/onvif.xsd"
        "</tev:MessageContentSchemaLocation></tev:GetEventPropertiesResponse>",
        action=f"{EVENTS_ACTION}/EventPortType/GetEventPropertiesResponse",
    )


def _termination(ctx: RequestContext, element_name: str) -> dt.datetime:
    requested = child_text(ctx.request.body, element_name)
    now = ctx.camera.now()
    try:
        termination = parse_termination(requested, now, DEFAULT_SUBSCRIPTION)
    except ValueError:
        raise invalid_argument(
            "TerminationTime is neither an xs:duration nor an xs:dateTime"
        ) from None
    if termination <= now:
        raise invalid_argument("TerminationTime is in the past")
    return termination


@operation(Service.EVENTS, "CreatePullPointSubscription")
async def create_pull_point_subscription(ctx: RequestContext) -> SoapReply:
    camera = ctx.camera
    termination = _termination(ctx, "InitialTerminationTime")
    subscription = camera.subscriptions.create(termination)
    if subscription is None:
        raise SoapFault(
            500,
            "env:Receiver",
            ("ter:Action", "ter:TooManySubscriptions"),
            "The device has no room for another subscription",
        )
    for event in camera.events.initial_state(camera.now()):
        subscription.push(event)
    address = f"{camera.base_url}/onvif/subscription/{subscription.subscription_id}"
    return SoapReply(
        "<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference>"
        f"<wsa:Address>{address}</wsa:Address></tev:SubscriptionReference>"
        f"<wsnt:CurrentTime>{xml_datetime(camera.now())}</wsnt:CurrentTime>"
        f"<wsnt:TerminationTime>{xml_datetime(termination)}</wsnt:TerminationTime>"
        "</tev:CreatePullPointSubscriptionResponse>",
        action=f"{EVENTS_ACTION}/EventPortType/CreatePullPointSubscriptionResponse",
    )


# --- subscription manager -------------------------------------------------------------------


@operation(Service.SUBSCRIPTION, "PullMessages")
async def pull_messages(ctx: RequestContext) -> SoapReply:
    camera = ctx.camera
    try:
        subscription = camera.subscriptions.get(ctx.subscription_id)
    except UnknownSubscription:
        raise resource_unknown(camera, ctx.subscription_id) from None
    try:
        timeout = parse_duration(child_text(ctx.request.body, "Timeout") or "PT0S")
        limit = int(child_text(ctx.request.body, "MessageLimit") or "1")
    except ValueError:
        raise invalid_argument("Timeout or MessageLimit is not valid") from None
    if limit < 1:
        raise invalid_argument("MessageLimit must be positive")
    timeout = min(timeout, MAX_PULL_TIMEOUT)
    try:
        messages = await camera.subscriptions.wait(
            subscription, timeout.total_seconds(), min(limit, MAX_MESSAGE_LIMIT)
        )
    except UnknownSubscription:
        raise resource_unknown(camera, ctx.subscription_id) from None
    notifications = "".join(message.to_xml() for message in messages)
    return SoapReply(
        f"<tev:PullMessagesResponse><tev:CurrentTime>{xml_datetime(camera.now())}</tev:CurrentTime>"
        f"<tev:TerminationTime>{xml_datetime(subscription.termination)}</tev:TerminationTime>"
        f"{notifications}</tev:PullMessagesResponse>",
        action=f"{EVENTS_ACTION}/PullPointSubscription/PullMessagesResponse",
    )


@operation(Service.SUBSCRIPTION, "Renew")
async def renew(ctx: RequestContext) -> SoapReply:
    camera = ctx.camera
    try:
        subscription = camera.subscriptions.get(ctx.subscription_id)
    except UnknownSubscription:
        raise resource_unknown(camera, ctx.subscription_id) from None
    subscription.termination = _termination(ctx, "TerminationTime")
    return SoapReply(
        f"<wsnt:RenewResponse><wsnt:TerminationTime>{xml_datetime(subscription.termination)}"
        f"</wsnt:TerminationTime><wsnt:CurrentTime>{xml_datetime(camera.now())}</wsnt:CurrentTime>"
        "</wsnt:RenewResponse>",
        action=f"{WSN_ACTION}/SubscriptionManager/RenewResponse",
    )


@operation(Service.SUBSCRIPTION, "Unsubscribe")
async def unsubscribe(ctx: RequestContext) -> SoapReply:
    try:
        ctx.camera.subscriptions.remove(ctx.subscription_id)
    except UnknownSubscription:
        raise resource_unknown(ctx.camera, ctx.subscription_id) from None
    return SoapReply(
        "<wsnt:UnsubscribeResponse/>",
        action=f"{WSN_ACTION}/SubscriptionManager/UnsubscribeResponse",
    )


@operation(Service.SUBSCRIPTION, "SetSynchronizationPoint")
async def set_synchronization_point(ctx: RequestContext) -> SoapReply:
    camera = ctx.camera
    try:
        subscription = camera.subscriptions.get(ctx.subscription_id)
    except UnknownSubscription:
        raise resource_unknown(camera, ctx.subscription_id) from None
    for event in camera.events.initial_state(camera.now()):
        subscription.push(event)
    return SoapReply(
        "<tev:SetSynchronizationPointResponse/>",
        action=f"{EVENTS_ACTION}/PullPointSubscription/SetSynchronizationPointResponse",
    )


__all__ = ["OPERATIONS", "TOPICS", "UNAUTHENTICATED", "RequestContext", "Service", "SoapFault"]
