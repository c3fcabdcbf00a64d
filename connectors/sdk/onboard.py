"""Onboarding: the one pipeline that puts devices' cameras into the registry, for every connector,
``tilik connectors onboard``, ``tilik discover onvif`` and the HTTP service.

    configs ──► admitted? ──► read each device ──► register ──► publish, audit ──► watched?
                (policy,      (bounded            (merge with    (registry,        (the watching
                 reference     concurrency,        what is known, audit topic)       runtime's word,
                 namespace)    retries, deadline)  removals)                         watchcheck)

- **Admission.** A config whose address the network policy refuses, whose values a registry
  record cannot carry (``registration.connector_config_of``) or whose credential reference
  leaves the camera secrets namespace fails before anything connects (the last one audited).
- **Reading a device** is the connector's ``check()`` then ``discover()`` (``connector_reader``),
  or a reader the caller gives (``tilik discover onvif`` gives its probe). It runs under the
  translation boundary (below), with retries of what is retriable.
- **Registering** merges each camera with the registry (``connectors.sdk.registration``): the
  device's word refreshed, people's decisions kept unless an entry of this onboarding names the
  camera, the whole connector config carried for the runtime. A camera someone removed
  (``connectors.sdk.removal``) is withheld unless the onboarding readmits it.
- **Publishing** writes the device's records and one audit record per camera that changed (who,
  what, which camera and device; ``camera_registered`` / ``camera_updated`` /
  ``camera_readmitted``).
- **Watched?** With ``verify_s``, onboarding asks the runtime that will watch the cameras whether
  their credential reference resolves there (``connectors.sdk.watchcheck``). A camera it cannot
  watch that the registry had before with another credential reference or connector config gets
  that one back (``camera_restored``): an attempt that fails where the cameras run does not break
  their working registration.

A device that fails changes nothing: not its cameras' records, not their statuses (which only the
watching runtime reports). It is listed once, under ``failed``, with what went wrong.

Each device's work runs inside the onboarding translation boundary (``isolated``, in
``connectors.sdk.boundary``, with what becomes of each error). The outcome:

    DeviceDataError        -> a dead letter (device_input, the device address as source) with
                              the payload; listed as failed, ``dead_lettered``
    AuthenticationError,
    ConfigurationError     -> listed as failed (a person must fix the credentials or config)
    RetriableError         -> retried with backoff within the deadline, then listed as failed
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog
from pydantic import BaseModel, ValidationError

from connectors.sdk.base import Connector, ConnectorConfig, ConnectorMetrics
from connectors.sdk.boundary import (
    DEADLINE_IN_TIMEOUTS,
    DeviceFailure,
    device_deadline_s,
    isolated,
    resolved_credentials,
)
from connectors.sdk.errors import ConfigurationError, ConnectorError, RetriableError
from connectors.sdk.netpolicy import ProbePolicy, guard_config
from connectors.sdk.records import model_problems
from connectors.sdk.registration import (
    Registration,
    connector_config_of,
    register,
    removed_reason,
    restoration_audit,
    restore_connection,
)
from connectors.sdk.secrets import CameraSecrets, RefusedReference
from connectors.sdk.watchcheck import WatchReports, runtime_members, watch_group
from core.backoff import Backoff
from core.collector import fewer_collections
from topics.catalog import (
    AUDIT,
    CAMERA_REGISTRY,
    CAMERA_REMOVALS,
    CAMERA_WATCH,
    DEAD_LETTERS,
    TopicSpec,
)
from topics.client import CatalogProducer, read_table
from topics.models import CameraRecord, CameraRemoval, WatchState

# The per-device boundary (connectors.sdk.boundary) is part of onboarding's API, as before.
__all__ = [
    "DEADLINE_IN_TIMEOUTS",
    "ONBOARDING_TOPICS",
    "VERIFY_S",
    "DeviceFailure",
    "DeviceReader",
    "OnboardOptions",
    "OnboardSummary",
    "Onboarding",
    "ProgressCallback",
    "connector_reader",
    "device_deadline_s",
    "isolated",
    "onboard",
    "parse_configs",
]

log = structlog.get_logger(__name__)

#: the topics onboarding reads and writes (``tilik topics apply`` creates them)
ONBOARDING_TOPICS: tuple[TopicSpec, ...] = (
    CAMERA_REGISTRY,
    CAMERA_REMOVALS,
    CAMERA_WATCH,
    AUDIT,
    DEAD_LETTERS,
)

#: reads one device: the camera records it reports (raises what ``isolated`` translates)
DeviceReader = Callable[[ConnectorConfig], Awaitable[list[CameraRecord]]]
#: ``(devices done, devices in all)``, at most about once a second and once at the end
ProgressCallback = Callable[[int, int], None]


def connector_reader(connector_cls: type[Connector[Any]]) -> DeviceReader:
    """The connector contract as a reader: ``check()``, then ``discover()``, then ``close()``."""

    async def read(config: ConnectorConfig) -> list[CameraRecord]:
        connector = connector_cls(config)
        try:
            await connector.check()
            return await connector.discover()
        finally:
            await connector.close()

    return read


#: how long the onboarding commands wait for the watching runtime's word by default
VERIFY_S = 10.0


@dataclass(frozen=True)
class OnboardOptions:
    """How one onboarding runs (every field has a CLI flag)."""

    concurrency: int = 8
    #: tries of a device whose failure is retriable (1: one try, as a network scan wants)
    attempts: int = 3
    backoff_initial_s: float = 1.0
    #: each device's whole onboarding (default: ``device_deadline_s`` of its ``timeout_s``)
    deadline_s: float | None = None
    #: who onboards, for the audit topic (default: the connector component)
    actor: str | None = None
    #: register cameras that were removed, instead of withholding them
    readmit: bool = False
    #: how long to wait for the watching runtime's word on the cameras published (0: do not ask)
    verify_s: float = 0.0
    #: the watching runtimes' consumer group (default: ``tilik-connector-<name>``)
    watch_group: str | None = None


@dataclass
class OnboardSummary:
    """What onboarding did. Every device is in ``published`` or in ``failed``, never in both;
    a camera found again after its removal is in ``withheld``; a published camera the watching
    runtime cannot watch is in ``not_watched``, one nobody answered for in ``unconfirmed``."""

    dry_run: bool = False
    #: device address -> camera ids registered (found, in a dry run)
    published: dict[str, list[str]] = field(default_factory=dict)
    #: device address -> why it was not onboarded; nothing about its cameras changed
    failed: dict[str, DeviceFailure] = field(default_factory=dict)
    #: camera id -> why it was not registered again
    withheld: dict[str, str] = field(default_factory=dict)
    #: camera id -> why the runtime that owns it does not watch it
    not_watched: dict[str, str] = field(default_factory=dict)
    #: camera id -> why no runtime confirmed it
    unconfirmed: dict[str, str] = field(default_factory=dict)
    #: camera id -> the record published (found, in a dry run)
    records: dict[str, CameraRecord] = field(default_factory=dict)
    audited: int = 0

    @property
    def cameras(self) -> int:
        return sum(len(ids) for ids in self.published.values())

    @property
    def dead_lettered(self) -> list[str]:
        """Addresses of failed devices whose input went to the dead letters."""
        if self.dry_run:
            return []
        return [address for address, failure in self.failed.items() if failure.input_at_fault]

    @property
    def ok(self) -> bool:
        return not (self.failed or self.not_watched)

    def as_dict(self) -> dict[str, Any]:
        dead_lettered = set(self.dead_lettered)
        return {
            "ok": self.ok,
            "dry_run": self.dry_run,
            "devices_onboarded": len(self.published),
            "cameras_published": self.cameras,
            "published": self.published,
            "failed": {
                address: {**failure.as_dict(), "dead_lettered": address in dead_lettered}
                for address, failure in self.failed.items()
            },
            "withheld": self.withheld,
            "not_watched": self.not_watched,
            "unconfirmed": self.unconfirmed,
            "audit_records": self.audited,
        }


def parse_configs(
    connector_cls: type[Connector[Any]],
    raw_configs: Iterable[Mapping[str, Any] | ConnectorConfig],
    policy: ProbePolicy | None = None,
) -> tuple[list[ConnectorConfig], dict[str, DeviceFailure]]:
    """Validate raw configs; the invalid ones come back as failures by label.

    A config whose address the network policy refuses, or whose values a registry record could
    not carry, is invalid too, before anything connects.
    """
    valid: list[ConnectorConfig] = []
    invalid: dict[str, DeviceFailure] = {}
    policy = policy or ProbePolicy.default()
    for index, raw in enumerate(raw_configs):
        label = _label(raw, index)
        try:
            config = (
                raw
                if isinstance(raw, ConnectorConfig)
                else connector_cls.config_model.model_validate(raw)
            )
            guard_config(connector_cls, config, policy)
            connector_config_of(config)
            valid.append(config)
        except ConfigurationError as exc:
            invalid[label] = DeviceFailure.of(label, exc)
        except ValidationError as exc:
            invalid[label] = DeviceFailure(
                label, "ConfigurationError", f"invalid config: {model_problems(exc, limit=20)}"
            )
    return valid, invalid


def _label(raw: Mapping[str, Any] | ConnectorConfig, index: int) -> str:
    if isinstance(raw, ConnectorConfig):
        return raw.address
    return str(raw.get("address", f"config #{index}"))


class Onboarding:
    """One onboarding run of one connector class (module docstring). Without a producer it is
    a dry run: devices are read and their records built, nothing is read or written on Kafka."""

    def __init__(
        self,
        connector_cls: type[Connector[Any]],
        producer: CatalogProducer | None,
        *,
        options: OnboardOptions | None = None,
        reader: DeviceReader | None = None,
        metrics: ConnectorMetrics | None = None,
        progress: ProgressCallback | None = None,
        bootstrap: str | None = None,
    ) -> None:
        self.connector_cls = connector_cls
        self.producer = producer
        self.options = options or OnboardOptions()
        self.component = f"connector.{connector_cls.name}"
        self.actor = self.options.actor or self.component
        self.reader = reader or connector_reader(connector_cls)
        self.metrics = metrics or ConnectorMetrics()
        self.summary = OnboardSummary(dry_run=producer is None)
        self._progress = progress
        self._bootstrap = bootstrap
        self._limit = asyncio.Semaphore(max(1, self.options.concurrency))
        self._known: dict[str, CameraRecord] = {}
        #: the registry as it was before this run published anything
        self._before: dict[str, CameraRecord] = {}
        self._removals: dict[str, CameraRemoval] = {}
        self._done = 0
        self._total = 0
        self._last_progress = 0.0

    async def run(self, configs: Sequence[ConnectorConfig]) -> OnboardSummary:
        self._total = len(configs)
        # Thousands of devices' exchanges allocate at a high rate (core.collector).
        async with contextlib.AsyncExitStack() as stack:
            stack.enter_context(fewer_collections())
            reports: WatchReports | None = None
            if self.producer is not None:
                await self._load_registry()
                if self.options.verify_s > 0:
                    # Opened before anything is published: every answer comes after this point.
                    reports = await stack.enter_async_context(
                        WatchReports(
                            self._bootstrap, component=self.component, producer=self.producer
                        )
                    )
            admitted = [config for config in configs if await self._admitted(config)]
            await asyncio.gather(*(self._guarded(config) for config in admitted))
            if reports is not None:
                await self._verify(reports)
        return self.summary

    async def _load_registry(self) -> None:
        """The registry and the removals: what merging and withholding decide against."""
        assert self.producer is not None
        registry, removals = await asyncio.gather(
            read_table(
                CAMERA_REGISTRY,
                bootstrap=self._bootstrap,
                component=self.component,
                producer=self.producer,
            ),
            read_table(
                CAMERA_REMOVALS,
                bootstrap=self._bootstrap,
                component=self.component,
                producer=self.producer,
            ),
        )
        self._known = _only(registry, CameraRecord)
        self._before = dict(self._known)
        self._removals = _only(removals, CameraRemoval)

    async def _admitted(self, config: ConnectorConfig) -> bool:
        """False (listed as failed, audited) when the credential reference leaves the namespace."""
        if config.credential_ref is None:
            return True
        try:
            CameraSecrets.configured().confine(config.credential_ref)
        except RefusedReference as exc:
            self.summary.failed[config.address] = self._count_failure(config, exc)
            if self.producer is not None:
                await self.producer.send(
                    AUDIT,
                    exc.audit_record(
                        actor=self.actor,
                        subject=config.address,
                        details={"connector": self.connector_cls.name, "address": config.address},
                    ),
                )
            self._advance()
            return False
        return True

    async def _guarded(self, config: ConnectorConfig) -> None:
        # The limit is on devices being talked to; publishing waits on Kafka, not on them.
        async with self._limit:
            records = await self._read(config)
        if records is not None:
            await self._register(config, records)
        self._advance()

    def _advance(self) -> None:
        self._done += 1
        if self._progress is None:
            return
        now = time.monotonic()
        if now - self._last_progress > 1 or self._done == self._total:
            self._last_progress = now
            self._progress(self._done, self._total)

    async def _read(self, config: ConnectorConfig) -> list[CameraRecord] | None:
        """The device's records, or None when it failed (then listed, and dead-lettered if its
        input was at fault)."""
        deadline = self.options.deadline_s or device_deadline_s(config.timeout_s)
        try:
            records = await isolated(
                lambda: self._attempts(config), device=config.address, deadline_s=deadline
            )
        except ConnectorError as exc:
            await self._failed(config, exc)
            return None
        self.metrics.checks_ok += 1
        return records

    async def _attempts(self, config: ConnectorConfig) -> list[CameraRecord]:
        """Read the device, retrying what is retriable with backoff."""
        backoff = Backoff(initial_s=self.options.backoff_initial_s, max_s=30)
        attempt = 1
        while True:
            try:
                return await self.reader(config)
            except RetriableError as exc:
                if attempt >= self.options.attempts:
                    if attempt == 1:
                        raise
                    raise RetriableError(
                        f"{exc} (after {attempt} attempts)", device=exc.device
                    ) from exc
                self._count_failure(config, exc)
                self.metrics.retries += 1
            await asyncio.sleep(backoff.next_delay())
            attempt += 1

    async def _failed(self, config: ConnectorConfig, exc: ConnectorError) -> None:
        """Listed once, with its reason; its cameras' records and statuses stay as they are."""
        failure = self._count_failure(config, exc)
        self.summary.failed[config.address] = failure
        if failure.input_at_fault and self.producer is not None:
            await self.producer.dead_letter(failure.dead_letter(self.component))
            self.metrics.dead_letters += 1

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

    async def _register(self, config: ConnectorConfig, found: list[CameraRecord]) -> None:
        values = connector_config_of(config)
        registrations: list[Registration] = []
        for fresh in found:
            removal = self._removals.get(fresh.camera_id)
            if removal is not None and not self.options.readmit:
                self.summary.withheld[fresh.camera_id] = removed_reason(removal)
                continue
            known = self._known.get(fresh.camera_id)
            record = register(fresh, known, config=config, connector_config=values)
            registrations.append(Registration(record, known, readmitted=removal))
        if self.producer is not None:
            await self._publish(registrations)
        for registration in registrations:
            self.summary.records[registration.record.camera_id] = registration.record
        self.summary.published[config.address] = [r.record.camera_id for r in registrations]
        self.metrics.cameras_discovered += len(found)
        log.info(
            "device onboarded",
            connector=self.connector_cls.name,
            address=config.address,
            cameras=len(registrations),
            withheld=len(found) - len(registrations),
        )

    async def _publish(self, registrations: list[Registration]) -> None:
        assert self.producer is not None
        producer = self.producer
        await producer.send_batch(CAMERA_REGISTRY, [r.record for r in registrations])
        audits = [audit for r in registrations if (audit := r.audit(self.actor)) is not None]
        await producer.send_batch(AUDIT, audits)
        self.summary.audited += len(audits)
        readmitted = [r.record.camera_id for r in registrations if r.readmitted is not None]
        await asyncio.gather(
            *[await producer.enqueue(CAMERA_REMOVALS, None, key=camera) for camera in readmitted]
        )
        for registration in registrations:
            # A device reachable at two addresses of one run is one camera: the second
            # publication updates the first.
            self._known[registration.record.camera_id] = registration.record
            self._removals.pop(registration.record.camera_id, None)

    async def _verify(self, reports: WatchReports) -> None:
        """Ask the watching runtime whether it watches what was published (watchcheck)."""
        published = {camera: record.updated_at for camera, record in self.summary.records.items()}
        if not published:
            return
        group = self.options.watch_group or watch_group(self.connector_cls.name)
        members = await runtime_members(self._bootstrap, group)
        if members == 0:
            reason = (
                f"no runtime of connector {self.connector_cls.name} is running (consumer group "
                f"{group} has no members): it checks the credential reference when it starts"
            )
            self.summary.unconfirmed.update(dict.fromkeys(published, reason))
            return
        answered = await reports.wait_for(published, self.options.verify_s)
        for camera in published:
            report = answered.get(camera)
            if report is None:
                self.summary.unconfirmed[camera] = (
                    f"no runtime in consumer group {group} reported on it within "
                    f"{self.options.verify_s:g}s"
                )
            elif report.state is not WatchState.WATCHING:
                self.summary.not_watched[camera] = (
                    f"{report.state.value} where it is watched ({report.watcher}): {report.reason}"
                )
        await self._restore(list(self.summary.not_watched))

    async def _restore(self, cameras: list[str]) -> None:
        """Give cameras the runtime cannot watch back the connection they were watched with:
        an attempt that fails where the cameras run must not break a working registration."""
        assert self.producer is not None
        restorations = [
            (restored, before)
            for camera in cameras
            if (before := self._before.get(camera)) is not None
            and (restored := restore_connection(self.summary.records[camera], before)) is not None
        ]
        if not restorations:
            return
        await self.producer.send_batch(CAMERA_REGISTRY, [record for record, _ in restorations])
        audits = [restoration_audit(record, self.actor) for record, _ in restorations]
        await self.producer.send_batch(AUDIT, audits)
        self.summary.audited += len(audits)
        for record, _ in restorations:
            self.summary.records[record.camera_id] = record
            self.summary.not_watched[record.camera_id] += (
                "; its previous credential reference and connector config are restored"
            )


