"""The ONVIF connector: the SDK contract (check, discover, health, events) for one ONVIF device.

Layers, each its own module: ``soap`` (one shared HTTP pool, WS-UsernameToken, caps, error
translation) → ``device`` (raw ONVIF operations) and ``zeep_device`` (the onboarding probe
through onvif-zeep-async over the same pool) → ``probe`` (device → CameraRecord), ``health``
(one cheap authenticated call → CameraStatus), ``pullpoint`` (subscription state machine) →
``event_topics`` (table-driven topic parser → DeviceEvent / UnparsedEvent). Every connector
instance of a process shares one ``SoapTransport``, so 20,000 devices share one connection pool
and the WSDLs the probe needs are parsed once per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, ClassVar

from pydantic import Field

from connectors.onvif.device import DeviceSnapshot, OnvifDevice
from connectors.onvif.event_topics import TopicParser
from connectors.onvif.health import HealthTarget, check_camera
from connectors.onvif.probe import CONNECTOR_NAME, Placement, camera_records
from connectors.onvif.pullpoint import (
    PullPointSettings,
    PullPointSubscription,
    SubscriptionState,
)
from connectors.onvif.soap import SoapTransport, TransportLimits
from connectors.onvif.zeep_device import ZeepOnvifDevice
from connectors.sdk.base import CheckResult, Connector, ConnectorConfig, UnparsedEvent
from connectors.sdk.channels import ChannelMap
from connectors.sdk.errors import FatalConnectorError
from topics.models import CameraRecord, CameraStatus, DeviceEvent


class _SharedTransport:
    """One ``SoapTransport`` per event loop, closed when the last connector using it closes."""

    def __init__(self, transport: SoapTransport) -> None:
        self.transport = transport
        self.users = 0


_SHARED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _SharedTransport] = (
    weakref.WeakKeyDictionary()
)


def acquire_shared_transport(limits: TransportLimits | None = None) -> SoapTransport:
    """The running loop's shared transport (created on first use); pair with ``release``."""
    loop = asyncio.get_running_loop()
    shared = _SHARED.get(loop)
    if shared is None:
        shared = _SharedTransport(SoapTransport(limits))
        _SHARED[loop] = shared
    shared.users += 1
    return shared.transport


async def release_shared_transport(transport: SoapTransport) -> None:
    loop = asyncio.get_running_loop()
    shared = _SHARED.get(loop)
    if shared is None or shared.transport is not transport:
        return
    shared.users -= 1
    if shared.users <= 0:
        del _SHARED[loop]
        await transport.close()


class OnvifConfig(ConnectorConfig):
    """One ONVIF device. ``camera_id``/``device_id`` come from its registry record when watched."""

    camera_id: str | None = Field(default=None, pattern=r"^cam-[0-9a-f]{20}$")
    device_id: str | None = None
    name: str | None = None
    endpoint_reference: str | None = None
    degraded_ms: float = Field(default=2000.0, gt=0)
    subscription_s: int = Field(default=60, ge=10, le=3600)
    pull_timeout_s: int = Field(default=5, ge=1, le=60)


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
        self._owns_transport = False
        self._closed = False
        self._device: OnvifDevice | None = None
        self._subscription: PullPointSubscription | None = None

    @property
    def transport(self) -> SoapTransport:
        if self._closed:
            # A late health check or event read after close() must not take a new share of
            # the pool that nothing would give back.
            raise FatalConnectorError("connector is closed", device=self.config.address)
        if self._transport is None:
            self._transport = acquire_shared_transport(
                TransportLimits(
                    timeout_s=self.config.timeout_s,
                    max_response_bytes=self.config.max_response_bytes,
                )
            )
            self._owns_transport = True
        return self._transport

    @property
    def device(self) -> OnvifDevice:
        if self._device is None:
            offset = self.state.get("clock_offset_s")
            self._device = OnvifDevice(
                self.transport,
                self.config.address,
                self.config.credentials(),
                scheme=self.config.scheme,
                clock_offset=timedelta(seconds=offset) if offset is not None else None,
                timeout_s=self.config.timeout_s,
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
        snapshot = await ZeepOnvifDevice(
            self.transport,
            config.address,
            self.device.credentials,
            scheme=config.scheme,
            timeout_s=config.timeout_s,
        ).snapshot()
        self.device.clock_offset = snapshot.clock_offset
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

    async def events(self) -> AsyncIterator[DeviceEvent | UnparsedEvent]:
        """Normalised events from a PullPoint subscription that outlives one ``events()`` call.

        A hostile or malformed PullMessages reply raises DeviceDataError (the runtime records it
        in the dead letters and calls ``events()`` again); the subscription stays open across
        that, so nothing the device queued meanwhile is lost. ``close()`` ends it.
        """
        camera_id, device_id = await self._identity()
        if self.device.clock_offset is None:
            await self.device.sync_clock()
        parser = TopicParser(camera_id=camera_id, device_id=device_id)
        subscription = self._subscription
        if subscription is None or subscription.state is SubscriptionState.CLOSED:
            subscription = PullPointSubscription(
                self.device,
                await self._events_url(),
                PullPointSettings(
                    termination_s=self.config.subscription_s,
                    pull_timeout_s=self.config.pull_timeout_s,
                ),
            )
            self._subscription = subscription
        async with contextlib.aclosing(subscription.batches()) as batches:
            async for batch in batches:
                if batch.rejected is not None:
                    raise batch.rejected
                for message in batch.messages:
                    yield parser.parse(message, self.channels)

    @property
    def subscription(self) -> PullPointSubscription | None:
        return self._subscription

    async def close(self) -> None:
        self._closed = True
        try:
            if self._subscription is not None:
                await self._subscription.close()
        finally:
            # Even a failed or cancelled unsubscribe must hand the shared pool back.
            if self._owns_transport and self._transport is not None:
                transport, self._transport, self._device = self._transport, None, None
                self._owns_transport = False
                await release_shared_transport(transport)
