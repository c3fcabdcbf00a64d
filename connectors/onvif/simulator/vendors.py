"""Camera makers as the simulator imitates them, Semarang's districts, and per-vendor media profiles."""

from __future__ import annotations

from dataclasses import dataclass

from connectors.onvif.simulator.events import EventStyle

# Semarang's sixteen districts: scopes and names place each camera in one.
KECAMATAN = (
    "Banyumanik", "Candisari", "Gajahmungkur", "Gayamsari", "Genuk", "Gunungpati", "Mijen",
    "Ngaliyan", "Pedurungan", "Semarang Barat", "Semarang Selatan", "Semarang Tengah",
    "Semarang Timur", "Semarang Utara", "Tembalang", "Tugu",
)  # fmt: skip

SITES = ("Pasar", "Simpang", "Kantor Kelurahan", "Taman", "Jembatan", "Halte", "Sekolah", "Masjid")


@dataclass(frozen=True)
class StreamProfile:
    """A media profile: encoder, resolution and rate, as ``GetProfiles`` reports it."""

    token: str
    name: str
    encoding: str
    width: int
    height: int
    frame_rate: int
    bitrate: int
    channel_path: str
    #: the video source it encodes, and the tokens of its source and analytics configurations
    video_source: str = "VideoSource_1"
    source_configuration: str = "VideoSourceToken"
    analytics_configuration: str | None = None


@dataclass(frozen=True)
class Vendor:
    """What differs between camera makers: naming, MAC prefix, auth fault status, event spelling."""

    manufacturer: str
    models: tuple[str, ...]
    mac_prefix: str
    serial_prefix: str
    firmware: str
    auth_fault_status: int
    stream_paths: tuple[str, ...]
    snapshot_path: str
    event_style: EventStyle
    main_encoding: str


VENDORS: tuple[Vendor, ...] = (
    Vendor(
        manufacturer="HIKVISION",
        models=("DS-2CD2143G2-I", "DS-2CD2T47G2-L", "DS-2DE4425IW-DE"),
        mac_prefix="44:19:b6",
        serial_prefix="DS-2CD2143G2-I20230915AAWR",
        firmware="V5.7.15 build 230320",
        auth_fault_status=401,
        stream_paths=(
            "/Streaming/Channels/101",
            "/Streaming/Channels/102",
            "/Streaming/Channels/103",
        ),
        snapshot_path="/onvif/snapshot?channel={channel}",
        event_style=EventStyle(
            video_source_item="VideoSourceToken",
            video_source_id="VideoSource_1",
            source_configuration="VideoSourceToken",
            analytics_configuration="VideoAnalyticsToken",
            storage_name="SD_DISK_1",
        ),
        main_encoding="H265",
    ),
    Vendor(
        manufacturer="Dahua",
        models=("IPC-HFW2431S-S-S2", "IPC-HDBW2431E-S", "SD49225XA-HNR"),
        mac_prefix="3c:ef:8c",
        serial_prefix="7J0",
        firmware="2.800.0000000.16.R, Build Date 2022-08-26",
        auth_fault_status=400,
        stream_paths=(
            "/cam/realmonitor?channel=1&subtype=0",
            "/cam/realmonitor?channel=1&subtype=1",
            "/cam/realmonitor?channel=1&subtype=2",
        ),
        snapshot_path="/onvif/snapshot?channel={channel}&type=jpeg",
        event_style=EventStyle(
            video_source_item="Source",
            video_source_id="000",
            source_configuration="000",
            analytics_configuration="000",
            storage_name="SD1",
            topic_padding="\n\t\t\t",
        ),
        main_encoding="H264",
    ),
    Vendor(
        manufacturer="AXIS",
        models=("P3245-LVE", "M3106-L Mk II", "Q6135-LE"),
        mac_prefix="ac:cc:8e",
        serial_prefix="ACCC8E",
        firmware="10.12.182",
        auth_fault_status=401,
        stream_paths=(
            "/onvif-media/media.amp?profile=profile_1_h264",
            "/onvif-media/media.amp?profile=profile_2_h264",
            "/onvif-media/media.amp?profile=profile_3_h264",
        ),
        snapshot_path="/onvif/snapshot?resolution=1920x1080&channel={channel}",
        event_style=EventStyle(
            video_source_item="VideoSourceConfigurationToken",
            video_source_id="0",
            source_configuration="0",
            analytics_configuration="VideoAnalyticsConfiguration",
            storage_name="SD_DISK",
            topic_padding=" ",
            fractional_time=True,
        ),
        main_encoding="H264",
    ),
)


def stream_profiles(vendor: Vendor, video_sources: int = 1) -> tuple[StreamProfile, ...]:
    """A camera's profiles; an encoder of several video sources has a main and a sub stream per
    source, each source with its own source and analytics configuration."""
    if video_sources > 1:
        return tuple(
            StreamProfile(
                f"Ch{source}_Profile_{n}",
                f"ch{source} {name}",
                encoding,
                width,
                height,
                fps,
                bitrate,
                f"/source{source}{vendor.stream_paths[n - 1]}",
                video_source=f"VideoSource_{source}",
                source_configuration=f"VideoSourceConfig_{source}",
                analytics_configuration=f"VideoAnalytics_{source}",
            )
            for source in range(1, video_sources + 1)
            for n, name, encoding, width, height, fps, bitrate in (
                (1, "mainStream", vendor.main_encoding, 1920, 1080, 25, 4096),
                (2, "subStream", "H264", 640, 360, 15, 512),
            )
        )
    return (
        StreamProfile("Profile_1", "mainStream", vendor.main_encoding, 2560, 1440, 25, 4096,
                      vendor.stream_paths[0]),
        StreamProfile("Profile_2", "subStream", "H264", 640, 360, 15, 512, vendor.stream_paths[1]),
        StreamProfile("Profile_3", "thirdStream", "H264", 1280, 720, 15, 1024,
                      vendor.stream_paths[2]),
    )  # fmt: skip