M = TypeVar("M", bound=BaseModel)


def _only(table: Mapping[str, BaseModel], model: type[M]) -> dict[str, M]:
    return {key: value for key, value in table.items() if isinstance(value, model)}


async def onboard(
    connector_cls: type[Connector[Any]],
    configs: Iterable[Mapping[str, Any] | ConnectorConfig],
    *,
    producer: CatalogProducer | None,
    options: OnboardOptions | None = None,
    reader: DeviceReader | None = None,
    policy: ProbePolicy | None = None,
    metrics: ConnectorMetrics | None = None,
    progress: ProgressCallback | None = None,
    bootstrap: str | None = None,
) -> OnboardSummary:
    """Onboard every device of ``configs`` (module docstring) and say what happened to each.

    ``producer=None`` is a dry run. ``reader`` replaces the connector's ``check`` and
    ``discover`` (``tilik discover onvif`` probes with it); ``policy`` replaces the default
    network policy; ``bootstrap`` is where the registry is read (default: the settings').
    """
    valid, invalid = parse_configs(connector_cls, configs, policy)
    run = Onboarding(
        connector_cls,
        producer,
        options=options,
        reader=reader,
        metrics=metrics,
        progress=progress,
        bootstrap=bootstrap,
    )
    run.summary.failed.update(invalid)
    return await run.run(valid)
