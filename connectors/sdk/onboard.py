"""Onboarding: check and discover a list of devices with bounded concurrency and publish their
cameras to the registry. One bad device never stops the others; each outcome is in the summary.

    DeviceDataError        -> a dead letter (device_input) with the payload; the device is skipped
    AuthenticationError    -> `unauthorized` statuses for the cameras the registry already has at
                              that address; the device is listed as unauthorized
    RetriableError         -> retried with backoff, then listed as failed
    ConfigurationError,
    an invalid config      -> listed as failed (a person must fix the config)
    a credential reference
    outside the camera
    secrets namespace      -> listed as failed and audited, before any connection
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from pydantic import ValidationError

from connectors.sdk.backoff import Backoff
from connectors.sdk.base import Connector, ConnectorConfig, ConnectorMetrics
from connectors.sdk.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectorError,
    DeviceDataError,
    RetriableError,
)
from connectors.sdk.netpolicy import ProbePolicy, guard_config
from connectors.sdk.secrets import CameraSecrets, RefusedReference
from topics.catalog import AUDIT, CAMERA_REGISTRY, CAMERA_STATUS
from topics.client import CatalogProducer
from topics.deadletters import make_dead_letter
from topics.models import (
    AuditRecord,
    CameraRecord,
    CameraState,
    CameraStatus,
    DeadLetterKind,
    utcnow,
)

log = structlog.get_logger(__name__)

#: known registry cameras by device address, used to report an unauthorized device's cameras
KnownCameras = Mapping[str, list[str]]


@dataclass
class OnboardSummary:
    """What onboarding did, device by device (keyed by address)."""

    published: dict[str, list[str]] = field(default_factory=dict)
    unauthorized: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    dead_lettered: list[str] = field(default_factory=list)

    @property
    def cameras(self) -> int:
        return sum(len(ids) for ids in self.published.values())

    @property
    def ok(self) -> bool:
        return not (self.unauthorized or self.failed or self.dead_lettered)

    def as_dict(self) -> dict[str, Any]:
        return {
            "devices_onboarded": len(self.published),
            "cameras_published": self.cameras,
            "published": self.published,
            "unauthorized": self.unauthorized,
            "failed": self.failed,
            "dead_lettered": self.dead_lettered,
        }


def _label(raw: Mapping[str, Any] | ConnectorConfig, index: int) -> str:
    if isinstance(raw, ConnectorConfig):
        return raw.address
    return str(raw.get("address", f"config #{index}"))


def parse_configs(
    connector_cls: type[Connector[Any]], raw_configs: Iterable[Mapping[str, Any] | ConnectorConfig]
) -> tuple[list[ConnectorConfig], dict[str, str]]:
    """Validate raw configs; the invalid ones come back as ``{label: reason}``.

    A config whose address the network policy refuses is invalid too, before anything connects.
    """
    valid: list[ConnectorConfig] = []
    invalid: dict[str, str] = {}
    policy = ProbePolicy.default()
    for index, raw in enumerate(raw_configs):
        try:
            config = (
                raw
                if isinstance(raw, ConnectorConfig)
                else connector_cls.config_model.model_validate(raw)
            )
            guard_config(connector_cls, config, policy)
            valid.append(config)
        except ConfigurationError as exc:
            invalid[_label(raw, index)] = str(exc)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
            )
            invalid[_label(raw, index)] = f"invalid config: {problems}"
    return valid, invalid


class Onboarding:
    """One onboarding run of one connector class."""

    def __init__(
        self,
        connector_cls: type[Connector[Any]],
        producer: CatalogProducer,
        *,
        concurrency: int = 8,
        attempts: int = 3,
        known_cameras: KnownCameras | None = None,
        metrics: ConnectorMetrics | None = None,
        backoff_initial_s: float = 1.0,
        actor: str | None = None,
    ) -> None:
        self.connector_cls = connector_cls
        self.actor = actor
        self.producer = producer
        self.component = f"connector.{connector_cls.name}"
        self.attempts = attempts
        self.known_cameras = known_cameras or {}
        self.metrics = metrics or ConnectorMetrics()
        self.summary = OnboardSummary()
        self._limit = asyncio.Semaphore(concurrency)
        self._backoff_initial_s = backoff_initial_s

    async def run(self, configs: Iterable[ConnectorConfig]) -> OnboardSummary:
        admitted = [config for config in configs if await self._admitted(config)]
        await asyncio.gather(*(self._guarded(config) for config in admitted))
        return self.summary

    async def _admitted(self, config: ConnectorConfig) -> bool:
        """False (listed as failed, audited) when the credential reference leaves the namespace."""
        if config.credential_ref is None:
            return True
        try:
            CameraSecrets.configured().confine(config.credential_ref)
        except RefusedReference as exc:
            self._count_failure(exc)
            self.summary.failed[config.address] = str(exc)
            await self.producer.send(
                AUDIT,
                exc.audit_record(
                    actor=self.actor or self.component,
                    subject=config.address,
                    details={"connector": self.connector_cls.name, "address": config.address},
                ),
            )
            return False
        return True

    async def _guarded(self, config: ConnectorConfig) -> None:
        async with self._limit:
            await self._device(config)

    async def _device(self, config: ConnectorConfig) -> None:
        backoff = Backoff(initial_s=self._backoff_initial_s, max_s=30)
        for attempt in range(1, self.attempts + 1):
            connector = self.connector_cls(config)
            try:
                await connector.check()
                self.metrics.checks_ok += 1
                records = await connector.discover()
            except RetriableError as exc:
                self._count_failure(exc)
                if attempt == self.attempts:
                    self.summary.failed[config.address] = f"{exc} (after {attempt} attempts)"
                    return
                self.metrics.retries += 1
                await asyncio.sleep(backoff.next_delay())
                continue
            except AuthenticationError as exc:
                self._count_failure(exc)
                await self._unauthorized(config, exc)
                return
            except DeviceDataError as exc:
                self._count_failure(exc)
                await self._dead_letter(config, exc)
                return
            except ConnectorError as exc:
                self._count_failure(exc)
                self.summary.failed[config.address] = f"{type(exc).__name__}: {exc}"
                return
            finally:
                await connector.close()
            await self._publish(config, records)
            return

    def _count_failure(self, exc: ConnectorError) -> None:
        self.metrics.checks_failed += 1
        self.metrics.count_error(exc)
        log.warning(
            "device not onboarded",
            connector=self.connector_cls.name,
            error_type=type(exc).__name__,
            reason=str(exc),
        )

    async def _publish(self, config: ConnectorConfig, records: list[CameraRecord]) -> None:
        await self.producer.send_batch(CAMERA_REGISTRY, records)
        if self.actor is not None:
            await self._audit(config, records)
        self.metrics.cameras_discovered += len(records)
        self.summary.published[config.address] = [r.camera_id for r in records]
        log.info(
            "device onboarded",
            connector=self.connector_cls.name,
            address=config.address,
            cameras=len(records),
        )

    async def _audit(self, config: ConnectorConfig, records: list[CameraRecord]) -> None:
        """One audit record per onboarded device: who added which cameras, through what."""
        devices = sorted({r.device_id for r in records}) or [config.address]
        for device in devices:
            cameras = [r.camera_id for r in records if r.device_id == device]
            await self.producer.send(
                AUDIT,
                AuditRecord(
                    audit_id=f"aud-{uuid.uuid4().hex[:24]}",
                    at=utcnow(),
                    actor=self.actor or "unknown",
                    action="camera_onboard",
                    subject=device,
                    details={
                        "connector": self.connector_cls.name,
                        "address": config.address,
                        "owner": config.owner.id,
                        "cameras": ",".join(cameras)[:4096],
                    },
                ),
            )

    async def _unauthorized(self, config: ConnectorConfig, exc: AuthenticationError) -> None:
        self.summary.unauthorized.append(config.address)
        now = utcnow()
        statuses = [
            CameraStatus(
                camera_id=camera,
                state=CameraState.UNAUTHORIZED,
                checked_at=now,
                reason=str(exc),
                connector=self.connector_cls.name,
            )
            for camera in self.known_cameras.get(config.address, [])
        ]
        if statuses:
            await self.producer.send_batch(CAMERA_STATUS, statuses)
            self.metrics.statuses += len(statuses)

    async def _dead_letter(self, config: ConnectorConfig, exc: DeviceDataError) -> None:
        await self.producer.dead_letter(
            make_dead_letter(
                kind=DeadLetterKind.DEVICE_INPUT,
                reason=str(exc),
                error_type=type(exc).__name__,
                component=self.component,
                payload=exc.payload,
                source_device=exc.device or config.address,
            )
        )
        self.metrics.dead_letters += 1
        self.summary.dead_lettered.append(config.address)


async def onboard(
    connector_cls: type[Connector[Any]],
    configs: Iterable[Mapping[str, Any] | ConnectorConfig],
    *,
    producer: CatalogProducer,
    concurrency: int = 8,
    attempts: int = 3,
    known_cameras: KnownCameras | None = None,
    metrics: ConnectorMetrics | None = None,
    backoff_initial_s: float = 1.0,
    actor: str | None = None,
) -> OnboardSummary:
    """Check and discover every device, publish its cameras, return what happened to each.

    With ``actor`` set, each onboarded device also gets an audit record naming who added it."""
    valid, invalid = parse_configs(connector_cls, configs)
    run = Onboarding(
        connector_cls,
        producer,
        concurrency=concurrency,
        attempts=attempts,
        known_cameras=known_cameras,
        metrics=metrics,
        backoff_initial_s=backoff_initial_s,
        actor=actor,
    )
    run.summary.failed.update(invalid)
    return await run.run(valid)


def cameras_by_address(registry: Mapping[str, Any], connector: str) -> dict[str, list[str]]:
    """Registry table (``read_table`` output) -> camera ids per address, for one connector."""
    by_address: dict[str, list[str]] = {}
    for record in registry.values():
        if isinstance(record, CameraRecord) and record.connector == connector:
            by_address.setdefault(record.address, []).append(record.camera_id)
    return by_address
