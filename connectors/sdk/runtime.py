"""The connector runtime: hosts any ``Connector`` class as a Kafka consumer-group service.

``WatchService`` joins a consumer group over the camera registry (compacted, keyed by camera id)
and watches the cameras on its assigned partitions whose record names its connector:

- **Ownership.** A camera belongs to the process that owns its registry partition. Records are
  grouped by ``device_id`` into ``DeviceTarget``s; each process opens one connection per device
  for the cameras *it* owns and publishes events and statuses only for those. An NVR whose
  channels hash to partitions owned by two processes is therefore connected to twice, each
  connection publishing for its own channels: nothing is published twice and nothing is lost
  when partitions move, at the cost of an extra session on such devices.
- **Assignment.** On every assignment the registry partitions are re-read from the beginning
  (the topic is compacted, so that is the current table), and devices start as records arrive.
  On revocation the affected devices' connectors are closed (subscriptions ended) *before* the
  callback returns, that is before another process can take the partitions.
- **Config.** A device is watched with the config its record carries (``config_from_record``:
  the record's fields and its ``connector_config``, so a recorder onboarded over HTTPS with
  custom timeouts is watched so), checked again as input: its address against the network
  policy, its credential reference against the camera secrets namespace
  (``connectors.sdk.secrets.CameraSecrets``; a refusal is audited once per record).
- **Businesses' recorders.** With ``TILIK_VAULT_KEY_FILE`` set, the runtime follows the sealed
  credentials and the tenants' network grants (``connectors.sdk.tenantwatch``): ``vault:<id>``
  references resolve there (``connectors.sdk.sealed``), for a device whose owner is the tenant
  the credential was sealed for, and such a recorder's address is checked against its tenant's
  policy (the public internet and the granted networks) instead of ``TILIK_PROBE_ALLOW``. A
  reference not in view yet makes it catch up with both topics once before the device is judged
  unwatchable; a key file that does not open a record leaves that device unwatched
  (``credentials_unresolved``, the reason naming the reference) and every other device watched.
- **Watch reports.** This process is where a record's credential reference must resolve, so
  it resolves it before watching, and says per record version on ``tilik.cameras.watch.v1``
  whether it watches the camera (``watching``) or why not (``credentials_unresolved``,
  ``refused``, ``invalid_config``): that is how onboarding learns whether what it published is
  watched (``connectors.sdk.watchcheck``). A device it cannot watch is never contacted, is
  reported ``degraded`` with the reason by every health round, and is tried again each round (a
  secrets file may appear). A tombstone in the registry removes the camera's report too.
- **Revocation of a camera.** A tombstone removes the camera at once: its events and statuses
  stop; a device with no cameras left is closed.
- **Health.** A health round starts every ``health_interval_s`` (at once when the previous
  round ran longer) and checks all watched devices, at most ``concurrency`` at a time; one
  ``CameraStatus`` per owned camera is published. Each device's check has a deadline of
  ``call_timeout_s`` or one interval, whichever is shorter, so a device that accepts the
  connection and never answers is reported ``offline`` (with the reason) by the round that
  finds it, never holding that round or the next one up.
- **Events.** One task per device iterates ``events()``: ``DeviceEvent``s go to the device-event
  topic; ``UnparsedEvent``s and ``DeviceDataError``s go to the dead letters (logged once per
  device and vendor topic), with the device's vendor and model from its registry record as
  headers, so the gaps in the event tables can be counted per model (``tilik dlq unknown``). ``RetriableError`` restarts the stream after a per-device
  exponential backoff with jitter, ``AuthenticationError`` after at least ``auth_retry_s``;
  ``ConfigurationError`` and ``FatalConnectorError`` stop that device until its record changes.
- **Channels.** A connector learns which camera each of its device's channel references selects
  (``connectors.sdk.channels``) from the records this process watches, kept current as they
  change, so an NVR's or encoder's event lands on its channel's camera.
- **State.** A connector's opaque ``state`` is kept in memory per device and handed to the next
  connector instance for that device in this process (not persisted across restarts).
- **Without the registry.** ``watch_records`` watches a given set of cameras with no registry
  and no consumer group, publishing through any ``Publisher`` to the topics its
  ``RuntimeTopics`` name: that is how a tenant's edge agent (``connectors.edge``) runs the same
  device watching at its site, writing its tenant's topics.

``onboard`` (in ``connectors.sdk.onboard``) is the one-shot counterpart: check, discover, publish.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import structlog
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from pydantic import BaseModel, ValidationError

from connectors.sdk.base import Connector, ConnectorMetrics, UnparsedEvent
from connectors.sdk.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectorError,
    DeviceDataError,
    FatalConnectorError,
    RetriableError,
)
from connectors.sdk.netpolicy import ProbePolicy, guard_config
from connectors.sdk.onboard import OnboardSummary, onboard
from connectors.sdk.records import model_problems
from connectors.sdk.sealed import using
from connectors.sdk.secrets import CameraSecrets, RefusedReference
from connectors.sdk.tenantwatch import TenantRecorders
from connectors.sdk.watchcheck import watch_group
from connectors.sdk.watched import DeviceTarget, WatchedCamera
from core.backoff import Backoff
from core.memory import release_free_memory
from core.settings import get_settings
from topics.catalog import (
    AUDIT,
    CAMERA_REGISTRY,
    CAMERA_STATUS,
    CAMERA_WATCH,
    DEVICE_EVENTS,
    TopicSpec,
)
from topics.client import CatalogConsumer, CatalogProducer, Received
from topics.deadletters import make_dead_letter
from topics.models import (
    CameraRecord,
    CameraState,
    CameraStatus,
    DeadLetter,
    DeadLetterKind,
    DeviceEvent,
    WatchReport,
    WatchState,
    utcnow,
)

__all__ = [
    "DeviceWatch",
    "OnboardSummary",
    "Publisher",
    "RuntimeOptions",
    "RuntimeTopics",
    "WatchService",
    "onboard",
]

log = structlog.get_logger(__name__)

# Longest a registry change waits before the device watches are reconciled with it.
RECONCILE_EVERY_S = 1.0
# Devices started between two watch-report batches (and two chances for the loop's other work,
# the consumer group's heartbeat among it, to run) while a reconcile starts many.
STARTS_PER_BATCH = 256


@dataclass(frozen=True)
class RuntimeOptions:
    """How a watch service runs; every field has a CLI flag."""

    group_id: str | None = None
    health_interval_s: float = 60.0
    concurrency: int = 32
    call_timeout_s: float = 30.0
    close_timeout_s: float = 10.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 300.0
    #: refused credentials rarely fix themselves within seconds: wait at least this long
    auth_retry_s: float = 60.0
    #: events a device may have sent but not yet acknowledged by Kafka (1: await each send)
    max_in_flight_events: int = 256
    #: how long the registry's consumer group waits for this process's heartbeat before it
    #: hands its partitions to the others. Kafka's own clients wait 45 s (aiokafka 10 s): a
    #: process watching thousands of cameras on busy cores can miss 10 s of heartbeats, and
    #: then every one of its devices is stopped and started again (a crashed process's cameras
    #: move after this long; one that stops leaves at once)
    session_timeout_s: float = 45.0
    #: a stable name for this process in the registry's consumer group (Kafka's static
    #: membership): restarted under the same name after a crash, it takes its cameras back at
    #: once instead of after ``session_timeout_s``; a process that stops for good keeps its
    #: cameras until then too (a static member does not leave its group). Unique per process.
    instance_id: str | None = None


@dataclass(frozen=True)
class RuntimeTopics:
    """Where a runtime publishes what its devices say (a site's edge agent: its tenant's topics)."""

    events: TopicSpec = DEVICE_EVENTS
    status: TopicSpec = CAMERA_STATUS
    #: watch reports, which onboarding asks for (None: nobody asks, as at a tenant's site)
    watch: TopicSpec | None = CAMERA_WATCH
    #: refused credential references are audited here (None: logged only)
    audit: TopicSpec | None = AUDIT


class Publisher(Protocol):
    """What the runtime publishes through: a ``CatalogProducer``, or an edge agent's outbox."""

    async def enqueue(
        self, spec: TopicSpec, value: BaseModel | None, *, key: str | None = None
    ) -> asyncio.Future[Any]: ...

    async def send(self, spec: TopicSpec, value: BaseModel | None) -> Any: ...

    async def send_batch(self, spec: TopicSpec, values: Iterable[BaseModel]) -> list[Any]: ...

    async def dead_letter(self, letter: DeadLetter) -> Any: ...


