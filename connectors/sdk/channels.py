"""Which registry camera a device's event belongs to: the channel references each camera's record
keeps from discovery, resolved the same way for every protocol.

A device names the channel of an event in its own words: an ONVIF Source item
(``VideoSourceConfigurationToken``, ``VideoSourceToken``, ``InputToken``…), a Hikvision alert's
``channelID`` or ``dynChannelID``, a Dahua record's ``index``. Those words are only meaningful
against what the device said at discovery (its video sources, its InputProxy channel list, its
channel titles), so discovery writes them into each camera's record, under ``channel_refs`` in
its ``connector_config`` (``name=value`` strings, names in lower case: ``channel_ref``). The
watching runtime builds one ``ChannelMap`` per device from the records it watches and hands it to
the device's connector (``Connector.channels``); the connector resolves an event's references
through it, first known reference wins. A reference two cameras of one device claim says
nothing and is left out. An event none of whose references is known falls back to the
connector's own numbering, as before channel references existed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from topics.models import CameraRecord

#: the key of a record's ``connector_config`` holding its channel references
CHANNEL_REFS = "channel_refs"
#: the catalog's bound on a config list (``ConnectorConfigValues``)
MAX_CHANNEL_REFS = 64


def channel_ref(name: str, value: object) -> str:
    """One reference as records keep it: ``VideoSourceToken``, ``VS 1`` → ``videosourcetoken=VS 1``."""
    return f"{name.strip().lower()}={str(value).strip()}"


@dataclass(frozen=True, slots=True)
class ChannelCamera:
    """The registry camera a reference selects, and its channel number (None: a device's only
    camera)."""

    camera_id: str
    channel: int | None = None


class ChannelMap:
    """A device's channel references, each to the camera it selects.

    One is kept per watched device, so it is slotted and makes its set of ambiguous references
    only when a device has one.
    """

    __slots__ = ("_all", "_ambiguous", "_cameras", "_first")

    def __init__(self) -> None:
        self._cameras: dict[str, ChannelCamera] = {}
        self._all: dict[str, ChannelCamera] = {}
        self._ambiguous: set[str] | None = None
        self._first: ChannelCamera | None = None

    @classmethod
    def from_records(cls, records: Iterable[CameraRecord]) -> ChannelMap:
        """The map of the references the records keep (``CHANNEL_REFS``)."""
        found = cls()
        for record in records:
            found.add(ChannelCamera(record.camera_id, record.channel), record_refs(record))
        return found

    def add(self, camera: ChannelCamera, refs: Iterable[str]) -> None:
        """Let ``refs`` select ``camera``; a reference another camera has too selects neither."""
        self._all[camera.camera_id] = camera
        if self._first is None or _order(camera) < _order(self._first):
            self._first = camera
        for ref in refs:
            if self._ambiguous is not None and ref in self._ambiguous:
                continue
            known = self._cameras.get(ref)
            if known is not None and known != camera:
                del self._cameras[ref]
                if self._ambiguous is None:
                    self._ambiguous = set()
                self._ambiguous.add(ref)
            else:
                self._cameras[ref] = camera

    def resolve(self, refs: Iterable[str]) -> ChannelCamera | None:
        """The camera the first known reference selects; None when none is known."""
        for ref in refs:
            camera = self._cameras.get(ref)
            if camera is not None:
                return camera
        return None

    @property
    def first(self) -> ChannelCamera | None:
        """The device's first camera (lowest channel): where an event of no known channel goes."""
        return self._first

    @property
    def camera_ids(self) -> list[str]:
        """Every camera of the device the map was given, with references or not."""
        return list(self._all)

    def __bool__(self) -> bool:
        """Whether any reference is known (records from before references existed have none)."""
        return bool(self._cameras)

    def __len__(self) -> int:
        return len(self._cameras)


def _order(camera: ChannelCamera) -> tuple[int, str]:
    return (camera.channel or 0, camera.camera_id)


def record_refs(record: CameraRecord) -> list[str]:
    """The channel references a record keeps (none for a record from before they existed)."""
    refs = record.connector_config.get(CHANNEL_REFS)
    if not isinstance(refs, list):
        return []
    return [ref for ref in refs if isinstance(ref, str)]


def refs_config(refs: Iterable[str]) -> dict[str, list[str]]:
    """The ``connector_config`` entry of a camera's references (empty for none), bounded as the
    catalog bounds config lists; the first references are the ones kept."""
    kept = list(dict.fromkeys(refs))[:MAX_CHANNEL_REFS]
    return {CHANNEL_REFS: kept} if kept else {}


def discovered_refs(config: Mapping[str, object]) -> dict[str, object]:
    """The part of a record's ``connector_config`` that discovery wrote (its references), which
    a connector's config never holds: onboarding keeps it beside the config's own fields."""
    return {CHANNEL_REFS: config[CHANNEL_REFS]} if CHANNEL_REFS in config else {}
