"""Media2 service operations (``ver20/media``, Profile T) of a simulated camera: profiles with
their configurations, stream and snapshot URIs, as H.265 cameras that offer only Media2 answer."""

from __future__ import annotations

from lxml import etree

from connectors.onvif.simulator.device import VirtualCamera
from connectors.onvif.simulator.device_services import (
    analytics_xml,
    requested_profile,
    snapshot_uri,
    stream_uri,
)
from connectors.onvif.simulator.operations import (
    OperationTable,
    RequestContext,
    Service,
    SoapReply,
    invalid_argument,
    offers,
)
from connectors.onvif.simulator.soap import attr, child_text, text
from connectors.onvif.simulator.vendors import StreamProfile

MEDIA2_OPERATIONS = OperationTable()

#: GetStreamUri's protocols (Media2 service specification, StreamUri)
STREAM_PROTOCOLS = frozenset({"RtspUnicast", "RtspMulticast", "RTSP", "RtspOverHttp"})


def _asked_types(ctx: RequestContext) -> set[str]:
    """The configuration types GetProfiles asked for (none: profiles without configurations)."""
    return {
        (child.text or "").strip()
        for child in ctx.request.body
        if isinstance(child.tag, str) and etree.QName(child).localname == "Type"
    }


def _configurations(camera: VirtualCamera, profile: StreamProfile, types: set[str]) -> str:
    def wanted(kind: str) -> bool:
        return "All" in types or kind in types

    parts = []
    if wanted("VideoSource"):
        parts.append(
            f"<tr2:VideoSource token={attr(profile.source_configuration)}>"
            "<tt:Name>VideoSourceConfig</tt:Name><tt:UseCount>3</tt:UseCount>"
            f"<tt:SourceToken>{text(profile.video_source)}</tt:SourceToken>"
            '<tt:Bounds x="0" y="0" width="2560" height="1440"/></tr2:VideoSource>'
        )
    if wanted("VideoEncoder"):
        number = profile.token[-1]
        parts.append(
            f'<tr2:VideoEncoder token="VideoEncoderToken_{number}" '
            f'GovLength="{profile.frame_rate * 2}" Profile="Main">'
            f"<tt:Name>VideoEncoder_{number}</tt:Name><tt:UseCount>1</tt:UseCount>"
            f"<tt:Encoding>{profile.encoding}</tt:Encoding><tt:Resolution>"
            f"<tt:Width>{profile.width}</tt:Width><tt:Height>{profile.height}</tt:Height>"
            '</tt:Resolution><tt:RateControl ConstantBitRate="false">'
            f"<tt:FrameRateLimit>{profile.frame_rate}</tt:FrameRateLimit>"
            f"<tt:BitrateLimit>{profile.bitrate}</tt:BitrateLimit></tt:RateControl>"
            "<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type><tt:IPv4Address>0.0.0.0"
            "</tt:IPv4Address></tt:Address><tt:Port>8600</tt:Port><tt:TTL>128</tt:TTL>"
            "<tt:AutoStart>false</tt:AutoStart></tt:Multicast><tt:Quality>3</tt:Quality>"
            "</tr2:VideoEncoder>"
        )
    if wanted("PTZ") and offers(camera, Service.PTZ):
        parts.append(
            '<tr2:PTZ token="PTZToken"><tt:Name>PTZ</tt:Name><tt:UseCount>3</tt:UseCount>'
            "<tt:NodeToken>PTZNODETOKEN</tt:NodeToken></tr2:PTZ>"
        )
    if wanted("Analytics"):
        parts.append(analytics_xml(profile.analytics_configuration, "tr2:Analytics"))
    return f"<tr2:Configurations>{''.join(parts)}</tr2:Configurations>" if parts else ""


@MEDIA2_OPERATIONS.handles(Service.MEDIA2, "GetProfiles")
async def get_profiles(ctx: RequestContext) -> SoapReply:
    types = _asked_types(ctx)
    profiles = "".join(
        f'<tr2:Profiles token={attr(profile.token)} fixed="true">'
        f"<tr2:Name>{text(profile.name)}</tr2:Name>"
        f"{_configurations(ctx.camera, profile, types)}</tr2:Profiles>"
        for profile in ctx.camera.profiles
    )
    return SoapReply(f"<tr2:GetProfilesResponse>{profiles}</tr2:GetProfilesResponse>")


@MEDIA2_OPERATIONS.handles(Service.MEDIA2, "GetStreamUri")
async def get_stream_uri(ctx: RequestContext) -> SoapReply:
    protocol = child_text(ctx.request.body, "Protocol")
    if protocol not in STREAM_PROTOCOLS:
        raise invalid_argument(f"unsupported stream protocol {protocol!r}")
    uri = stream_uri(ctx.camera, requested_profile(ctx))
    return SoapReply(
        f"<tr2:GetStreamUriResponse><tr2:Uri>{text(uri)}</tr2:Uri></tr2:GetStreamUriResponse>"
    )


@MEDIA2_OPERATIONS.handles(Service.MEDIA2, "GetSnapshotUri")
async def get_snapshot_uri(ctx: RequestContext) -> SoapReply:
    uri = snapshot_uri(ctx.camera, requested_profile(ctx))
    return SoapReply(
        f"<tr2:GetSnapshotUriResponse><tr2:Uri>{text(uri)}</tr2:Uri></tr2:GetSnapshotUriResponse>"
    )