@dataclass(slots=True)
class DeviceWatch:
    """One watched device: its owned cameras, its connector, its event task and backoff.

    Kept per watched device, so what most devices never need (a set of logged vendor topics)
    is made on first use.
    """

    target: DeviceTarget
    connector: Connector[Any]
    connection_key: bytes | None
    backoff: Backoff
    events_task: asyncio.Task[None] | None = None
    stopped_reason: str | None = None
    logged_topics: set[str] | None = None
    #: event sends not yet acknowledged, oldest first (a list: an empty deque is 760 bytes)
    in_flight: list[asyncio.Future[Any]] = field(default_factory=list)

    @property
    def camera_ids(self) -> frozenset[str]:
        return self.target.camera_ids

    def first_time_logged(self, vendor_topic: str) -> bool:
        """Whether ``vendor_topic`` is logged for this device for the first time (and remember it)."""
        if self.logged_topics is None:
            self.logged_topics = set()
        if vendor_topic in self.logged_topics:
            return False
        self.logged_topics.add(vendor_topic)
        return True


#: a target, the watch state its cameras are in and why (None while watched)
Said = tuple[DeviceTarget, WatchState, str | None]


@dataclass(frozen=True)
class Unwatched:
    """A device this process owns but cannot watch, and why (reported, never contacted)."""

    target: DeviceTarget
    state: WatchState
    reason: str


