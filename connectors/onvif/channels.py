"""An ONVIF device's channels: its video sources, as its media profiles name them, and how an
event's Source items name one (``connectors.sdk.channels`` resolves them to registry cameras).

An encoder or recorder reached through ONVIF has one video source per channel; every media
profile encodes one of them (``VideoSourceConfiguration/SourceToken``). An event names the
channel it concerns in its Source items: the video source itself (``VideoSource/*`` topics:
``Source``, ``VideoSourceToken``, some firmware ``InputToken`` or ``VideoSource``), or the
configurations a profile binds to it (``RuleEngine/*`` topics: ``VideoSourceConfigurationToken``,
``VideoAnalyticsConfigurationToken``). Each token is kept under its family (``videosource=…``,
``videosourceconfiguration=…``, ``videoanalyticsconfiguration=…``), so a token of one kind never
selects a channel by a token of another kind that happens to be spelled the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from connectors.onvif.device import MediaProfile
from connectors.sdk.channels import channel_ref

VIDEO_SOURCE = "videosource"
SOURCE_CONFIGURATION = "videosourceconfiguration"
ANALYTICS_CONFIGURATION = "videoanalyticsconfiguration"

#: Source item names (lower case) by the family of token they carry, most telling first
SOURCE_ITEMS: dict[str, tuple[str, ...]] = {
    VIDEO_SOURCE: ("videosourcetoken", "videosource", "source", "inputtoken"),
    SOURCE_CONFIGURATION: ("videosourceconfigurationtoken", "videosourceconfiguration"),
    ANALYTICS_CONFIGURATION: (
        "videoanalyticsconfigurationtoken",
        "videoanalyticsconfiguration",
    ),
}


@dataclass
class SourceChannel:
    """One video source of a device: its profiles, and the references its events use."""

    video_source: str | None
    profiles: list[MediaProfile] = field(default_factory=list)

    @property
    def refs(self) -> list[str]:
        refs = [channel_ref(VIDEO_SOURCE, self.video_source)] if self.video_source else []
        for profile in self.profiles:
            for family, token in (
                (SOURCE_CONFIGURATION, profile.source_configuration),
                (ANALYTICS_CONFIGURATION, profile.analytics_configuration),
            ):
                if token:
                    refs.append(channel_ref(family, token))
        return list(dict.fromkeys(refs))


def source_channels(profiles: Iterable[MediaProfile]) -> list[SourceChannel]:
    """The device's channels in the order its profiles first name them; profiles that name no
    video source belong to the first channel (a camera's only one, most often)."""
    channels: dict[str | None, SourceChannel] = {}
    unnamed: list[MediaProfile] = []
    for profile in profiles:
        if profile.video_source is None:
            unnamed.append(profile)
            continue
        channel = channels.get(profile.video_source)
        if channel is None:
            channel = channels[profile.video_source] = SourceChannel(profile.video_source)
        channel.profiles.append(profile)
    ordered = list(channels.values()) or [SourceChannel(None)]
    ordered[0].profiles.extend(unnamed)
    return ordered


def event_refs(source_items: Mapping[str, str]) -> list[str]:
    """The references an event's Source items make, video source first (``{name: value}``, any
    case)."""
    lowered = {name.lower(): value.strip() for name, value in source_items.items()}
    refs = []
    for family, names in SOURCE_ITEMS.items():
        for name in names:
            value = lowered.get(name)
            if value:
                refs.append(channel_ref(family, value))
    return refs
