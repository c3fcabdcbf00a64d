"""Vendor variants: a simulated camera replays recorded notifications instead of drawing events.

``OnvifFleet(variants=DIR)`` (``tilik simulate onvif --variants DIR``) loads every
``NotificationMessage`` of the PullMessages responses and Notify messages in ``DIR`` (``*.xml``,
in name order; ``tests/fixtures/onvif/events`` is the project's corpus, a recorded device's
capture works the same) and each camera then raises those, in turn, at its event rate, exactly
as recorded but stamped with the camera's clock. Connectors meet the topic spellings, item
names and ElementItems of real firmware without a camera of each make.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from connectors.onvif.simulator.events import SimulatedEvent
from connectors.onvif.simulator.soap import xml_datetime
from connectors.sdk.xmlsafe import first, iter_named, parse_device_xml, text


@dataclass(frozen=True)
class ReplayedEvent(SimulatedEvent):
    """A recorded notification, sent as recorded but for its time."""

    recorded: etree._Element | None = field(default=None, compare=False)

    def to_xml(self) -> str:
        if self.recorded is None:
            return super().to_xml()
        message = copy.deepcopy(self.recorded)
        stamp = first(message, "Message", "Message")
        if stamp is None:
            stamp = first(message, "Message")
        if stamp is not None and "UtcTime" in stamp.attrib:
            stamp.set("UtcTime", xml_datetime(self.utc_time))
        return etree.tostring(message, encoding="unicode")


def load_variants(directory: Path) -> tuple[etree._Element, ...]:
    """Every NotificationMessage of the ``*.xml`` files in ``directory``, in name order."""
    messages = tuple(
        message
        for path in sorted(directory.glob("*.xml"))
        for message in iter_named(parse_device_xml(path.read_bytes()), "NotificationMessage")
    )
    if not messages:
        raise ValueError(f"no NotificationMessage in the *.xml files of {directory}")
    return messages


class VariantReplay:
    """One camera's turn through the recorded notifications."""

    def __init__(self, messages: tuple[etree._Element, ...]) -> None:
        self.messages = messages
        self.replayed = 0

    def next_event(self, now: dt.datetime) -> ReplayedEvent:
        message = self.messages[self.replayed % len(self.messages)]
        self.replayed += 1
        return ReplayedEvent(
            topic=text(message, "Topic") or "",
            utc_time=now,
            operation="Changed",
            source=(),
            data=(),
            recorded=message,
        )
