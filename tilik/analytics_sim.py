"""A simulated video-analytics engine: crowd, flood, garbage, parking and mask-compliance readings.

ONVIF and vendor cameras report motion, tamper, line crossing and counts themselves; the city's
analytics platform adds the higher-level readings. This stands in for that platform in demos and
benchmarks, publishing normalised ``DeviceEvent`` records to the catalog like any connector.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from topics.identity import event_id
from topics.models import (
    CameraRecord,
    DeviceEvent,
    EventAttributes,
    EventKind,
    EventSource,
    ObjectClass,
    SiteType,
    utcnow,
)

ANALYTICS_CONNECTOR = "analytics"


@dataclass(frozen=True)
class Scenario:
    """One kind of reading, the sites it is measured at, and how to draw a value."""

    kind: EventKind
    sites: frozenset[SiteType]
    attributes: Callable[[random.Random, bool], dict[str, object]]


def _crowd(rng: random.Random, incident: bool) -> dict[str, object]:
    return {"crowd_density": round(rng.uniform(4.2, 6.0) if incident else rng.uniform(0.2, 2.0), 2)}


def _flood(rng: random.Random, incident: bool) -> dict[str, object]:
    return {"flood_level_cm": round(rng.uniform(62, 90) if incident else rng.uniform(0, 15), 1)}


def _mask(rng: random.Random, incident: bool) -> dict[str, object]:
    return {
        "mask_compliance_pct": round(rng.uniform(20, 50) if incident else rng.uniform(75, 98), 1)
    }


def _parking(rng: random.Random, incident: bool) -> dict[str, object]:
    # The analytics engine tracks the vehicle and reports how long it has stood there.
    dwell = rng.uniform(660, 1200) if incident else rng.uniform(30, 300)
    return {
        "object_class": ObjectClass.CAR,
        "dwell_s": round(dwell),
        "region": f"no-parking-{rng.randint(1, 3)}",
        "plate": f"H {rng.randint(1000, 9999)} {rng.choice(['AB', 'KL', 'QZ', 'XT'])}",
    }


def _garbage(rng: random.Random, incident: bool) -> dict[str, object]:
    dwell = rng.uniform(7300, 9000) if incident else rng.uniform(60, 900)
    return {"object_class": ObjectClass.GARBAGE, "dwell_s": round(dwell), "region": "roadside"}


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(EventKind.CROWD_DENSITY, frozenset({SiteType.MARKET, SiteType.TOURIST_SITE}), _crowd),
    Scenario(EventKind.FLOOD_LEVEL, frozenset({SiteType.RIVER, SiteType.INFRASTRUCTURE}), _flood),
    Scenario(EventKind.MASK_COMPLIANCE, frozenset({SiteType.HOSPITAL}), _mask),
    Scenario(
        EventKind.PARKING_VIOLATION,
        frozenset({SiteType.MAIN_ROAD, SiteType.INTERSECTION, SiteType.MARKET}),
        _parking,
    ),
    Scenario(
        EventKind.GARBAGE, frozenset({SiteType.RT_POST, SiteType.MARKET, SiteType.RIVER}), _garbage
    ),
)


class AnalyticsEngine:
    """Draws readings for the cameras it is given; a few cameras per scenario are 'incidents'."""

    def __init__(
        self, cameras: list[CameraRecord], *, seed: int = 11, incident_share: float = 0.15
    ):
        self.rng = random.Random(seed)
        self.assignments: list[tuple[Scenario, CameraRecord, bool]] = []
        for scenario in SCENARIOS:
            eligible = [c for c in cameras if c.site_type in scenario.sites]
            for camera in eligible:
                self.assignments.append((scenario, camera, self.rng.random() < incident_share))
            if eligible and not any(
                s is scenario and incident for s, _, incident in self.assignments
            ):
                # Every scenario shows at least one incident, so the demo reaches every agency.
                index = next(i for i, (s, _, _) in enumerate(self.assignments) if s is scenario)
                s, camera, _ = self.assignments[index]
                self.assignments[index] = (s, camera, True)

    def readings(self, now: datetime | None = None) -> list[DeviceEvent]:
        """One reading from every assigned camera, stamped ``now`` (device and receive time)."""
        at = now or utcnow()
        events = []
        for scenario, camera, incident in self.assignments:
            attributes = {
                k: v for k, v in scenario.attributes(self.rng, incident).items() if v is not None
            }
            active = (
                True if scenario.kind in {EventKind.PARKING_VIOLATION, EventKind.GARBAGE} else None
            )
            topic = f"analytics/{scenario.kind.value}"
            events.append(
                DeviceEvent(
                    event_id=event_id(
                        camera_id=camera.camera_id,
                        vendor_topic=topic,
                        device_time=at,
                        discriminator=tuple(sorted(attributes.items())),
                    ),
                    camera_id=camera.camera_id,
                    kind=scenario.kind,
                    active=active,
                    device_time=at,
                    received_at=at,
                    source=EventSource(
                        connector=ANALYTICS_CONNECTOR,
                        device_id=camera.device_id,
                        channel=camera.channel,
                        vendor_topic=topic,
                    ),
                    attributes=EventAttributes.model_validate(attributes),
                )
            )
        return events
