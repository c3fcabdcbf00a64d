"""Onboarding: check and discover a list of devices with bounded concurrency and publish their
cameras to the registry. One bad device never stops the others; each outcome is in the summary.

This module is the onboarding translation boundary for every connector and for ``tilik discover
onvif``: ``isolated`` runs one device's work under an overall deadline and turns *anything* it
raises into a ``ConnectorError``, and ``DeviceFailure`` is what the summary and the dead letters
say about it. Catching broadly is right here and nowhere else: one device's failure, even a
connector's bug, is that device's failure.

    raised by the device's work          becomes
    a ConnectorError                     itself
    the overall deadline passed          RetriableError
    pydantic ValidationError,
    ValueError, ArithmeticError          DeviceDataError (a value from the device cannot be used)
    any other Exception                  FatalConnectorError (logged with where it happened)

    DeviceDataError        -> a dead letter (device_input, the device address as source) with
                              the payload; the device is listed as failed and dead-lettered
    AuthenticationError    -> `unauthorized` statuses for the cameras the registry already has at
                              that address; the device is listed as failed and unauthorized
    RetriableError         -> retried with backoff within the deadline, then listed as failed
    ConfigurationError,
    an invalid config      -> listed as failed (a person must fix the config)

Every device gets ``DEADLINE_IN_TIMEOUTS`` of its config's request timeouts for all of its
    a credential reference
    outside the camera
    secrets namespace      -> listed as failed and audited, before any connection

Every device gets ``DEADLINE_IN_TIMEOUTS`` of its config's request timeouts for all of its
attempts together, unless the caller sets a deadline. Reasons never carry the device's password.
"""

from __future__ import annotations

import asyncio
import traceback
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog
from pydantic import ValidationError

from connectors.sdk.base import Connector, ConnectorConfig, ConnectorMetrics
from connectors.sdk.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectorError,
    DeviceDataError,
    FatalConnectorError,
    RetriableError,
)
from connectors.sdk.netpolicy import ProbePolicy, guard_config
from connectors.sdk.records import model_problems
from connectors.sdk.secrets import CameraSecrets, Credentials, RefusedReference
from core.backoff import Backoff
from core.redact import REDACTED, redact_text
from topics.catalog import AUDIT, CAMERA_REGISTRY, CAMERA_STATUS
from topics.client import CatalogProducer
from topics.deadletters import make_dead_letter
from topics.models import (
    AuditRecord,
    CameraRecord,
    CameraState,
    CameraStatus,
    DeadLetter,
    DeadLetterKind,
    utcnow,
)

log = structlog.get_logger(__name__)

T = TypeVar("T")

#: known registry cameras by device address, used to report an unauthorized device's cameras
KnownCameras = Mapping[str, list[str]]

#: a device's whole onboarding (every attempt and backoff) gets this many request timeouts
DEADLINE_IN_TIMEOUTS = 4


def device_deadline_s(timeout_s: float) -> float:
    """The default overall deadline of one device's onboarding or probe."""
    return DEADLINE_IN_TIMEOUTS * timeout_s


async def isolated(work: Callable[[], Awaitable[T]], *, device: str, deadline_s: float) -> T:
    """``await work()`` within ``deadline_s``; whatever it raises leaves as a ``ConnectorError``."""
    try:
        async with asyncio.timeout(deadline_s) as scope:
            return await work()
    except ConnectorError:
        raise
    except TimeoutError as exc:
        if scope.expired():
            message = f"not done within the device's {deadline_s:g}s deadline"
        else:
            message = f"timed out ({_where(exc)})"
        raise RetriableError(message, device=device) from exc
    except ValidationError as exc:
        raise DeviceDataError(
            f"device values do not fit: {model_problems(exc)}", device=device
        ) from exc
    except (ValueError, ArithmeticError) as exc:
        # The message may quote the value; the reason names only the kind and the place.
        raise DeviceDataError(
            f"the device sent a value that cannot be used ({type(exc).__name__} in {_where(exc)})",
            device=device,
        ) from exc
    except Exception as exc:
        # The per-device translation boundary (module docstring): a connector's bug on one
        # device is that device's failure.
        log.error(
            "connector failed on one device",
            device=device,
            error_type=type(exc).__name__,
            where=_where(exc),
        )
        raise FatalConnectorError(
            f"connector error ({type(exc).__name__} in {_where(exc)})", device=device
        ) from exc


