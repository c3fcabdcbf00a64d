"""What the operator commands compute: alerts and who has them, coverage from topics, dead-letter replay."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import structlog
from pydantic import BaseModel, Field

from hub.delivery.receipt import DELIVERED
from hub.health.coverage import Coverage, compute_coverage
from hub.health.state import CameraHealth, on_registry, on_status
from hub.rules import RuleEngine, RuleSet
from topics.admin import agencies_on_broker
from topics.catalog import (
    ALERTS,
    AUDIT,
    CAMERA_REGISTRY,
    CAMERA_STATUS,
    DEAD_LETTERS,
    TopicSpec,
    ack_spec,
    ack_topic_name,
    dispatch_spec,
    dispatch_topic_name,
)
from topics.client import CatalogProducer, read_records, read_table
from topics.models import (
    Alert,
    AlertAck,
    AlertStatus,
    AuditRecord,
    CameraRecord,
    CameraStatus,
    DeadLetter,
    DeadLetterKind,
    Dispatch,
)
from topics.reader import Received, TopicNotFound

log = structlog.get_logger(__name__)


async def read_history(
    spec: TopicSpec, bootstrap: str | None = None, *, since: datetime | None = None
) -> list[Received]:
    """Every record of the topic up to its current end (from ``since``, by broker timestamp); an
    invalid one is kept with its reason, and said once here."""
    records = await read_records(
        spec,
        start=since if since is not None else "beginning",
        bootstrap=bootstrap,
        component="hub.operator",
        dead_letter_invalid=False,
    )
    for record in records:
        if record.error is not None:
            log.warning(
                "invalid record",
                topic=spec.name,
                partition=record.partition,
                offset=record.offset,
                reason=record.error,
            )
    return records


def fold_alerts(states: Iterable[Alert]) -> dict[str, Alert]:
    """The latest state of each alert (highest sequence wins; a repeat changes nothing)."""
    latest: dict[str, Alert] = {}
    for alert in states:
        known = latest.get(alert.alert_id)
        if known is None or alert.sequence > known.sequence:
            latest[alert.alert_id] = alert
    return latest


class Handling(StrEnum):
    """How far one agency is with an alert: it was sent, its system received it, a person took it."""

    DISPATCHED = "dispatched"
    DELIVERED = "delivered"
    ACKNOWLEDGED = "acknowledged"


class AgencyHandling(BaseModel):
    agency: str
    escalation_level: int = Field(description="The level at which the agency first received it.")
    dispatched_at: datetime
    delivered_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None

    @property
    def state(self) -> Handling:
        if self.acknowledged_at is not None:
            return Handling.ACKNOWLEDGED
        if self.delivered_at is not None:
            return Handling.DELIVERED
        return Handling.DISPATCHED


class AlertView(BaseModel):
    """An alert's latest state and who has it: each agency it was dispatched to, and how far."""

    alert: Alert
    agencies: dict[str, AgencyHandling] = Field(default_factory=dict)

    @property
    def acknowledged(self) -> bool:
        return any(a.state is Handling.ACKNOWLEDGED for a in self.agencies.values())

    def as_json(self) -> dict[str, Any]:
        """The alert's fields, with ``agencies`` (and each one's ``state``) beside them."""
        return {
            **self.alert.model_dump(mode="json"),
            "acknowledged": self.acknowledged,
            "agencies": [
                {**a.model_dump(mode="json"), "state": a.state.value}
                for a in sorted(self.agencies.values(), key=lambda a: a.dispatched_at)
            ],
        }


def alert_views(
    states: Iterable[Alert],
    dispatches: Iterable[Dispatch] = (),
    receipts: Iterable[AuditRecord] = (),
    acks: Iterable[tuple[str, AlertAck]] = (),
) -> dict[str, AlertView]:
    """Each alert folded with its dispatches, delivery receipts and acknowledgements.

    ``acks`` pairs each acknowledgement with the agency whose topic carried it. As in the hub,
    only an agency the alert was dispatched to can acknowledge it, and only as itself.
    """
    views = {alert_id: AlertView(alert=a) for alert_id, a in fold_alerts(states).items()}
    for dispatch in sorted(dispatches, key=lambda d: d.routed_at):
        view = views.get(dispatch.alert.alert_id)
        if view is not None and dispatch.agency not in view.agencies:
            view.agencies[dispatch.agency] = AgencyHandling(
                agency=dispatch.agency,
                escalation_level=dispatch.escalation_level,
                dispatched_at=dispatch.routed_at,
            )
    for receipt in receipts:
        handling = _handling(views, receipt.subject, receipt.details.get("agency", ""))
        if receipt.action != DELIVERED or handling is None:
            continue
        if handling.delivered_at is None or receipt.at < handling.delivered_at:
            handling.delivered_at = receipt.at
    for sender, ack in acks:
        handling = _handling(views, ack.alert_id, sender)
        if ack.agency != sender or handling is None:
            continue
        if handling.acknowledged_at is None or ack.acked_at < handling.acknowledged_at:
            handling.acknowledged_at = ack.acked_at
            handling.acknowledged_by = ack.acked_by
    return views


def _handling(views: dict[str, AlertView], alert_id: str, agency: str) -> AgencyHandling | None:
    view = views.get(alert_id)
    return view.agencies.get(agency) if view is not None else None


