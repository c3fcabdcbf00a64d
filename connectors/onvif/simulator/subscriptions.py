"""Event subscriptions of a simulated camera (PullPoint and push): bounded queues, termination
times, loss on reboot."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from connectors.onvif.simulator.events import SimulatedEvent

MAX_QUEUED_MESSAGES = 1000


class UnknownSubscription(LookupError):
    """The subscription id is not (or no longer) known to the device."""


class Notifier(Protocol):
    """What sends a push subscription's queued messages to its consumer."""

    def queued(self, subscription: Subscription) -> None: ...


class PushRoute(Protocol):
    """The camera behind a push subscription: its notifier, address and reach."""

    @property
    def notifier(self) -> Notifier | None: ...

    @property
    def base_url(self) -> str: ...

    @property
    def reaches_consumers(self) -> bool: ...


@dataclass
class Subscription:
    """One subscription: a bounded queue of messages and its termination time on the camera
    clock. A PullPoint's queue waits for PullMessages; a push subscription's (``consumer`` set)
    is drained by its notifier, which POSTs Notify to the consumer."""

    subscription_id: str
    termination: dt.datetime
    messages: deque[SimulatedEvent] = field(
        default_factory=lambda: deque(maxlen=MAX_QUEUED_MESSAGES)
    )
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    consumer: str | None = None
    route: PushRoute | None = None
    ended: bool = False

    @property
    def manager_url(self) -> str:
        base = self.route.base_url if self.route is not None else ""
        return f"{base}/onvif/subscription/{self.subscription_id}"

    def push(self, event: SimulatedEvent) -> None:
        self.messages.append(event)
        self.arrived.set()
        if self.route is not None and self.route.notifier is not None:
            self.route.notifier.queued(self)

    def take(self, limit: int) -> list[SimulatedEvent]:
        taken = [self.messages.popleft() for _ in range(min(limit, len(self.messages)))]
        if not self.messages:
            self.arrived.clear()
        return taken


class SubscriptionManager:
    """The PullPoint subscriptions of one camera; a reboot forgets them all."""

    def __init__(
        self,
        clock: Callable[[], dt.datetime],
        route: PushRoute | None = None,
        max_subscriptions: int = 16,
    ) -> None:
        self._clock = clock
        self._route = route
        self._subscriptions: dict[str, Subscription] = {}
        self.max_subscriptions = max_subscriptions

    def __len__(self) -> int:
        return len(self._subscriptions)

    def _expire(self) -> None:
        now = self._clock()
        for sid in [s for s, sub in self._subscriptions.items() if sub.termination <= now]:
            self._subscriptions.pop(sid).ended = True

    def create(self, termination: dt.datetime, consumer: str | None = None) -> Subscription | None:
        """A new subscription (push when ``consumer`` is given), or None when the device has no
        room for another."""
        self._expire()
        if len(self._subscriptions) >= self.max_subscriptions:
            return None
        subscription = Subscription(
            uuid.uuid4().hex,
            termination,
            consumer=consumer,
            route=self._route if consumer is not None else None,
        )
        self._subscriptions[subscription.subscription_id] = subscription
        return subscription

    def get(self, subscription_id: str) -> Subscription:
        subscription = self._subscriptions.get(subscription_id)
        if subscription is None or subscription.termination <= self._clock():
            gone = self._subscriptions.pop(subscription_id, None)
            if gone is not None:
                gone.ended = True
            raise UnknownSubscription(subscription_id)
        return subscription

    def remove(self, subscription_id: str) -> None:
        subscription = self._subscriptions.pop(subscription_id, None)
        if subscription is None:
            raise UnknownSubscription(subscription_id)
        subscription.ended = True
        subscription.arrived.set()  # a blocked PullMessages learns of the Unsubscribe at once

    def publish(self, event: SimulatedEvent) -> None:
        self._expire()
        for subscription in self._subscriptions.values():
            subscription.push(event)

    def drop_all(self) -> None:
        """Forget every subscription and wake pullers so they see the loss at once."""
        for subscription in self._subscriptions.values():
            subscription.ended = True
            subscription.arrived.set()
        self._subscriptions.clear()

    @property
    def active(self) -> bool:
        return bool(self._subscriptions)

    async def wait(
        self, subscription: Subscription, timeout: float, limit: int
    ) -> list[SimulatedEvent]:
        """Messages now, or as soon as one arrives within ``timeout`` seconds."""
        if not subscription.messages:
            try:
                await asyncio.wait_for(subscription.arrived.wait(), timeout)
            except TimeoutError:
                return []
        if self._subscriptions.get(subscription.subscription_id) is not subscription:
            raise UnknownSubscription(subscription.subscription_id)
        return subscription.take(limit)
