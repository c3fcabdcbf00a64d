"""Whatever the catalog admits, the rules and camera health judge without raising, and what they
publish passes the catalog's own validation (no poison pill can come through a valid payload)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from hub.harness import RuleHarness
from hub.health.state import on_registry, on_silence_check, on_status
from hub.rules import RuleEngine, load_rules
from hub.rules.testing import camera
from topics import codec
from topics.catalog import ALERTS
from topics.identity import event_id
from topics.models import (
    EARLIEST,
    LATEST,
    MAX_COUNT,
    MAX_CROWD_DENSITY,
    MAX_DWELL_S,
    MAX_FLOOD_LEVEL_CM,
    MAX_LATENCY_MS,
    Alert,
    CameraState,
    CameraStatus,
    DeviceEvent,
    EventKind,
)

MEASURES = {
    "count": "[people_count, vehicle_count, object_count, line_crossing]",
    "crowd_density": "[crowd_density]",
    "flood_level_cm": "[flood_level]",
    "mask_compliance_pct": "[mask_compliance]",
    "dwell_s": "[parking_violation, loitering, garbage]",
}


def _rules() -> str:
    rules = []
    for measure, events in MEASURES.items():
        slug = measure.replace("_", "-")
        rules.append(
            f"""
  - {{id: t-{slug}, kind: threshold, category: crowd, title: T, events: {events},
     measure: {measure}, threshold: 5, clear_at: 1, for_s: 30}}
  - {{id: w-{slug}, kind: window, category: traffic, title: W, events: {events},
     measure: {measure}, aggregate: sum, threshold: 100, window_s: 600, buckets: 6}}
  - {{id: a-{slug}, kind: window, category: traffic, title: A, events: {events},
     measure: {measure}, aggregate: avg, direction: below, threshold: 2, window_s: 60}}"""
        )
    return f"""
version: 1
defaults: {{resolve_after_s: 120, cooldown_s: 60, update_every_s: 0}}
rules:{"".join(rules)}
  - {{id: dwell, kind: dwell, category: illegal_parking, title: D, events: {MEASURES["dwell_s"]},
     min_s: 60}}
  - {{id: instant, kind: instant, category: tamper, title: I, events: [tamper, flood_level]}}
  - {{id: night, kind: instant, category: intrusion, title: N, events: [intrusion],
     schedule: {{times: ["22:00-05:00"]}}}}
  - {{id: offline, kind: offline, category: camera_offline, title: O, after_s: 90}}
"""


ENGINE = RuleEngine(load_rules(_rules()))
CAMERA = camera("ADMITTED-1", at=datetime(2026, 1, 1, tzinfo=UTC))

times = st.datetimes(
    min_value=EARLIEST.replace(tzinfo=None) - timedelta(days=1),
    max_value=LATEST.replace(tzinfo=None) + timedelta(days=1),
    timezones=st.timezones(),
)
# The hub's clock: UTC, anywhere in the catalog's range.
clock = st.datetimes(
    min_value=EARLIEST.replace(tzinfo=None),
    max_value=LATEST.replace(tzinfo=None) - timedelta(days=400),
    timezones=st.just(UTC),
)
finite = {"allow_nan": False, "allow_infinity": False}
attributes = st.fixed_dictionaries(
    {},
    optional={
        "count": st.integers(min_value=0, max_value=MAX_COUNT),
        "crowd_density": st.floats(min_value=0, max_value=MAX_CROWD_DENSITY, **finite),
        "flood_level_cm": st.floats(
            min_value=-MAX_FLOOD_LEVEL_CM, max_value=MAX_FLOOD_LEVEL_CM, **finite
        ),
        "mask_compliance_pct": st.floats(min_value=0, max_value=100, **finite),
        "dwell_s": st.floats(min_value=0, max_value=MAX_DWELL_S, **finite),
        "confidence": st.floats(min_value=0, max_value=1, **finite),
        "plate": st.text(max_size=3),
        "region": st.text(max_size=3),
    },
)


def admitted(model: type[Any], data: dict[str, Any]) -> Any:
    """``data`` as ``model`` when the catalog admits it (as the hub's edge would decode it)."""
    try:
        return model.model_validate_json(model.model_validate(data).model_dump_json())
    except ValidationError:
        assume(False)


@st.composite
def device_events(draw: st.DrawFn) -> DeviceEvent:
    kind = draw(st.sampled_from(list(EventKind)))
    device_time = draw(times)
    data = {
        "event_id": event_id(
            camera_id=CAMERA.camera_id,
            vendor_topic=str(kind),
            device_time=device_time,
            discriminator=draw(st.integers()),
        ),
        "camera_id": CAMERA.camera_id,
        "kind": kind,
        "active": draw(st.sampled_from([None, True, False])),
        "device_time": device_time,
        "received_at": draw(st.one_of(st.just(device_time), times)),
        "source": {"connector": "t", "device_id": "d", "vendor_topic": str(kind)},
        "attributes": draw(attributes),
    }
    return admitted(DeviceEvent, data)  # type: ignore[no-any-return]


def assert_publishable(alerts: list[Alert]) -> None:
    for alert in alerts:
        assert codec.decode(ALERTS, codec.encode(ALERTS, alert)) == alert


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    st.lists(st.tuples(device_events(), clock), min_size=1, max_size=6),
    st.integers(min_value=0, max_value=400 * 24 * 3600),
)
def test_rules_judge_every_admitted_event_and_time_without_raising(
    steps: list[tuple[DeviceEvent, datetime]], later_s: int
) -> None:
    harness = RuleHarness(ENGINE, [CAMERA])
    for event, now in steps:
        assert_publishable(harness.feed(event, now))
    last = max(now for _, now in steps)
    assert_publishable(harness.tick(last + timedelta(seconds=later_s)))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(list(CameraState)),
            times,
            st.one_of(st.none(), st.floats(min_value=0, max_value=MAX_LATENCY_MS, **finite)),
        ),
        min_size=1,
        max_size=6,
    ),
    clock,
)
def test_camera_health_judges_every_admitted_status_without_raising(
    reports: list[tuple[CameraState, datetime, float | None]], now: datetime
) -> None:
    harness = RuleHarness(ENGINE, [CAMERA])
    health, alerts = on_registry(None, CAMERA.camera_id, CAMERA, 0, CAMERA.discovered_at, ENGINE)
    assert_publishable(alerts)
    for state, checked_at, latency in reports:
        status = admitted(
            CameraStatus,
            {
                "camera_id": CAMERA.camera_id,
                "state": state,
                "checked_at": checked_at,
                "latency_ms": latency,
            },
        )
        health, alerts = on_status(health, status, 0, now, ENGINE)
        assert_publishable(alerts)
        assert_publishable(harness.health(status, now))
    health, alerts = on_silence_check(health, now, ENGINE)
    assert_publishable(alerts)
    assert_publishable(harness.tick(now))