def _where(exc: BaseException) -> str:
    """``module:function`` of the innermost frame: where it failed, without any values."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "unknown"
    frame = frames[-1]
    module = frame.filename.rsplit("/", 1)[-1].removesuffix(".py")
    return f"{module}:{frame.name}"


@dataclass(frozen=True)
class DeviceFailure:
    """Why one device was not onboarded: the SDK error type and a reason without secrets."""

    address: str
    error_type: str
    reason: str
    payload: bytes | str | None = None
    #: the device's input was at fault: it belongs in the dead letters
    input_at_fault: bool = False

    @classmethod
    def of(
        cls, address: str, exc: ConnectorError, *, credentials: Credentials | None = None
    ) -> DeviceFailure:
        reason = redact_text(str(exc))
        if credentials is not None:
            # A device knows its own password and may echo it back in a fault or an error page.
            secret = credentials.password.get_secret_value()
            if secret:
                reason = reason.replace(secret, REDACTED)
        at_fault = isinstance(exc, DeviceDataError)
        return cls(
            address=address,
            error_type=type(exc).__name__,
            reason=reason,
            payload=exc.payload if isinstance(exc, DeviceDataError) else None,
            input_at_fault=at_fault,
        )

    def dead_letter(self, component: str) -> DeadLetter:
        """The dead letter of a device whose input was at fault (kind ``device_input``)."""
        return make_dead_letter(
            kind=DeadLetterKind.DEVICE_INPUT,
            reason=self.reason,
            error_type=self.error_type,
            component=component,
            payload=self.payload,
            source_device=self.address,
        )


def resolved_credentials(config: ConnectorConfig) -> Credentials | None:
    """The config's credentials for hiding them in reasons; None when they cannot be read."""
    try:
        return config.credentials()
    except ConnectorError:
        return None


@dataclass
class OnboardSummary:
    """What onboarding did, device by device (keyed by address).

    ``failed`` has the reason of every device that was not onboarded; ``unauthorized`` and
    ``dead_lettered`` say which of them refused the credentials or sent unusable input.
    """

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
            invalid[_label(raw, index)] = f"invalid config: {model_problems(exc, limit=20)}"
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
        deadline_s: float | None = None,
    ) -> None:
        self.connector_cls = connector_cls
        self.actor = actor
        self.producer = producer
        self.component = f"connector.{connector_cls.name}"
        self.attempts = attempts
        self.known_cameras = known_cameras or {}
        self.metrics = metrics or ConnectorMetrics()
        self.summary = OnboardSummary()
        self.deadline_s = deadline_s
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
            failure = self._count_failure(config, exc)
            self.summary.failed[config.address] = failure.reason
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
        deadline = self.deadline_s or device_deadline_s(config.timeout_s)
        try:
            records = await isolated(
                lambda: self._attempts(config), device=config.address, deadline_s=deadline
            )
        except ConnectorError as exc:
            await self._failed(config, exc)
            return
        await self._publish(config, records)

    async def _attempts(self, config: ConnectorConfig) -> list[CameraRecord]:
        """Check and discover, retrying what is retriable with backoff."""
        backoff = Backoff(initial_s=self._backoff_initial_s, max_s=30)
        attempt = 1
        while True:
            connector = self.connector_cls(config)
            try:
                await connector.check()
                self.metrics.checks_ok += 1
                return await connector.discover()
            except RetriableError as exc:
                if attempt == self.attempts:
                    raise RetriableError(
                        f"{exc} (after {attempt} attempts)", device=exc.device
                    ) from exc
                self._count_failure(config, exc)
                self.metrics.retries += 1
            finally:
                await connector.close()
            await asyncio.sleep(backoff.next_delay())
            attempt += 1

    async def _failed(self, config: ConnectorConfig, exc: ConnectorError) -> None:
        failure = self._count_failure(config, exc)
        self.summary.failed[config.address] = failure.reason
        if isinstance(exc, AuthenticationError):
            await self._unauthorized(config, failure.reason)
        elif failure.input_at_fault:
            await self.producer.dead_letter(failure.dead_letter(self.component))
            self.metrics.dead_letters += 1
            self.summary.dead_lettered.append(config.address)

    def _count_failure(self, config: ConnectorConfig, exc: ConnectorError) -> DeviceFailure:
        failure = DeviceFailure.of(config.address, exc, credentials=resolved_credentials(config))
        self.metrics.checks_failed += 1
        self.metrics.count_error(exc)
        log.warning(
            "device not onboarded",
            connector=self.connector_cls.name,
            address=config.address,
            error_type=failure.error_type,
            reason=failure.reason,
        )
        return failure

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

    async def _unauthorized(self, config: ConnectorConfig, reason: str) -> None:
        self.summary.unauthorized.append(config.address)
        now = utcnow()
        statuses = [
            CameraStatus(
                camera_id=camera,
                state=CameraState.UNAUTHORIZED,
                checked_at=now,
                reason=reason[:4096],
                connector=self.connector_cls.name,
            )
            for camera in self.known_cameras.get(config.address, [])
        ]
        if statuses:
            await self.producer.send_batch(CAMERA_STATUS, statuses)
            self.metrics.statuses += len(statuses)


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
    deadline_s: float | None = None,
) -> OnboardSummary:
    """Check and discover every device, publish its cameras, return what happened to each.

    With ``actor`` set, each onboarded device also gets an audit record naming who added it.
    ``deadline_s`` bounds each device's whole onboarding (default: ``device_deadline_s`` of its
    config's ``timeout_s``)."""
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
        deadline_s=deadline_s,
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