def device_headers(target: DeviceTarget) -> dict[str, str]:
    """A device's vendor and model, as its registry record says, for its dead letters."""
    record = target.representative
    return {
        name: value for name, value in (("vendor", record.vendor), ("model", record.model)) if value
    }


class WatchService:
    """Watches the devices of one connector whose registry partitions this process owns."""

    def __init__(
        self,
        connector_cls: type[Connector[Any]],
        *,
        bootstrap: str | None = None,
        options: RuntimeOptions | None = None,
        metrics: ConnectorMetrics | None = None,
        topics: RuntimeTopics | None = None,
    ) -> None:
        self.connector_cls = connector_cls
        self.topics = topics or RuntimeTopics()
        self.name = connector_cls.name
        self.component = f"connector.{self.name}"
        self.options = options or RuntimeOptions()
        self.group_id = self.options.group_id or watch_group(self.name)
        self.metrics = metrics or ConnectorMetrics()
        self._bootstrap = bootstrap
        self._producer: Publisher | None = None
        self._consumer: CatalogConsumer | None = None
        # camera id -> what watching keeps of its record: the owned slice of the registry for
        # this connector; device id -> its cameras; devices whose cameras changed since the last
        # reconcile (a reconcile looks at those only)
        self._cameras: dict[str, WatchedCamera] = {}
        self._targets: dict[str, DeviceTarget] = {}
        self._dirty: set[str] = set()
        self._devices: dict[str, DeviceWatch] = {}
        self._unwatched: dict[str, Unwatched] = {}
        # camera id -> (record version, state) last reported on the watch topic
        self._reported: dict[str, tuple[datetime, WatchState]] = {}
        # cameras tombstoned in the registry whose watch report is still to be removed
        self._forget: set[str] = set()
        self._policy = ProbePolicy.default()
        self._camera_secrets = CameraSecrets.configured()
        key_file = get_settings().vault_key_file
        self._tenants = None if key_file is None else TenantRecorders(key_file, bootstrap=bootstrap)
        # device id -> address and reference of a record whose reference was refused: audited
        # once per distinct record, not on every reconcile
        self._refused: dict[str, str] = {}
        self._states: dict[str, dict[str, Any]] = {}
        self._assigned: set[int] = set()
        # The run loop and the rebalance callbacks both change the watched set.
        self._reconciling = asyncio.Lock()
        self.ready = asyncio.Event()

    # --- observing ------------------------------------------------------------------------

    @property
    def watched_devices(self) -> dict[str, frozenset[str]]:
        """device id -> camera ids currently watched (for tests and ``/healthz``)."""
        return {device: watch.camera_ids for device, watch in self._devices.items()}

    @property
    def assigned_partitions(self) -> set[int]:
        return set(self._assigned)

    def healthy(self) -> bool:
        return self.ready.is_set()

    # --- lifecycle ------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Consume the registry and watch devices until ``stop`` is set (or cancelled)."""
        stop = stop or asyncio.Event()
        async with contextlib.AsyncExitStack() as vault:
            if self._tenants is not None:
                # Before the consumer starts: its rebalance callbacks inherit the vault source.
                await vault.enter_async_context(self._tenants)
                vault.enter_context(using(self._tenants.sealed))
            await self._run(stop)

    async def _run(self, stop: asyncio.Event) -> None:
        async with CatalogProducer(
            self._bootstrap, client_id=f"tilik-{self.component}"
        ) as producer:
            self._producer = producer
            consumer = CatalogConsumer(
                CAMERA_REGISTRY,
                group_id=self.group_id,
                component=self.component,
                bootstrap=self._bootstrap,
                producer=producer,
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                session_timeout_ms=int(self.options.session_timeout_s * 1000),
                group_instance_id=self.options.instance_id,
            )
            self._consumer = consumer
            health = asyncio.create_task(self._health_loop(stop), name=f"{self.component}-health")
            wanted = asyncio.Event()
            reconciler = asyncio.create_task(
                self._reconcile_when(wanted), name=f"{self.component}-reconcile"
            )
            try:
                async with consumer:
                    # Registry changes are folded in as they arrive, but the watches are
                    # reconciled at most once per RECONCILE_EVERY_S while records keep coming
                    # (and at once when the topic goes quiet or a camera is revoked): catching
                    # up on a 20,000-camera registry costs one reconcile per second, not one
                    # per record. The reconcile runs beside this loop, never inside it: starting
                    # thousands of devices must not keep the consumer from polling, or the group
                    # takes its partitions away (max.poll.interval) and every device restarts.
                    dirty = False
                    last_reconcile = 0.0
                    while not stop.is_set():
                        if reconciler.done():
                            reconciler.result()  # a reconcile that failed ends the run
                        received = await consumer.next(timeout_s=0.5)
                        urgent = False
                        if received is not None:
                            # A record whose processing fails is dead-lettered, not fatal.
                            outcome = await consumer.process(received, self._apply)
                            changed, urgent = outcome or (False, False)
                            dirty = dirty or changed
                        now = time.monotonic()
                        if dirty and (
                            urgent or received is None or now - last_reconcile >= RECONCILE_EVERY_S
                        ):
                            wanted.set()
                            dirty = False
                            last_reconcile = now
            finally:
                self._consumer = None
                reconciler.cancel()
                await asyncio.gather(reconciler, return_exceptions=True)
                await self._wind_down(health)

    async def _reconcile_when(self, wanted: asyncio.Event) -> None:
        """Reconcile each time the consumer loop asks; asks made during one run coalesce into
        the next."""
        while True:
            await wanted.wait()
            wanted.clear()
            await self._reconcile()

    async def watch_records(
        self,
        records: Iterable[CameraRecord],
        publisher: Publisher,
        stop: asyncio.Event | None = None,
    ) -> None:
        """Watch exactly these cameras until ``stop`` is set, publishing through ``publisher``:
        no registry, no consumer group (a site's edge agent knows its own cameras)."""
        stop = stop or asyncio.Event()
        self._producer = publisher
        self._assigned = {0}
        health = asyncio.create_task(self._health_loop(stop), name=f"{self.component}-health")
        try:
            await self.watch_also(records)
            self.ready.set()
            await stop.wait()
        finally:
            await self._wind_down(health)

    async def watch_also(self, records: Iterable[CameraRecord]) -> None:
        """Add cameras to those ``watch_records`` watches (a device that came back, say)."""
        for record in records:
            if record.connector == self.name:
                self._put(WatchedCamera.of(record, self.connector_cls))
        await self._reconcile()

    async def unwatch(self, camera_ids: Iterable[str]) -> None:
        """Stop watching these cameras of those ``watch_records`` watches (revoked by their
        owner); a device left with none is no longer contacted."""
        for camera_id in camera_ids:
            self._drop(camera_id)
        await self._reconcile()

    async def _wind_down(self, health: asyncio.Task[None]) -> None:
        health.cancel()
        await asyncio.gather(health, return_exceptions=True)
        await self._stop_devices(list(self._devices))
        self._producer = None

    async def _on_assign(self, assigned: set[TopicPartition]) -> None:
        self._assigned = {tp.partition for tp in assigned if tp.topic == CAMERA_REGISTRY.name}
        # Cameras of partitions no longer ours (their revocation already dropped them, normally).
        self._drop_partitions_not_in(self._assigned)
        if self._consumer is not None:
            # Committed offsets are past the records that define the table: re-read it.
            await self._consumer.seek_to_beginning()
        self.ready.set()
        log.info(
            "registry partitions assigned", connector=self.name, partitions=sorted(self._assigned)
        )

    async def _on_revoke(self, revoked: set[TopicPartition]) -> None:
        partitions = {tp.partition for tp in revoked if tp.topic == CAMERA_REGISTRY.name}
        self._assigned -= partitions
        self._drop_partitions_not_in(self._assigned)
        await self._reconcile()
        log.info("registry partitions revoked", connector=self.name, partitions=sorted(partitions))

    # --- registry -------------------------------------------------------------------------

    def _apply(self, received: Received) -> tuple[bool, bool]:
        """Fold one registry record into the owned slice: (changed, must reconcile at once)."""
        camera = received.key
        if camera is None:
            return False, False
        if received.partition not in self._assigned:
            # Fetched before its partition was revoked: the new owner handles it.
            return False, False
        value = received.value
        if isinstance(value, CameraRecord) and value.connector == self.name:
            # What watching needs of the record, its config built once per record version.
            self._put(WatchedCamera.of(value, self.connector_cls, partition=received.partition))
            return True, False
        if camera in self._cameras:
            # A tombstone (revoked) or the camera moved to another connector: stop at once.
            self._drop(camera)
            if value is None:
                self._forget.add(camera)
            return True, True
        return False, False

    def _put(self, camera: WatchedCamera) -> None:
        known = self._cameras.get(camera.camera_id)
        if known is not None and known.device_id != camera.device_id:
            self._drop(camera.camera_id)  # it moved to another device
        self._cameras[camera.camera_id] = camera
        target = self._targets.get(camera.device_id)
        self._targets[camera.device_id] = (
            DeviceTarget(camera.device_id, (camera,))
            if target is None
            else target.with_camera(camera)
        )
        self._dirty.add(camera.device_id)

    def _drop(self, camera_id: str) -> None:
        known = self._cameras.pop(camera_id, None)
        if known is None:
            return
        target = self._targets[known.device_id].without(camera_id)
        if target is None:
            del self._targets[known.device_id]
        else:
            self._targets[known.device_id] = target
        self._dirty.add(known.device_id)

    def _drop_partitions_not_in(self, assigned: set[int]) -> None:
        dropped = [cam for cam, known in self._cameras.items() if known.partition not in assigned]
        for camera in dropped:
            self._drop(camera)
            # Its new owner reports on it; if it comes back here, so does this process again.
            self._reported.pop(camera, None)

    async def _reconcile(self) -> None:
        """Make the running device watches match the owned registry slice."""
        async with self._reconciling:
            await self._reconcile_locked()

    async def _reconcile_locked(self) -> None:
        # Only the devices whose cameras changed: a reconcile while catching up on a large
        # registry costs what arrived since the last one, not the whole table again.
        dirty, self._dirty = self._dirty, set()
        stop: list[str] = []
        start: list[str] = []
        said: list[Said] = []
        for device in dirty:
            target = self._targets.get(device)
            watch = self._devices.get(device)
            if target is None:
                self._unwatched.pop(device, None)
                if watch is not None:
                    stop.append(device)
            elif watch is None:
                start.append(device)
            elif watch.connection_key != target.connection_key:
                # The connection changed (or the record makes no config: restarting says why).
                stop.append(device)
                start.append(device)
            else:
                watch.target = target
                watch.connector.channels = target.channel_map()
                said.append((target, WatchState.WATCHING, None))
        await self._stop_devices(stop)
        # Watch reports in batches, not one acknowledged send per device: a process taking over
        # thousands of devices starts watching them all within seconds, and lets the loop's
        # other work run between batches.
        for device in start:
            target = self._targets.get(device)
            if target is not None and device not in self._devices:
                said.append(await self._start_device(target))
            if len(said) >= STARTS_PER_BATCH:
                self._count_watched()
                await self._report(said)
                said = []
                await asyncio.sleep(0)
        self._count_watched()
        await self._report(said)
        await self._forget_reports()

    def _count_watched(self) -> None:
        self.metrics.devices = len(self._devices)
        self.metrics.cameras = sum(len(w.target.records) for w in self._devices.values())

    async def _retry_unwatched(self) -> None:
        """Try again to watch what could not be watched (a secrets file may have appeared)."""
        self._dirty |= self._unwatched.keys()
        await self._reconcile()

    async def _start_device(self, target: DeviceTarget) -> Said:
        """Watch the target's device, or say why not: what its watch report is to say."""
        state = WatchState.REFUSED
        try:
            # A registry record is input: its credential reference must stay inside the camera
            # secrets namespace, or no secret is read and the device is never contacted.
            if target.representative.credential_ref is not None:
                self._camera_secrets.confine(target.representative.credential_ref)
                if self._tenants is not None:
                    await self._tenants.catch_up(target.representative)
            state = WatchState.INVALID_CONFIG
            config = target.representative.make_config()
            # A registry record is input too: its address is checked before any connection.
            state = WatchState.REFUSED
            guard_config(self.connector_cls, config, self._policy_for(target.representative))
            # Here is where the reference must resolve: onboarding may have run elsewhere.
            state = WatchState.CREDENTIALS_UNRESOLVED
            config.credentials()
            state = WatchState.INVALID_CONFIG
            connector = self.connector_cls(config, state=self._states.get(target.device_id))
            connector.channels = target.channel_map()
        except (ConnectorError, ValueError) as exc:
            return target, state, await self._cannot_watch(target, state, exc)
        self._unwatched.pop(target.device_id, None)
        watch = DeviceWatch(
            target=target,
            connector=connector,
            connection_key=target.connection_key,
            backoff=Backoff(
                initial_s=self.options.backoff_initial_s, max_s=self.options.backoff_max_s
            ),
        )
        watch.events_task = asyncio.create_task(
            self._events_loop(watch), name=f"{self.component}-events-{target.device_id}"
        )
        self._devices[target.device_id] = watch
        log.info(
            "watching device",
            connector=self.name,
            device=target.device_id,
            cameras=len(target.records),
        )
        return target, WatchState.WATCHING, None

    def _policy_for(self, camera: WatchedCamera) -> ProbePolicy:
        """A business's registered recorder is checked against its tenant's policy."""
        if self._tenants is None:
            return self._policy
        return self._tenants.policy_for(camera, self._policy)

    async def _cannot_watch(
        self, target: DeviceTarget, state: WatchState, exc: ConnectorError | ValueError
    ) -> str:
        """Remember, log and audit why a device cannot be watched; the reason."""
        reason = f"{type(exc).__name__}: {exc}" if isinstance(exc, ValueError) else str(exc)
        if isinstance(exc, ValidationError):
            reason = f"the record makes no {self.name} config: {model_problems(exc)}"
        known = self._unwatched.get(target.device_id)
        self._unwatched[target.device_id] = Unwatched(target, state, reason)
        if known is None or known.reason != reason:
            self.metrics.count_error(exc)
            log.error(
                "device cannot be watched",
                connector=self.name,
                device=target.device_id,
                error_type=type(exc).__name__,
                reason=reason,
            )
        if isinstance(exc, RefusedReference):
            await self._audit_refusal(target, exc)
        return reason

    async def _report(self, said: list[Said]) -> None:
        """Say on the watch topic whether the targets' cameras are watched, once per version."""
        if self.topics.watch is None:
            return
        watch_topic = self.topics.watch
        now = utcnow()
        reports = [
            WatchReport(
                camera_id=record.camera_id,
                connector=self.name,
                device_id=target.device_id,
                state=state,
                reason=None if reason is None else reason[:4096],
                record_updated_at=record.updated_at,
                watcher=self.group_id,
                reported_at=now,
            )
            for target, state, reason in said
            for record in target.records
            if self._reported.get(record.camera_id) != (record.updated_at, state)
        ]
        if not reports:
            return
        try:
            await self._require_producer().send_batch(watch_topic, reports)
        except KafkaError as error:
            # Said again at the next reconcile: the record versions stay unreported.
            self.metrics.count_error(error)
            log.error(
                "watch reports not published",
                connector=self.name,
                devices=len({report.device_id for report in reports}),
            )
            return
        for report in reports:
            self._reported[report.camera_id] = (report.record_updated_at, report.state)

    async def _forget_reports(self) -> None:
        """Tombstone the watch reports of cameras tombstoned in the registry."""
        forget, self._forget = self._forget, set()
        if not forget or self.topics.watch is None:
            return
        watch_topic = self.topics.watch
        producer = self._require_producer()
        try:
            await asyncio.gather(
                *[await producer.enqueue(watch_topic, None, key=camera) for camera in forget]
            )
        except KafkaError as error:
            self.metrics.count_error(error)
            self._forget |= forget
            return
        for camera in forget:
            self._reported.pop(camera, None)

    async def _audit_refusal(self, target: DeviceTarget, exc: RefusedReference) -> None:
        record = target.representative
        refused = f"{record.address} {record.credential_ref}"
        if self._refused.get(target.device_id) == refused or self.topics.audit is None:
            return
        try:
            await self._require_producer().send(
                self.topics.audit,
                exc.audit_record(
                    actor=self.component,
                    subject=target.device_id,
                    details={
                        "connector": self.name,
                        "address": record.address,
                        "cameras": ",".join(sorted(target.camera_ids))[:4096],
                    },
                ),
            )
        except KafkaError as error:
            self.metrics.count_error(error)
            log.error("refusal not audited", connector=self.name, device=target.device_id)
            return
        self._refused[target.device_id] = refused

    async def _stop_devices(self, devices: list[str]) -> None:
        watches = [self._devices.pop(device) for device in devices if device in self._devices]
        await asyncio.gather(*(self._stop(watch) for watch in watches))

    async def _stop(self, watch: DeviceWatch) -> None:
        self._states[watch.target.device_id] = dict(watch.connector.state)
        try:
            await asyncio.wait_for(watch.connector.close(), self.options.close_timeout_s)
        except (TimeoutError, ConnectorError) as exc:
            self.metrics.count_error(exc)
            log.warning(
                "connector did not close cleanly",
                connector=self.name,
                device=watch.target.device_id,
            )
        if watch.events_task is not None:
            watch.events_task.cancel()
            await asyncio.gather(watch.events_task, return_exceptions=True)
        log.info("stopped watching device", connector=self.name, device=watch.target.device_id)

    # --- events ---------------------------------------------------------------------------

    async def _events_loop(self, watch: DeviceWatch) -> None:
        device = watch.target.device_id
        while True:
            try:
                try:
                    async for item in watch.connector.events():
                        watch.backoff.reset()
                        await self._publish_item(watch, item)
                        self._states[device] = watch.connector.state
                        # Not kept while a quiet device's next event is awaited (for hours).
                        del item
                finally:
                    await self._drain(watch)
                if self._devices.get(device) is not watch:
                    return  # closed by the runtime
                delay = watch.backoff.next_delay()
                log.warning("device event stream ended early", connector=self.name, device=device)
            except AuthenticationError as exc:
                delay = max(watch.backoff.next_delay(), self.options.auth_retry_s)
                self._note_failure(watch, exc, retry_in_s=delay)
            except RetriableError as exc:
                delay = watch.backoff.next_delay()
                self._note_failure(watch, exc, retry_in_s=delay)
            except DeviceDataError as exc:
                await self._dead_letter_input(watch, exc)
                delay = watch.backoff.next_delay()
                self._note_failure(watch, exc, retry_in_s=delay)
            except (ConfigurationError, FatalConnectorError) as exc:
                watch.stopped_reason = f"{type(exc).__name__}: {exc}"
                self._note_failure(watch, exc, retry_in_s=None)
                return
            except Exception as exc:  # noqa: BLE001 - a plugin's bug must not stop the other devices
                delay = watch.backoff.next_delay()
                self._note_failure(watch, exc, retry_in_s=delay)
            await asyncio.sleep(delay)

    def _note_failure(
        self, watch: DeviceWatch, exc: Exception, *, retry_in_s: float | None
    ) -> None:
        self.metrics.count_error(exc)
        if retry_in_s is not None:
            self.metrics.retries += 1
        log.warning(
            "device event stream failed",
            connector=self.name,
            device=watch.target.device_id,
            error_type=type(exc).__name__,
            reason=str(exc),
            retry_in_s=None if retry_in_s is None else round(retry_in_s, 2),
        )

    async def _publish_item(self, watch: DeviceWatch, item: DeviceEvent | UnparsedEvent) -> None:
        producer = self._require_producer()
        if isinstance(item, DeviceEvent):
            if item.camera_id not in watch.camera_ids:
                return  # another process owns that camera, or it is not (or no longer) registered
            # A window of unacknowledged sends: a burst is batched by the client instead of
            # waiting out the linger per event, and a slow broker still pushes back.
            watch.in_flight.append(await producer.enqueue(self.topics.events, item))
            self.metrics.events += 1
            # Acknowledged sends are let go as soon as they are seen: a quiet camera must not
            # hold its last few hundred acknowledgements for hours (memory per watched camera).
            while watch.in_flight and (
                watch.in_flight[0].done()
                or len(watch.in_flight) >= self.options.max_in_flight_events
            ):
                await self._settle(watch, watch.in_flight.pop(0))
            return
        if item.camera_id is not None and item.camera_id not in watch.camera_ids:
            return
        self.metrics.unparsed += 1
        await producer.dead_letter(
            make_dead_letter(
                kind=item.kind,
                reason=f"{item.reason} (vendor topic {item.vendor_topic})",
                error_type=item.error_type,
                component=self.component,
                payload=item.payload,
                source_device=item.device_id,
                headers={"vendor_topic": item.vendor_topic, **device_headers(watch.target)},
            )
        )
        self.metrics.dead_letters += 1
        if watch.first_time_logged(item.vendor_topic):
            log.warning(
                "unparsed device input kept in the dead letters",
                connector=self.name,
                device=item.device_id,
                kind=item.kind.value,
                vendor_topic=item.vendor_topic,
                reason=item.reason,
            )

    async def _settle(self, watch: DeviceWatch, sent: asyncio.Future[Any]) -> None:
        try:
            await sent
        except KafkaError as exc:
            # The producer retried already; the event cannot be kept anywhere else either.
            self.metrics.count_error(exc)
            log.error(
                "device event not delivered",
                connector=self.name,
                device=watch.target.device_id,
                error_type=type(exc).__name__,
            )

    async def _drain(self, watch: DeviceWatch) -> None:
        while watch.in_flight:
            await self._settle(watch, watch.in_flight.pop(0))

    async def _dead_letter_input(self, watch: DeviceWatch, exc: DeviceDataError) -> None:
        await self._require_producer().dead_letter(
            make_dead_letter(
                kind=DeadLetterKind.DEVICE_INPUT,
                reason=str(exc),
                error_type=type(exc).__name__,
                component=self.component,
                payload=exc.payload,
                source_device=watch.target.device_id,
                headers=device_headers(watch.target),
            )
        )
        self.metrics.dead_letters += 1

    # --- health ---------------------------------------------------------------------------

    @property
    def health_deadline_s(self) -> float:
        """How long one device's health check may take: never more than one interval."""
        return min(self.options.call_timeout_s, self.options.health_interval_s)

    async def _health_loop(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            started = loop.time()
            try:
                if self._unwatched:
                    await self._retry_unwatched()
                await self.check_health()
                self.metrics.health_round_s = loop.time() - started
                # The round's replies and buffers are freed; let the process's resident memory
                # fall back to what the watches hold (memory per watched camera).
                release_free_memory()
            except KafkaError as exc:
                # The broker is away: this round's statuses are lost (the next round's say the
                # same, newer), but the rounds go on, so health resumes when the broker returns.
                self.metrics.count_error(exc)
                log.warning(
                    "health statuses not published",
                    connector=self.name,
                    error_type=type(exc).__name__,
                )
            # A steady cadence: the next round starts one interval after this one started.
            pause = self.options.health_interval_s - (loop.time() - started)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, pause))

    async def check_health(self) -> int:
        """Check every watched device once, ``concurrency`` at a time; returns statuses published.

        A pool of ``concurrency`` workers takes the devices in turn: a round holds that many
        checks (tasks, replies, connections) at once, never one waiting task per device.
        """
        watches = list(self._devices.values())
        queue = iter(watches)

        async def worker() -> int:
            published = 0
            for watch in queue:  # the workers share one iterator: each device is checked once
                published += await self._health_of(watch)
            return published

        workers = min(self.options.concurrency, len(watches))
        counts = await asyncio.gather(*(worker() for _ in range(workers)))
        return sum(counts) + await self._unwatched_health()

    async def _unwatched_health(self) -> int:
        """``degraded``, with the reason, for every camera this process owns but cannot watch."""
        now = utcnow()
        statuses = [
            CameraStatus(
                camera_id=record.camera_id,
                state=CameraState.DEGRADED,
                checked_at=now,
                reason=f"not watched ({unwatched.state.value}): {unwatched.reason}"[:4096],
                connector=self.name,
            )
            for unwatched in self._unwatched.values()
            for record in unwatched.target.records
        ]
        if statuses:
            await self._require_producer().send_batch(self.topics.status, statuses)
            self.metrics.statuses += len(statuses)
        return len(statuses)

    async def _health_of(self, watch: DeviceWatch) -> int:
        self.metrics.health_checks += 1
        deadline = self.health_deadline_s
        try:
            statuses = await asyncio.wait_for(watch.connector.health(), deadline)
        except AuthenticationError as exc:
            statuses = self._statuses(watch, CameraState.UNAUTHORIZED, str(exc))
        except (RetriableError, TimeoutError) as exc:
            reason = str(exc) or f"health check got no answer within {deadline:g}s"
            statuses = self._statuses(watch, CameraState.OFFLINE, reason)
        except DeviceDataError as exc:
            self.metrics.count_error(exc)
            await self._dead_letter_input(watch, exc)
            statuses = self._statuses(watch, CameraState.DEGRADED, str(exc))
        except ConnectorError as exc:
            statuses = self._statuses(watch, CameraState.DEGRADED, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # noqa: BLE001 - a plugin's bug must not stop the health round
            self.metrics.count_error(exc)
            log.error(
                "health check crashed",
                connector=self.name,
                device=watch.target.device_id,
                error_type=type(exc).__name__,
            )
            statuses = self._statuses(
                watch, CameraState.DEGRADED, f"connector error: {type(exc).__name__}"
            )
        owned = [s for s in statuses if s.camera_id in watch.camera_ids]
        if watch.target.device_id not in self._devices:
            return 0  # revoked while checking: its partitions belong to someone else now
        if owned:
            await self._require_producer().send_batch(self.topics.status, owned)
            self.metrics.statuses += len(owned)
        return len(owned)

    def _statuses(self, watch: DeviceWatch, state: CameraState, reason: str) -> list[CameraStatus]:
        now = utcnow()
        return [
            CameraStatus(
                camera_id=cam,
                state=state,
                checked_at=now,
                reason=reason[:4096],
                connector=self.name,
            )
            for cam in sorted(watch.camera_ids)
        ]

    def _require_producer(self) -> Publisher:
        if self._producer is None:
            raise RuntimeError("the watch service is not running")
        return self._producer
