"""What the operator commands compute: alert lifecycles folded, coverage from topics, dead-letter replay."""

from __future__ import annotations

import base64
import contextlib
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from hub.health.coverage import Coverage, compute_coverage
from hub.health.state import CameraHealth, on_registry, on_status
from hub.history import Record, read_history
from topics.catalog import AUDIT, CAMERA_REGISTRY, CAMERA_STATUS, DEAD_LETTERS, dispatch_spec
from topics.client import CatalogProducer, read_table
from topics.models import (
    Alert,
    AlertStatus,
    AuditRecord,
    CameraRecord,
    CameraStatus,
    DeadLetter,
    DeadLetterKind,
    Dispatch,
)


def fold_alerts(states: Iterable[Alert]) -> dict[str, Alert]:
    """The latest state of each alert (highest sequence wins; a repeat changes nothing)."""
    latest: dict[str, Alert] = {}
    for alert in states:
        known = latest.get(alert.alert_id)
        if known is None or alert.sequence > known.sequence:
            latest[alert.alert_id] = alert
    return latest


def select_alerts(
    alerts: Iterable[Alert], *, open_only: bool = False, kecamatan: str | None = None
) -> list[Alert]:
    chosen = [
        a
        for a in alerts
        if (not open_only or a.status != AlertStatus.RESOLVED)
        and (kecamatan is None or (a.location.area.kecamatan or "").lower() == kecamatan.lower())
    ]
    return sorted(chosen, key=lambda a: a.updated_at, reverse=True)


async def coverage_from_topics(
    bootstrap: str | None, offline_after_s: float, now: datetime | None = None
) -> Coverage:
    """Coverage without a worker: the registry table and the latest status of each camera."""
    now = now or datetime.now(UTC)
    registry = await read_table(CAMERA_REGISTRY, bootstrap=bootstrap, component="hub.coverage")
    cameras: dict[str, CameraHealth] = {}
    for camera_id, record in registry.items():
        assert isinstance(record, CameraRecord)
        cameras[camera_id] = on_registry(None, camera_id, record, 0, record.discovered_at)
    for status_record in await read_history(CAMERA_STATUS, bootstrap):
        status = status_record.value
        if isinstance(status, CameraStatus) and status.camera_id in cameras:
            cameras[status.camera_id], _ = on_status(cameras[status.camera_id], status, 0)
    coverage = compute_coverage(cameras.values(), now, offline_after_s)
    coverage.partitions = list(range(CAMERA_REGISTRY.partitions))
    return coverage


def letter_ids(record: Record) -> set[str]:
    """Names a dead letter answers to: its place in the topic, and a dispatch's id."""
    ids = {record.ref}
    letter = record.value
    if isinstance(letter, DeadLetter) and letter.kind == DeadLetterKind.DELIVERY_FAILED:
        with contextlib.suppress(ValueError):
            ids.add(Dispatch.model_validate_json(letter.payload).dispatch_id)
    return ids


async def dead_letters(
    bootstrap: str | None, kind: str | None = None, ids: Iterable[str] = ()
) -> list[tuple[Record, DeadLetter]]:
    wanted = set(ids)
    found = []
    for record in await read_history(DEAD_LETTERS, bootstrap):
        letter = record.value
        if not isinstance(letter, DeadLetter):
            continue
        if kind is not None and letter.kind != kind:
            continue
        if wanted and not (letter_ids(record) & wanted):
            continue
        found.append((record, letter))
    return found


class NotReplayable(ValueError):
    pass


async def replay(producer: CatalogProducer, record: Record, letter: DeadLetter, actor: str) -> str:
    """Re-produce one dead letter where it was going; returns the topic. Audited."""
    if letter.kind == DeadLetterKind.DELIVERY_FAILED:
        dispatch = Dispatch.model_validate_json(letter.payload)
        spec = dispatch_spec(dispatch.agency)
        await producer.send(spec, dispatch)
        target = spec.name
    elif letter.source_topic and not letter.payload_truncated:
        payload = (
            base64.b64decode(letter.payload)
            if letter.payload_encoding == "base64"
            else letter.payload.encode("utf-8")
        )
        key = letter.key.encode("utf-8") if letter.key is not None else None
        await producer.send_raw(letter.source_topic, payload, key=key)
        target = letter.source_topic
    else:
        raise NotReplayable(f"dead letter {record.ref} has no source topic or a truncated payload")
    await producer.send(
        AUDIT,
        AuditRecord(
            audit_id=f"aud-{uuid.uuid4().hex[:24]}",
            at=datetime.now(UTC),
            actor=actor,
            action="dlq_replay",
            subject=f"{DEAD_LETTERS.name}/{record.ref}",
            details={"kind": str(letter.kind), "target_topic": target},
        ),
    )
    return target


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``24h``, ``7d`` (a number and one unit) as a timedelta."""
    value, unit = text.strip()[:-1], text.strip()[-1:].lower()
    if unit not in _DURATION_UNITS or not value.replace(".", "", 1).isdigit():
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 30m, 24h, 7d)")
    return timedelta(seconds=float(value) * _DURATION_UNITS[unit])