def select_alerts(
    views: Iterable[AlertView],
    *,
    open_only: bool = False,
    kecamatan: str | None = None,
    agency: str | None = None,
) -> list[AlertView]:
    chosen = [
        v
        for v in views
        if (not open_only or v.alert.status != AlertStatus.RESOLVED)
        and (
            kecamatan is None
            or (v.alert.location.area.kecamatan or "").lower() == kecamatan.lower()
        )
        and (agency is None or agency in v.agencies)
    ]
    return sorted(chosen, key=lambda v: v.alert.updated_at, reverse=True)


async def alerts_from_topics(bootstrap: str | None, since: datetime | None) -> dict[str, AlertView]:
    """Alerts with who has them, from the alerts, dispatch, acknowledgement and audit topics."""
    agencies = agencies_on_broker(bootstrap)
    specs = [ALERTS, AUDIT, *map(dispatch_spec, agencies), *map(ack_spec, agencies)]

    async def read_agency_topic(spec: TopicSpec) -> list[Received]:
        try:
            return await read_history(spec, bootstrap, since=since)
        except TopicNotFound:
            if spec in (ALERTS, AUDIT):
                raise
            # An agency without its acknowledgement topic (made before the access model, or
            # by hand): nothing acknowledged there, not a reason to show no alerts at all.
            log.warning("agency topic missing", topic=spec.name)
            return []

    read = await asyncio.gather(*(read_agency_topic(spec) for spec in specs))
    values = {
        spec.name: [r.value for r in records] for spec, records in zip(specs, read, strict=True)
    }
    return alert_views(
        [v for v in values[ALERTS.name] if isinstance(v, Alert)],
        [v for a in agencies for v in values[dispatch_topic_name(a)] if isinstance(v, Dispatch)],
        [v for v in values[AUDIT.name] if isinstance(v, AuditRecord)],
        [(a, v) for a in agencies for v in values[ack_topic_name(a)] if isinstance(v, AlertAck)],
    )


async def registered_kecamatan(bootstrap: str | None) -> set[str]:
    """The kecamatan of the cameras in the registry."""
    registry = await read_table(CAMERA_REGISTRY, bootstrap=bootstrap, component="hub.operator")
    return {
        record.location.area.kecamatan
        for record in registry.values()
        if isinstance(record, CameraRecord) and record.location.area.kecamatan
    }


async def coverage_from_topics(
    bootstrap: str | None, offline_after_s: float, now: datetime | None = None
) -> Coverage:
    """Coverage without a worker: the registry table and the latest status of each camera."""
    now = now or datetime.now(UTC)
    registry = await read_table(CAMERA_REGISTRY, bootstrap=bootstrap, component="hub.coverage")
    # Coverage needs each camera's last sign of life only, not its offline rules.
    unwatched = RuleEngine(RuleSet())
    cameras: dict[str, CameraHealth] = {}
    for camera_id, record in registry.items():
        assert isinstance(record, CameraRecord)
        cameras[camera_id], _ = on_registry(
            None, camera_id, record, 0, record.discovered_at, unwatched
        )
    for status_record in await read_history(CAMERA_STATUS, bootstrap):
        status = status_record.value
        if isinstance(status, CameraStatus) and status.camera_id in cameras:
            cameras[status.camera_id], _ = on_status(
                cameras[status.camera_id], status, 0, now, unwatched
            )
    coverage = compute_coverage(cameras.values(), now, offline_after_s)
    coverage.partitions = list(range(CAMERA_REGISTRY.partitions))
    return coverage


def letter_ids(record: Received) -> set[str]:
    """Names a dead letter answers to: its place in the topic, and a dispatch's id."""
    ids = {record.ref}
    letter = record.value
    if isinstance(letter, DeadLetter) and letter.kind == DeadLetterKind.DELIVERY_FAILED:
        with contextlib.suppress(ValueError):
            ids.add(Dispatch.model_validate_json(letter.payload).dispatch_id)
    return ids


async def dead_letters(
    bootstrap: str | None,
    kind: str | None = None,
    ids: Iterable[str] = (),
    *,
    since: datetime | None = None,
) -> list[tuple[Received, DeadLetter]]:
    """The dead letters of ``kind`` (any kind: None), only ``ids`` when given, only those
    appended from ``since`` on when given."""
    wanted = set(ids)
    found = []
    for record in await read_history(DEAD_LETTERS, bootstrap, since=since):
        letter = record.value
        if not isinstance(letter, DeadLetter):
            continue
        if kind is not None and letter.kind != kind:
            continue
        if wanted and not (letter_ids(record) & wanted):
            continue
        found.append((record, letter))
    return found


class LetterGroup(BaseModel):
    """Dead letters with the same cause (kind, component, source topic and reason): one row."""

    newest: DeadLetter
    ref: str = Field(description="The newest letter's id")
    count: int
    refs: list[str] = Field(description="Every letter's id, newest first")


def group_letters(found: Iterable[tuple[Received, DeadLetter]]) -> list[LetterGroup]:
    """Repeats of one cause folded into one group, newest cause first: one device sending the
    same unknown topic a thousand times is one row with its count, not a thousand rows."""
    groups: dict[tuple[str, str, str | None, str], LetterGroup] = {}
    for record, letter in sorted(found, key=lambda item: item[1].failed_at, reverse=True):
        key = (letter.kind, letter.component, letter.source_topic, letter.reason)
        group = groups.get(key)
        if group is None:
            groups[key] = LetterGroup(newest=letter, ref=record.ref, count=1, refs=[record.ref])
        else:
            group.count += 1
            group.refs.append(record.ref)
    return list(groups.values())


class NotReplayable(ValueError):
    pass


async def replay(
    producer: CatalogProducer, record: Received, letter: DeadLetter, actor: str
) -> str:
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
