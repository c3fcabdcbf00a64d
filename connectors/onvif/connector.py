"""The ONVIF connector: the SDK contract (check, discover, health, events) for one ONVIF device.

Layers, each its own module: ``soap`` (SOAP on the SDK's shared HTTP pool) → ``device`` (the
raw ONVIF operations, the one implementation of them) → ``probe`` (device → CameraRecord),
``health`` (one cheap authenticated call → CameraStatus), ``subscription`` with its two
deliveries ``push`` and ``pullpoint`` → ``event_topics`` (table-driven topic parser →
DeviceEvent / UnparsedEvent). Every connector instance of a process shares one ``SoapTransport``
(``SHARED``, with the gate that sets their event subscriptions up in waves) and one notification
endpoint (``push.ENDPOINTS``), so 20,000 devices share one connection pool and one listening
socket.

Events are pushed where the camera can reach the endpoint and pulled otherwise: ``event_delivery``
(per device, else ``TILIK_ONVIF_EVENT_DELIVERY``) is ``auto`` (push first; a camera whose first
Notify never arrives is remembered as pull-only), ``push`` or ``pull``; without
``TILIK_ONVIF_PUSH_URL`` every camera is pulled.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar, Literal

import structlog
from pydantic import Field

from connectors.onvif.device import DeviceSnapshot, OnvifDevice
from connectors.onvif.event_topics import TopicParser
from connectors.onvif.health import HealthTarget, check_camera
from connectors.onvif.probe import CONNECTOR_NAME, Placement, camera_records
from connectors.onvif.pullpoint import PullPointSettings, PullPointSubscription
from connectors.onvif.push import (
    ENDPOINTS,
    NotificationEndpoint,
    PushSettings,
    PushSubscription,
    PushUnreachable,
    open_endpoint,
)
from connectors.onvif.soap import SoapTransport
from connectors.onvif.subscription import Subscription, SubscriptionState
from connectors.sdk.base import CheckResult, Connector, ConnectorConfig, UnparsedEvent
from connectors.sdk.channels import ChannelMap
from connectors.sdk.errors import ConfigurationError, FatalConnectorError, RetriableError
from connectors.sdk.shared import PerLoop
from core.settings import get_settings
from topics.models import CameraRecord, CameraStatus, DeviceEvent

log = structlog.get_logger("connectors.onvif.connector")

EventDelivery = Literal["auto", "push", "pull"]

#: event subscriptions being set up at once in a process (clock, service addresses, subscribe
#: and, for push, the first Notify): a process taking over thousands of cameras at once (a start,
#: a rebalance, a city-wide power cut) opens them in waves, not all within one second
SETUPS_AT_ONCE = 64


@dataclass
class OnvifShared:
    """What every ONVIF connector on a loop shares: the SOAP transport and the setup gate."""

    transport: SoapTransport = field(default_factory=SoapTransport)
    setups: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(SETUPS_AT_ONCE))

    async def close(self) -> None:
        await self.transport.close()


#: the process's shared parts, made by the first ONVIF connector on the loop
SHARED: PerLoop[OnvifShared] = PerLoop(close=OnvifShared.close)


class OnvifConfig(ConnectorConfig):
    """One ONVIF device. ``camera_id``/``device_id`` come from its registry record when watched."""

    camera_id: str | None = Field(default=None, pattern=r"^cam-[0-9a-f]{20}$")
    device_id: str | None = None
    name: str | None = None
    endpoint_reference: str | None = None
    degraded_ms: float = Field(default=2000.0, gt=0)
    subscription_s: int = Field(default=60, ge=10, le=3600)
    pull_timeout_s: int = Field(default=5, ge=1, le=60)
    event_delivery: EventDelivery | None = Field(
        default=None,
        description=(
            "auto: push where the camera reaches the notification endpoint, PullPoint "
            "otherwise; push; pull. Unset: TILIK_ONVIF_EVENT_DELIVERY."
        ),
    )
    push_subscription_s: int = Field(default=300, ge=30, le=3600)


def config_records(snapshot: DeviceSnapshot, config: OnvifConfig) -> list[CameraRecord]:
    """The registry records of a probed device (one per video source), placed as its config says."""
    return camera_records(
        snapshot,
        placement=Placement(
            owner=config.owner,
            location=config.location,
            site_type=config.site_type,
            sharing=config.sharing,
            name=config.name,
        ),
        credential_ref=config.credential_ref,
        endpoint_reference=config.endpoint_reference,
    )


def config_device(
    config: OnvifConfig, transport: SoapTransport, *, clock_offset: timedelta | None = None
) -> OnvifDevice:
    """The device a config names (its scheme, deadline and response cap) over ``transport``."""
    return OnvifDevice(
        transport,
        config.address,
        config.credentials(),
        scheme=config.scheme,
        clock_offset=clock_offset,
        timeout_s=config.timeout_s,
        max_response_bytes=config.max_response_bytes,
    )


class OnvifConnector(Connector[OnvifConfig]):
    name: ClassVar[str] = CONNECTOR_NAME
    simulator = "connectors.onvif.simulator.cli:simulate_onvif"
    config_model: ClassVar[type[ConnectorConfig]] = OnvifConfig
    version: ClassVar[str] = "0.1.0"

    def __init__(
        self,
        config: OnvifConfig,
        *,
        state: dict[str, Any] | None = None,
        transport: SoapTransport | None = None,
    ) -> None:
        super().__init__(config, state=state)
        self._transport = transport
        self._shared: OnvifShared | None = None
        self._closed = False
        self._device: OnvifDevice | None = None
        self._subscription: Subscription | None = None
        self._endpoint: NotificationEndpoint | None = None

    @property
    def transport(self) -> SoapTransport:
        if self._closed:
            # A late health check or event read after close() must not take a new share of
            # the pool that nothing would give back.
            raise FatalConnectorError("connector is closed", device=self.config.address)
        if self._transport is None:
            # Deadlines and caps are per call (the device's config), so one pool fits all.
            self._transport = self._shares().transport
        return self._transport

    def _shares(self) -> OnvifShared:
        if self._shared is None:
            self._shared = SHARED.acquire(OnvifShared)
        return self._shared

    @property
    def device(self) -> OnvifDevice:
        if self._device is None:
            offset = self.state.get("clock_offset_s")
            self._device = config_device(
                self.config,
                self.transport,
                clock_offset=timedelta(seconds=offset) if offset is not None else None,
            )
        return self._device

    def _remember_clock(self) -> None:
        if self.device.clock_offset is not None:
            self.state["clock_offset_s"] = self.device.clock_offset.total_seconds()

    async def check(self) -> CheckResult:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await self.device.sync_clock()
        info = await self.device.device_information()
        self._remember_clock()
        detail = " ".join(p for p in (info.manufacturer, info.model) if p)
        return CheckResult(ok=True, latency_ms=(loop.time() - started) * 1000, detail=detail)

    async def discover(self) -> list[CameraRecord]:
        config = self.config
        snapshot = await self.device.snapshot()
        self._remember_clock()
        records = config_records(snapshot, config)
        self.state.update(camera_id=records[0].camera_id, device_id=records[0].device_id)
        self.channels = ChannelMap.from_records(records)
        if snapshot.services.events:
            self.state["events_url"] = snapshot.services.events
        return records

    async def _identity(self) -> tuple[str, str]:
        camera_id = self.config.camera_id or self.state.get("camera_id")
        device_id = self.config.device_id or self.state.get("device_id")
        if not camera_id or not device_id:
            await self.discover()
            camera_id, device_id = self.state["camera_id"], self.state["device_id"]
        return str(camera_id), str(device_id)

    async def health(self) -> list[CameraStatus]:
        camera_id, _ = await self._identity()
        target = HealthTarget(
            camera_id=camera_id,
            address=self.config.address,
            credentials=self.device.credentials,
            clock_offset=self.device.clock_offset,
        )
        status = await check_camera(
            self.transport,
            target,
            degraded_ms=self.config.degraded_ms,
            timeout_s=self.config.timeout_s,
        )
        if target.clock_offset is not None:
            self.device.clock_offset = target.clock_offset
            self._remember_clock()
        # An encoder's channels answer through one device: its health is theirs.
        return [status] + [
            status.model_copy(update={"camera_id": camera})
            for camera in self.channels.camera_ids
            if camera != status.camera_id
        ]

    async def _events_url(self) -> str:
        url = self.state.get("events_url")
        if not url:
            if self.device.clock_offset is None:
                await self.device.sync_clock()
            url = (await self.device.services()).events
            if not url:
                raise FatalConnectorError("device has no event service", device=self.config.address)
            self.state["events_url"] = url
        return str(url)

    def _delivery(self) -> EventDelivery:
        """How this camera's events travel now (see the module docstring)."""
        settings = get_settings()
        chosen = self.config.event_delivery or settings.onvif_event_delivery
        if chosen == "pull" or (chosen == "auto" and not settings.onvif_push_url):
            return "pull"
        if chosen == "auto" and self.state.get("event_delivery") == "pull":
            return "pull"  # its first Notify never arrived: this camera cannot reach us
        return "push"

    def _push_forced(self) -> bool:
        return (self.config.event_delivery or get_settings().onvif_event_delivery) == "push"

    async def _push_endpoint(self) -> NotificationEndpoint | None:
        if self._endpoint is None:
            try:
                self._endpoint = await open_endpoint(get_settings())
            except ConfigurationError as exc:
                if self._push_forced():
                    raise
                # The endpoint is the process's problem, not this camera's: pull meanwhile.
                log.error("onvif.push.endpoint_unavailable", reason=str(exc))
        return self._endpoint

    async def _open_subscription(self) -> Subscription:
        events_url = await self._events_url()
        if self._delivery() == "push" and (endpoint := await self._push_endpoint()) is not None:
            return PushSubscription(
                self.device,
                events_url,
                endpoint,
                PushSettings(termination_s=self.config.push_subscription_s),
                setups=self._shares().setups,
            )
        return PullPointSubscription(
            self.device,
            events_url,
            PullPointSettings(
                termination_s=self.config.subscription_s,
                pull_timeout_s=self.config.pull_timeout_s,
            ),
            setups=self._shares().setups,
        )

    async def _fall_back_to_pull(self, subscription: Subscription, exc: PushUnreachable) -> None:
        await subscription.close()
        self._subscription = None
        await self._release_endpoint()
        if self._push_forced():
            raise RetriableError(str(exc), device=self.config.address) from None
        self.state["event_delivery"] = "pull"
        log.warning(
            "onvif.push.unreachable", device=self.config.address, reason=str(exc), now="pull"
        )

    async def events(self) -> AsyncIterator[DeviceEvent | UnparsedEvent]:
        """Normalised events from a subscription (push or PullPoint) that outlives one call.

        A hostile or malformed reply or Notify raises DeviceDataError (the runtime records it in
        the dead letters and calls ``events()`` again); the subscription stays open across that,
        so nothing the device sent meanwhile is lost. A push subscription whose camera cannot
        reach the endpoint is replaced by a PullPoint one. ``close()`` ends it.
        """
        camera_id, device_id = await self._identity()
        parser = TopicParser(camera_id=camera_id, device_id=device_id)
        while not self._closed:
            subscription = self._subscription
            if subscription is None or subscription.state is SubscriptionState.CLOSED:
                async with self._shares().setups:
                    if self.device.clock_offset is None:
                        await self.device.sync_clock()
                    subscription = self._subscription = await self._open_subscription()
            try:
                async with contextlib.aclosing(subscription.batches()) as batches:
                    async for batch in batches:
                        if batch.rejected is not None:
                            raise batch.rejected
                        # A suspended generator keeps its locals, and one message keeps its
                        # whole parsed Notify (libxml2's memory, not Python's) alive: nothing
                        # of a batch may stay referenced here while the next one is awaited.
                        messages = batch.messages
                        del batch
                        while messages:
                            yield parser.parse(messages.pop(0), self.channels)
            except PushUnreachable as exc:
                await self._fall_back_to_pull(subscription, exc)
                continue
            return

    @property
    def subscription(self) -> Subscription | None:
        return self._subscription

    async def _release_endpoint(self) -> None:
        endpoint, self._endpoint = self._endpoint, None
        if endpoint is not None:
            await ENDPOINTS.release(endpoint)

    async def close(self) -> None:
        self._closed = True
        try:
            if self._subscription is not None:
                await self._subscription.close()
        finally:
            # Even a failed or cancelled unsubscribe must hand the shared pool and endpoint back.
            await self._release_endpoint()
            shared, self._shared = self._shared, None
            if shared is not None:
                if self._transport is shared.transport:
                    self._transport, self._device = None, None
                await SHARED.release(shared)
