"""Device, media and PTZ service operations of a simulated camera."""

from __future__ import annotations

import datetime as dt

from connectors.onvif.simulator.device import VirtualCamera
from connectors.onvif.simulator.event_services import events_capabilities
from connectors.onvif.simulator.operations import (
    OperationTable,
    RequestContext,
    Service,
    SoapFault,
    SoapReply,
    offers,
    xaddr,
)
from connectors.onvif.simulator.soap import NAMESPACES, attr, child_text, text, xml_datetime
from connectors.onvif.simulator.vendors import StreamProfile

RTSP_PORT = 554

DEVICE_OPERATIONS = OperationTable()


@DEVICE_OPERATIONS.handles(Service.DEVICE, "GetSystemDateAndTime")
async def get_system_date_and_time(ctx: RequestContext) -> SoapReply:
    now = ctx.camera.now()
    local = now + dt.timedelta(hours=7)  # WIB, Semarang's zone
    # A corrupt RTC reports any year at all (the clock_year fault); tokens still use the true one.
    reported_year = int(ctx.camera.faults.clock_year)

    def stamp(moment: dt.datetime) -> str:
        return (
            f"<tt:Time><tt:Hour>{moment.hour}</tt:Hour><tt:Minute>{moment.minute}</tt:Minute>"
            f"<tt:Second>{moment.second}</tt:Second></tt:Time><tt:Date><tt:Year>"
            f"{reported_year or moment.year}</tt:Year><tt:Month>{moment.month}</tt:Month>"
            f"<tt:Day>{moment.day}</tt:Day></tt:Date>"
        )

    return SoapReply(
        "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
        "<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
        "<tt:TimeZone><tt:TZ>WIB-7</tt:TZ></tt:TimeZone>"
        f"<tt:UTCDateTime>{stamp(now)}</tt:UTCDateTime>"
        f"<tt:LocalDateTime>{stamp(local)}</tt:LocalDateTime>"
        "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
    )


@DEVICE_OPERATIONS.handles(Service.DEVICE, "GetDeviceInformation")
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
        (NAMESPACES["tr2"], Service.MEDIA2, 2, 60),
        (NAMESPACES["tev"], Service.EVENTS, 2, 60),
        (NAMESPACES["tptz"], Service.PTZ, 2, 60),
    ]
    return [entry for entry in entries if offers(camera, entry[1])]


@DEVICE_OPERATIONS.handles(Service.DEVICE, "GetServices")
async def get_services(ctx: RequestContext) -> SoapReply:
    include = (child_text(ctx.request.body, "IncludeCapability") or "").lower() == "true"
    services = []
    for namespace, service, major, minor in _service_entries(ctx.camera):
        capabilities = ""
        if include and service is Service.EVENTS:
            capabilities = f"<tds:Capabilities>{events_capabilities()}</tds:Capabilities>"
        services.append(
            f"<tds:Service><tds:Namespace>{namespace}</tds:Namespace>"
            f"<tds:XAddr>{xaddr(ctx.camera, service)}</tds:XAddr>{capabilities}"
            f"<tds:Version><tt:Major>{major}</tt:Major><tt:Minor>{minor}</tt:Minor></tds:Version>"
            "</tds:Service>"
        )
    return SoapReply(f"<tds:GetServicesResponse>{''.join(services)}</tds:GetServicesResponse>")


@DEVICE_OPERATIONS.handles(Service.DEVICE, "GetCapabilities")
async def get_capabilities(ctx: RequestContext) -> SoapReply:
    camera = ctx.camera
    ptz = (
        f"<tt:PTZ><tt:XAddr>{xaddr(camera, Service.PTZ)}</tt:XAddr></tt:PTZ>"
        if offers(camera, Service.PTZ)
        else ""
    )
    # GetCapabilities predates Media2: a Media2-only camera lists no media here.
    media = (
        f"<tt:Media><tt:XAddr>{xaddr(camera, Service.MEDIA)}</tt:XAddr>"
        "<tt:StreamingCapabilities><tt:RTPMulticast>false</tt:RTPMulticast>"
        "<tt:RTP_TCP>true</tt:RTP_TCP><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP>"
        "</tt:StreamingCapabilities></tt:Media>"
        if offers(camera, Service.MEDIA)
        else ""
    )
    return SoapReply(
        "<tds:GetCapabilitiesResponse><tds:Capabilities>"
        f"<tt:Device><tt:XAddr>{xaddr(camera, Service.DEVICE)}</tt:XAddr>"
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
        f"<tt:Events><tt:XAddr>{xaddr(camera, Service.EVENTS)}</tt:XAddr>"
        "<tt:WSSubscriptionPolicySupport>true</tt:WSSubscriptionPolicySupport>"
        "<tt:WSPullPointSupport>true</tt:WSPullPointSupport>"
        "<tt:WSPausableSubscriptionManagerInterfaceSupport>false"
        "</tt:WSPausableSubscriptionManagerInterfaceSupport></tt:Events>"
        f"{media}{ptz}</tds:Capabilities></tds:GetCapabilitiesResponse>"
    )


