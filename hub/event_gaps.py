"""What the device event tables miss: the unknown vendor topics and codes in the dead letters,
counted by vendor and model, most frequent first, so the next table row is an obvious change.

Connectors dead-letter an event no table knows as ``unknown_event``, with the device's vendor
topic or code and its vendor and model (from the registry record) as headers
(``connectors.sdk.runtime``). Each row also names the connector whose table lacks the row (a
Hikvision camera's ONVIF topic belongs in the ONVIF table). A letter written before the vendor
and model headers existed is counted under its connector's name and an unknown model.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from topics.models import DeadLetter, DeadLetterKind

#: what a letter without a vendor or model header is counted under
UNKNOWN = "?"


@dataclass
class EventGap:
    """One vendor topic or code no table maps, as one vendor's model sent it to one connector."""

    connector: str
    vendor: str
    model: str
    vendor_topic: str
    count: int = 0
    devices: set[str] = field(default_factory=set)
    first_seen: datetime | None = None
    last_seen: datetime | None = None

    def add(self, letter: DeadLetter) -> None:
        self.count += 1
        if letter.source_device:
            self.devices.add(letter.source_device)
        at = letter.failed_at
        self.first_seen = at if self.first_seen is None else min(self.first_seen, at)
        self.last_seen = at if self.last_seen is None else max(self.last_seen, at)

    def as_dict(self) -> dict[str, object]:
        return {
            "connector": self.connector,
            "vendor": self.vendor,
            "model": self.model,
            "vendor_topic": self.vendor_topic,
            "count": self.count,
            "devices": len(self.devices),
            "first_seen": self.first_seen.isoformat() if self.first_seen else None,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
        }


def _connector(letter: DeadLetter) -> str:
    return letter.component.removeprefix("connector.") or UNKNOWN


def event_gaps(letters: Iterable[DeadLetter]) -> list[EventGap]:
    """The unknown events among ``letters``, one row per (vendor, model, topic or code), most
    frequent first (then by connector, vendor, model and topic, so the order is stable)."""
    gaps: dict[tuple[str, str, str, str], EventGap] = {}
    for letter in letters:
        if letter.kind != DeadLetterKind.UNKNOWN_EVENT:
            continue
        topic = letter.headers.get("vendor_topic")
        if not topic:
            continue
        connector = _connector(letter)
        key = (
            connector,
            letter.headers.get("vendor") or connector,
            letter.headers.get("model") or UNKNOWN,
            topic,
        )
        gap = gaps.get(key)
        if gap is None:
            gap = gaps[key] = EventGap(*key)
        gap.add(letter)
    return sorted(
        gaps.values(), key=lambda g: (-g.count, g.connector, g.vendor, g.model, g.vendor_topic)
    )
