"""An ONVIF event subscription of one device, whichever way its events travel: an explicit state
machine that keeps them flowing.

    IDLE ──create──► ACTIVE ──next batch──► ACTIVE (messages)
                       │  └─renew before expiry─► ACTIVE
                       └─fault/unreachable on create, renew or pull──► LOST ──backoff, create──► ACTIVE
    any ──close──► CLOSED (Unsubscribe sent best-effort)

Two deliveries share it (``connectors.onvif.pullpoint``: the connector asks with PullMessages;
``connectors.onvif.push``: the camera POSTs Notify to the connector's endpoint); they differ only
in how a subscription is created and how the next batch arrives. Renew and Unsubscribe go to the
subscription manager either way (WS-BaseNotification). A device that reboots forgets its
subscriptions, so a fault on Renew or PullMessages (typically ``wsrf-rw:ResourceUnknownFault``)
or a refused connection means "subscribe again", after a backoff.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import ClassVar

import structlog
from lxml import etree

from connectors.onvif.device import OnvifDevice, repoint
from connectors.sdk.devicedata import aware_time
from connectors.sdk.errors import ConnectorError, DeviceDataError, RetriableError
from connectors.sdk.lifecycle import Closed
from connectors.sdk.xmlsafe import text
from core.backoff import Backoff

log = structlog.get_logger("connectors.onvif.subscription")

TEV = "http://www.onvif.org/ver10/events/wsdl"
WSNT = "http://docs.oasis-open.org/wsn/b-2"
WSA = "http://www.w3.org/2005/08/addressing"
EVENTS_ACTION = "http://www.onvif.org/ver10/events/wsdl/"
MANAGER_ACTION = "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/"


class SubscriptionState(StrEnum):
    IDLE = "idle"
    ACTIVE = "active"
    LOST = "lost"
    CLOSED = "closed"


@dataclass(frozen=True)
class SubscriptionSettings:
    termination_s: int = 60  # subscription lifetime asked for; renewed well before it ends
    renew_fraction: float = 0.5  # renew when this fraction of the lifetime is left
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0


@dataclass
class EventBatch:
    """NotificationMessage elements that arrived together, or one rejected reply (never both)."""

    messages: list[etree._Element]
    rejected: DeviceDataError | None = None


def duration(seconds: float) -> str:
    return f"PT{int(seconds)}S"


def granted_lifetime(body: etree._Element, asked: timedelta) -> timedelta:
    """How long the subscription in a Create/Subscribe/Renew reply lives: its TerminationTime
    less its CurrentTime (the device's clock on both sides), at most ``asked``; ``asked`` when
    unreadable.

    Capped because a device may claim any time up to year 9999: renewing earlier than needed
    costs one request, scheduling a renewal centuries ahead would lose the subscription.
    """
    current = aware_time(text(body, "CurrentTime"))
    termination = aware_time(text(body, "TerminationTime"))
    if current is None or termination is None or termination <= current:
        return asked
    return min(termination - current, asked)


class Subscription(abc.ABC):
    """Create, renew, re-create and unsubscribe; ``batches()`` yields until ``close()``."""

    #: how the events travel, for logs and for the connector's choice
    delivery: ClassVar[str]

    def __init__(
        self,
        device: OnvifDevice,
        events_url: str,
        settings: SubscriptionSettings,
        *,
        setups: asyncio.Semaphore | None = None,
    ) -> None:
        self.device = device
        #: bounds how many subscriptions of the process are being created at once
        self.setups = setups
        self.events_url = events_url
        self.settings = settings
        self.state = SubscriptionState.IDLE
        self.address: str | None = None
        self.renew_at: datetime | None = None
        self.subscriptions_created = 0
        self._closed = False
        # Made only when something must wait for close() (a pull, a backoff): one per camera
        # would cost memory a push subscription never needs.
        self._closing: asyncio.Event | None = None

    @property
    def closing(self) -> asyncio.Event:
        if self._closing is None:
            self._closing = asyncio.Event()
            if self._closed:
                self._closing.set()
        return self._closing

    # --- what a delivery decides ----------------------------------------------------------

    @abc.abstractmethod
    async def _subscribe(self) -> etree._Element:
        """Ask the device for a subscription; the reply's Body."""

    @abc.abstractmethod
    async def next_batch(self) -> EventBatch:
        """The next notifications (possibly none, when a renewal is due first)."""

    async def _confirm(self) -> None:  # noqa: B027 - a hook: most deliveries need no check
        """Check the new subscription delivers (push waits for its first Notify); raise if not."""

    def _forget(self) -> None:  # noqa: B027 - a hook: most deliveries hold nothing
        """Drop what the delivery holds for the current subscription."""

    # --- shared ---------------------------------------------------------------------------

    async def call(
        self, url: str, body: str, action: str, *, timeout_s: float | None = None
    ) -> etree._Element:
        return await self.device.call(url, body, action=action, to=url, timeout_s=timeout_s)

    def _schedule_renewal(self, reply: etree._Element) -> None:
        lifetime = granted_lifetime(reply, timedelta(seconds=self.settings.termination_s))
        self.renew_at = datetime.now(UTC) + lifetime * (1 - self.settings.renew_fraction)

    async def create(self) -> None:
        async with self.setups or contextlib.nullcontext():
            await self._create()

    async def _create(self) -> None:
        body = await self._subscribe()
        address = text(body, "SubscriptionReference", "Address")
        self.address = repoint(address, self.device.address, self.device.scheme)
        if self.address is None:
            raise DeviceDataError(
                "subscription reply has no subscription address", device=self.device.address
            )
        self._schedule_renewal(body)
        self.state = SubscriptionState.ACTIVE
        self.subscriptions_created += 1
        await self._confirm()
        log.info(
            "onvif.subscription.created",
            device=self.device.address,
            delivery=self.delivery,
            count=self.subscriptions_created,
        )

    async def renew(self) -> None:
        assert self.address is not None
        body = await self.call(
            self.address,
            f'<Renew xmlns="{WSNT}"><TerminationTime>{duration(self.settings.termination_s)}'
            "</TerminationTime></Renew>",
            MANAGER_ACTION + "RenewRequest",
        )
        self._schedule_renewal(body)

    async def unsubscribe(self) -> None:
        if self.address is None:
            return
        # Best effort: a device drops an abandoned subscription at its termination time.
        with contextlib.suppress(ConnectorError):
            await self.call(
                self.address,
                f'<Unsubscribe xmlns="{WSNT}"/>',
                MANAGER_ACTION + "UnsubscribeRequest",
                timeout_s=2,
            )
        self.address = None
        self._forget()

    async def step(self) -> EventBatch:
        if self.state is not SubscriptionState.ACTIVE:
            await self.create()
        if self.renew_at is not None and datetime.now(UTC) >= self.renew_at:
            await self.renew()
        return await self.next_batch()

    def _lose(self, exc: Exception) -> None:
        self.state = SubscriptionState.LOST
        self.address = None
        self.renew_at = None
        self._forget()
        log.warning(
            "onvif.subscription.lost",
            device=self.device.address,
            delivery=self.delivery,
            reason=str(exc),
        )

    async def batches(self) -> AsyncGenerator[EventBatch, None]:
        """Batches until ``close()``: renews on time, re-subscribes after a lost subscription."""
        backoff: Backoff | None = None
        while not self._closed:
            try:
                batch = await self.step()
            except Closed:
                return
            except RetriableError as exc:
                # A fault (a rebooted device forgot the subscription) or an unreachable device.
                self._lose(exc)
            except DeviceDataError as exc:
                # A hostile reply to create/renew: start over, and keep the input for the dead letters.
                self._lose(exc)
                yield EventBatch(messages=[], rejected=exc)
            else:
                backoff = None
                yield batch
                # Not kept while the next batch is awaited: its messages keep their parsed
                # documents (C memory) alive, a few KB per watched camera.
                del batch
                continue
            if backoff is None:
                backoff = Backoff(
                    initial_s=self.settings.backoff_initial_s, max_s=self.settings.backoff_max_s
                )
            await self._sleep(backoff.next_delay())

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closing.wait(), timeout=seconds)

    async def close(self) -> None:
        self._closed = True
        if self._closing is not None:
            self._closing.set()
        was_active = self.state is SubscriptionState.ACTIVE
        self.state = SubscriptionState.CLOSED
        if was_active:
            await self.unsubscribe()
        else:
            self._forget()
