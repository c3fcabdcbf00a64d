"""PullPoint subscriptions of a simulated camera: bounded queues, termination times, loss on reboot."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from connectors.onvif.simulator.events import SimulatedEvent

MAX_QUEUED_MESSAGES = 1000


class UnknownSubscription(LookupError):
    """The subscription id is not (or no longer) known to the device."""


@dataclass
class PullPointSubscription:
    """One PullPoint: a bounded queue of messages and its termination time on the camera clock."""

    subscription_id: str
    termination: dt.datetime
    messages: deque[SimulatedEvent] = field(
        default_factory=lambda: deque(maxlen=MAX_QUEUED_MESSAGES)
    )
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def push(self, event: SimulatedEvent) -> None:
        self.messages.append(event)
        self.arrived.set()

    def take(self, limit: int) -> list[SimulatedEvent]:
        taken = [self.messages.popleft() for _ in range(min(limit, len(self.messages)))]
        if not self.messages:
            self.arrived.clear()
        return taken


class SubscriptionManager:
    """The PullPoint subscriptions of one camera; a reboot forgets them all."""

    def __init__(self, clock: Callable[[], dt.datetime], max_subscriptions: int = 16) -> None:
        self._clock = clock
        self._subscriptions: dict[str, PullPointSubscription] = {}
        self.max_subscriptions = max_subscriptions

    def __len__(self) -> int:
        return len(self._subscriptions)

    def _expire(self) -> None:
        now = self._clock()
        for sid in [s for s, sub in self._subscriptions.items() if sub.termination <= now]:
            del self._subscriptions[sid]

    def create(self, termination: dt.datetime) -> PullPointSubscription | None:
        """A new subscription, or None when the device has no room for another."""
        self._expire()
        if len(self._subscriptions) >= self.max_subscriptions:
            return None
        subscription = PullPointSubscription(uuid.uuid4().hex, termination)
        self._subscriptions[subscription.subscription_id] = subscription
        return subscription

    def get(self, subscription_id: str) -> PullPointSubscription:
        subscription = self._subscriptions.get(subscription_id)
        if subscription is None or subscription.termination <= self._clock():
            self._subscriptions.pop(subscription_id, None)
            raise UnknownSubscription(subscription_id)
        return subscription

    def remove(self, subscription_id: str) -> None:
        subscription = self._subscriptions.pop(subscription_id, None)
        if subscription is None:
            raise UnknownSubscription(subscription_id)
        subscription.arrived.set()  # a blocked PullMessages learns of the Unsubscribe at once

    def publish(self, event: SimulatedEvent) -> None:
        for subscription in self._subscriptions.values():
            subscription.push(event)

    def drop_all(self) -> None:
        """Forget every subscription and wake pullers so they see the loss at once."""
        for subscription in self._subscriptions.values():
            subscription.arrived.set()
        self._subscriptions.clear()

    @property
    def active(self) -> bool:
        return bool(self._subscriptions)

    async def wait(
        self, subscription: PullPointSubscription, timeout: float, limit: int
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
