"""The PullPoint subscription of one device: an explicit state machine that keeps events flowing.

    IDLE ──create──► ACTIVE ──pull──► ACTIVE (messages)
                       │  └─renew before expiry─► ACTIVE
                       └─fault/unreachable on pull or renew─► LOST ──backoff, create──► ACTIVE
    any ──close──► CLOSED (Unsubscribe sent best-effort)

A device that reboots forgets its subscriptions, so a fault on PullMessages or Renew (typically
``wsrf-rw:ResourceUnknownFault``) or a refused connection means "subscribe again", after a backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import structlog
from lxml import etree

from connectors.onvif.device import OnvifDevice, repoint
from connectors.onvif.event_topics import notifications
from connectors.sdk.devicedata import aware_time
from connectors.sdk.errors import ConnectorError, DeviceDataError, RetriableError
from connectors.sdk.lifecycle import Closed, until_closed
from connectors.sdk.xmlsafe import text
from core.backoff import Backoff

log = structlog.get_logger("connectors.onvif.pullpoint")

TEV = "http://www.onvif.org/ver10/events/wsdl"
WSNT = "http://docs.oasis-open.org/wsn/b-2"
_ACTION_BASE = "http://www.onvif.org/ver10/events/wsdl/"


class SubscriptionState(StrEnum):
    IDLE = "idle"
    ACTIVE = "active"
    LOST = "lost"
    CLOSED = "closed"


@dataclass(frozen=True)
class PullPointSettings:
    termination_s: int = 60  # subscription lifetime asked for; renewed well before it ends
    renew_fraction: float = 0.5  # renew when this fraction of the lifetime is left
    pull_timeout_s: int = 5
    message_limit: int = 100
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0


@dataclass
class PullBatch:
    """What one PullMessages returned: the NotificationMessage elements, or a rejected reply."""

    messages: list[etree._Element]
    rejected: DeviceDataError | None = None


def _duration(seconds: float) -> str:
    return f"PT{int(seconds)}S"


def granted_lifetime(body: etree._Element, asked: timedelta) -> timedelta:
    """How long the subscription in a Create/Renew reply lives: its TerminationTime less its
    CurrentTime (the device's clock on both sides), at most ``asked``; ``asked`` when unreadable.

    Capped because a device may claim any time up to year 9999: renewing earlier than needed
    costs one request, scheduling a renewal centuries ahead would lose the subscription.
    """
    current = aware_time(text(body, "CurrentTime"))
    termination = aware_time(text(body, "TerminationTime"))
    if current is None or termination is None or termination <= current:
        return asked
    return min(termination - current, asked)


class PullPointSubscription:
    """Create, pull, renew, re-create and unsubscribe; ``batches()`` yields until ``close()``."""

    def __init__(
        self,
        device: OnvifDevice,
        events_url: str,
        settings: PullPointSettings | None = None,
    ) -> None:
        self.device = device
        self.events_url = events_url
        self.settings = settings or PullPointSettings()
        self.state = SubscriptionState.IDLE
        self.address: str | None = None
        self.renew_at: datetime | None = None
        self.subscriptions_created = 0
        self._closing = asyncio.Event()

    async def _call(
        self, url: str, body: str, action: str, *, timeout_s: float | None = None
    ) -> etree._Element:
        return await self.device.transport.call(
            url,
            body,
            device=self.device.address,
            credentials=self.device.credentials,
            clock_offset=self.device.clock_offset or timedelta(0),
            action=action,
            to=url,
            timeout_s=timeout_s or self.device.timeout_s,
        )

    def _schedule_renewal(self, reply: etree._Element) -> None:
        lifetime = granted_lifetime(reply, timedelta(seconds=self.settings.termination_s))
        self.renew_at = datetime.now(UTC) + lifetime * (1 - self.settings.renew_fraction)

    async def create(self) -> None:
        body = await self._call(
            self.events_url,
            f'<CreatePullPointSubscription xmlns="{TEV}">'
            f"<InitialTerminationTime>{_duration(self.settings.termination_s)}</InitialTerminationTime>"
            "</CreatePullPointSubscription>",
            _ACTION_BASE + "EventPortType/CreatePullPointSubscriptionRequest",
        )
        address = text(body, "SubscriptionReference", "Address")
        self.address = repoint(address, self.device.address, self.device.scheme)
        if self.address is None:
            raise DeviceDataError(
                "CreatePullPointSubscription reply has no subscription address",
                device=self.device.address,
            )
        self._schedule_renewal(body)
        self.state = SubscriptionState.ACTIVE
        self.subscriptions_created += 1
        log.info(
            "onvif.subscription.created",
            device=self.device.address,
            count=self.subscriptions_created,
        )

    async def renew(self) -> None:
        assert self.address is not None
        body = await self._call(
            self.address,
            f'<Renew xmlns="{WSNT}"><TerminationTime>{_duration(self.settings.termination_s)}'
            "</TerminationTime></Renew>",
            "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/RenewRequest",
        )
        self._schedule_renewal(body)

    async def pull(self) -> PullBatch:
        assert self.address is not None
        try:
            body = await self._call(
                self.address,
                f'<PullMessages xmlns="{TEV}"><Timeout>{_duration(self.settings.pull_timeout_s)}'
                f"</Timeout><MessageLimit>{self.settings.message_limit}</MessageLimit></PullMessages>",
                _ACTION_BASE + "PullPointSubscription/PullMessagesRequest",
                # The device may hold a PullMessages open for its Timeout; then one call's deadline.
                timeout_s=self.settings.pull_timeout_s
                + (self.device.timeout_s or self.device.transport.limits.timeout_s),
            )
        except DeviceDataError as exc:
            # Hostile or malformed reply: the subscription itself is fine; the batch is lost
            # to the dead letters, not to a crash.
            return PullBatch(messages=[], rejected=exc)
        return PullBatch(messages=notifications(body))

    async def unsubscribe(self) -> None:
        if self.address is None:
            return
        # Best effort: a device drops an abandoned subscription at its termination time.
        with contextlib.suppress(ConnectorError):
            await self._call(
                self.address,
                f'<Unsubscribe xmlns="{WSNT}"/>',
                "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/UnsubscribeRequest",
                timeout_s=2,
            )
        self.address = None

    async def _step(self) -> PullBatch:
        if self.state is not SubscriptionState.ACTIVE:
            await self.create()
        if self.renew_at is not None and datetime.now(UTC) >= self.renew_at:
            await self.renew()
        return await self.pull()

    def _lose(self, exc: Exception) -> None:
        self.state = SubscriptionState.LOST
        self.address = None
        self.renew_at = None
        log.warning("onvif.subscription.lost", device=self.device.address, reason=str(exc))

    async def batches(self) -> AsyncGenerator[PullBatch, None]:
        """Pull batches until ``close()``: renews on time, re-subscribes after a lost subscription."""
        backoff = Backoff(
            initial_s=self.settings.backoff_initial_s, max_s=self.settings.backoff_max_s
        )
        while not self._closing.is_set():
            try:
                # A pull may wait seconds for events: close() must not wait for it.
                batch = await until_closed(self._step(), self._closing)
            except Closed:
                return
            except RetriableError as exc:
                # SoapFault (a rebooted device forgot the subscription) or an unreachable device.
                self._lose(exc)
            except DeviceDataError as exc:
                # A hostile reply to create/renew: start over, and keep the input for the dead letters.
                self._lose(exc)
                yield PullBatch(messages=[], rejected=exc)
            else:
                backoff.reset()
                yield batch
                continue
            await self._sleep(backoff.next_delay())

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), timeout=seconds)

    async def close(self) -> None:
        self._closing.set()
        was_active = self.state is SubscriptionState.ACTIVE
        self.state = SubscriptionState.CLOSED
        if was_active:
            await self.unsubscribe()
