"""Push delivery of simulated cameras: POST WS-BaseNotification Notify to each subscription's consumer.

One ``NotificationSender`` serves a whole fleet (one HTTP client, a bounded number of connections).
A push subscription's queued messages are sent in order, up to ``BATCH`` per Notify, by one
short-lived task per subscription that has something queued; nothing runs for an idle one. As a
camera would, it does not retry: a consumer that refuses or does not answer loses that Notify
(counted in ``failed``). A camera that cannot reach its consumers at all (behind NAT, a firewall)
is ``VirtualCamera.reaches_consumers = False``: its messages are dropped unsent (``unreachable``).
"""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
import structlog

from connectors.onvif.simulator.soap import envelope
from connectors.onvif.simulator.subscriptions import Subscription

log = structlog.get_logger(__name__)

NOTIFY_ACTION = "http://docs.oasis-open.org/wsn/bw-2/NotificationConsumer/Notify"
BATCH = 100
TIMEOUT_S = 5.0


def notify_body(subscription: Subscription, messages: list[str]) -> bytes:
    """A Notify envelope carrying ``messages`` (NotificationMessage XML) of ``subscription``."""
    reference = (
        f"<wsnt:SubscriptionReference><wsa:Address>{subscription.manager_url}</wsa:Address>"
        "</wsnt:SubscriptionReference>"
    )
    body = "".join(
        message.replace("<wsnt:NotificationMessage>", f"<wsnt:NotificationMessage>{reference}", 1)
        for message in messages
    )
    return envelope(f"<wsnt:Notify>{body}</wsnt:Notify>", action=NOTIFY_ACTION)


class NotificationSender:
    """Sends every push subscription's messages of a fleet; ``close()`` stops it."""

    def __init__(self, *, connections: int = 256) -> None:
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self.sent = 0
        self.failed = 0
        self.unreachable = 0

    def queued(self, subscription: Subscription) -> None:
        key = id(subscription)
        if key not in self._tasks:
            self._tasks[key] = asyncio.create_task(self._drain(subscription))

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections, force_close=True),
                timeout=aiohttp.ClientTimeout(total=TIMEOUT_S),
            )
        return self._session

    async def _drain(self, subscription: Subscription) -> None:
        key = id(subscription)
        try:
            while subscription.messages and not subscription.ended:
                taken = [
                    subscription.messages.popleft()
                    for _ in range(min(BATCH, len(subscription.messages)))
                ]
                if subscription.route is not None and not subscription.route.reaches_consumers:
                    self.unreachable += len(taken)
                    continue
                await self._post(subscription, [event.to_xml() for event in taken])
        finally:
            del self._tasks[key]

    async def _post(self, subscription: Subscription, messages: list[str]) -> None:
        assert subscription.consumer is not None
        try:
            async with self.session.post(
                subscription.consumer,
                data=notify_body(subscription, messages),
                headers={"Content-Type": "application/soap+xml; charset=utf-8"},
            ) as response:
                await response.read()
                if response.status >= 300:
                    raise aiohttp.ClientResponseError(
                        response.request_info, (), status=response.status
                    )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self.failed += len(messages)
            log.debug("onvif_sim.notify_failed", error=type(exc).__name__)
        else:
            self.sent += len(messages)

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()
            self._session = None