@DEVICE_OPERATIONS.handles(Service.DEVICE, "GetScopes")
async def get_scopes(ctx: RequestContext) -> SoapReply:
    scopes = "".join(
        f"<tds:Scopes><tt:ScopeDef>Fixed</tt:ScopeDef><tt:ScopeItem>{text(scope)}</tt:ScopeItem>"
        "</tds:Scopes>"
        for scope in ctx.camera.identity.scopes
    )
    return SoapReply(f"<tds:GetScopesResponse>{scopes}</tds:GetScopesResponse>")


@DEVICE_OPERATIONS.handles(Service.DEVICE, "GetNetworkInterfaces")
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


@DEVICE_OPERATIONS.handles(Service.DEVICE, "GetHostname")
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
        f"<tt:VideoSourceConfiguration token={attr(profile.source_configuration)}>"
        "<tt:Name>VideoSourceConfig</tt:Name><tt:UseCount>3</tt:UseCount>"
        f"<tt:SourceToken>{text(profile.video_source)}</tt:SourceToken>"
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
        f"{analytics_xml(profile.analytics_configuration)}</trt:Profiles>"
    )


def analytics_xml(token: str | None, element: str = "tt:VideoAnalyticsConfiguration") -> str:
    """A profile's video analytics configuration (``element``: Media's or Media2's name)."""
    if token is None:
        return ""
    return (
        f"<{element} token={attr(token)}><tt:Name>{text(token)}</tt:Name>"
        "<tt:UseCount>2</tt:UseCount><tt:AnalyticsEngineConfiguration/>"
        f"<tt:RuleEngineConfiguration/></{element}>"
    )


def requested_profile(ctx: RequestContext) -> StreamProfile:
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


@DEVICE_OPERATIONS.handles(Service.MEDIA, "GetProfiles")
async def get_profiles(ctx: RequestContext) -> SoapReply:
    profiles = "".join(_profile_xml(profile) for profile in ctx.camera.profiles)
    return SoapReply(f"<trt:GetProfilesResponse>{profiles}</trt:GetProfilesResponse>")


def stream_uri(camera: VirtualCamera, profile: StreamProfile) -> str:
    return f"rtsp://{camera.host}:{RTSP_PORT}{profile.channel_path}"


def snapshot_uri(camera: VirtualCamera, profile: StreamProfile) -> str:
    path = camera.identity.vendor.snapshot_path.format(channel=profile.token[-1])
    return f"{camera.base_url}{path}"


@DEVICE_OPERATIONS.handles(Service.MEDIA, "GetStreamUri")
async def get_stream_uri(ctx: RequestContext) -> SoapReply:
    uri = stream_uri(ctx.camera, requested_profile(ctx))
    return SoapReply(f"<trt:GetStreamUriResponse>{_media_uri(uri)}</trt:GetStreamUriResponse>")


@DEVICE_OPERATIONS.handles(Service.MEDIA, "GetSnapshotUri")
async def get_snapshot_uri(ctx: RequestContext) -> SoapReply:
    uri = snapshot_uri(ctx.camera, requested_profile(ctx))
    return SoapReply(f"<trt:GetSnapshotUriResponse>{_media_uri(uri)}</trt:GetSnapshotUriResponse>")


# --- PTZ service ----------------------------------------------------------------------------


@DEVICE_OPERATIONS.handles(Service.PTZ, "GetNodes")
async def get_nodes(ctx: RequestContext) -> SoapReply:
    return SoapReply(
        '<tptz:GetNodesResponse><tptz:PTZNode token="PTZNODETOKEN" FixedHomePosition="true">'
        "<tt:Name>PTZNODE</tt:Name><tt:SupportedPTZSpaces/><tt:MaximumNumberOfPresets>300"
        "</tt:MaximumNumberOfPresets><tt:HomeSupported>true</tt:HomeSupported></tptz:PTZNode>"
        "</tptz:GetNodesResponse>"
    )


@DEVICE_OPERATIONS.handles(Service.PTZ, "GetStatus")
async def get_ptz_status(ctx: RequestContext) -> SoapReply:
    return SoapReply(
        "<tptz:GetStatusResponse><tptz:PTZStatus><tt:Position>"
        '<tt:PanTilt x="0" y="0" space="http://www.onvif.org/ver10/tptz/PanTiltSpaces/PositionGenericSpace"/>'
        '<tt:Zoom x="0" space="http://www.onvif.org/ver10/tptz/ZoomSpaces/PositionGenericSpace"/>'
        "</tt:Position><tt:MoveStatus><tt:PanTilt>IDLE</tt:PanTilt><tt:Zoom>IDLE</tt:Zoom>"
        f"</tt:MoveStatus><tt:UtcTime>{xml_datetime(ctx.camera.now())}</tt:UtcTime>"
        "</tptz:PTZStatus></tptz:GetStatusResponse>"
    )


@DEVICE_OPERATIONS.handles(Service.PTZ, "ContinuousMove")
async def continuous_move(ctx: RequestContext) -> SoapReply:
    return SoapReply("<tptz:ContinuousMoveResponse/>")


@DEVICE_OPERATIONS.handles(Service.PTZ, "Stop")
async def stop(ctx: RequestContext) -> SoapReply:
    return SoapReply("<tptz:StopResponse/>")
