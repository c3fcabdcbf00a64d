"""Push delivery: cameras POST their events (WS-BaseNotification Notify) to one endpoint per process.

A PullPoint subscription holds a request open per camera; a push subscription holds nothing but
a registration here: the camera connects only when it has something to say. So a process
watching 20,000 cameras that can reach it keeps a listening socket, not 20,000 connections.

    camera ──Subscribe(ConsumerReference = <endpoint>/onvif/notify/<token>)──► ok
    camera ──POST Notify──► NotificationEndpoint ──token──► PushSubscription ──► connector.events()

- **Which camera.** Each subscription registers a random token (128 bits) and gives the camera
  ``<push url>/onvif/notify/<token>`` as its consumer: the token says which subscription a
  Notify belongs to, and a POST without a known token is answered 404 and never read further.
- **Reachability.** A camera that accepted the subscription sends the current state of its
  properties at once (``Initialized`` messages, ONVIF Core); one that cannot reach the endpoint
  (NAT, firewall, a push URL it has no route to) sends nothing we can see. So a new subscription
  counts only once its first Notify arrived within ``PushSettings.confirm_s``; otherwise it is
  unsubscribed and ``PushUnreachable`` raised, and the connector falls back to PullPoint.
- **Input.** A Notify is device input: its size is capped, it goes through the hardened parser,
  and one that cannot be read reaches the subscription as a ``DeviceDataError`` (the runtime
  dead-letters it). Its NotificationMessages are parsed by the same topic table as PullPoint's.
- **Back pressure.** A subscription keeps at most ``PushSettings.max_pending`` messages not yet
  taken by the connector; a Notify that would pass it is answered 503 and logged, never queued
  without bound.
- **Sockets.** Every answer closes its connection: a camera reconnects for its next Notify, so
  idle cameras hold no socket here.

Renewal and loss are ``connectors.onvif.subscription``'s, as for PullPoint.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

import structlog
from aiohttp import web
from lxml import etree

from connectors.onvif.device import OnvifDevice
from connectors.onvif.event_topics import notifications
from connectors.onvif.subscription import (
    WSA,
    WSNT,
    EventBatch,
    Subscription,
    SubscriptionSettings,
    SubscriptionState,
    duration,
)
from connectors.sdk.errors import ConfigurationError, ConnectorError, DeviceDataError
from connectors.sdk.lifecycle import Closed
from connectors.sdk.shared import PerLoop
from connectors.sdk.xmlsafe import parse_device_xml

if TYPE_CHECKING:
    from core.settings import Settings

log = structlog.get_logger("connectors.onvif.push")

NOTIFY_PATH = "/onvif/notify/"
SUBSCRIBE_ACTION = "http://docs.oasis-open.org/wsn/bw-2/NotificationProducer/SubscribeRequest"
MAX_NOTIFY_BYTES = 1024 * 1024


class PushUnreachable(ConnectorError):
    """The camera accepted a push subscription, but no Notify of it reached the endpoint."""


@dataclass(frozen=True)
class PushEndpointConfig:
    """Where the endpoint listens and the base URL cameras are told to POST to."""

    url: str
    listen_host: str
    listen_port: int
    max_notify_bytes: int = MAX_NOTIFY_BYTES

    @classmethod
    def from_settings(cls, settings: Settings) -> PushEndpointConfig | None:
        """The endpoint ``TILIK_ONVIF_PUSH_URL`` (and ``_LISTEN``) describe; None when unset."""
        if not settings.onvif_push_url:
            return None
        url = settings.onvif_push_url.rstrip("/")
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port if parts.port is not None else (443 if parts.scheme == "https" else 80)
        if settings.onvif_push_listen:
            listen_host, _, listen_port = settings.onvif_push_listen.rpartition(":")
            host, port = listen_host.strip("[]"), int(listen_port)
        return cls(url=url, listen_host=host, listen_port=port)


class NotificationEndpoint:
    """The process's HTTP endpoint for Notify messages, routing each to its subscription."""

    def __init__(self, config: PushEndpointConfig) -> None:
        self.config = config
        self._subscribers: dict[str, PushSubscription] = {}
        self._runner: web.AppRunner | None = None
        self._starting = asyncio.Lock()
        self._base_url = config.url
        #: Notify messages delivered, and POSTs refused (unknown token, unreadable, full)
        self.delivered = 0
        self.refused = 0

    async def start(self) -> None:
        """Listen (once; later calls return at once). OSError when the address cannot be bound."""
        async with self._starting:
            if self._runner is not None:
                return
            app = web.Application(client_max_size=self.config.max_notify_bytes)
            app.router.add_post(NOTIFY_PATH + "{token}", self._on_notify)
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            site = web.TCPSite(
                runner, self.config.listen_host, self.config.listen_port, backlog=1024
            )
            try:
                await site.start()
            except OSError:
                await runner.cleanup()
                raise
            self._runner = runner
            parts = urlsplit(self.config.url)
            if parts.port == 0:
                # Port 0 asks for any free port; cameras are told the one bound.
                bound = runner.addresses[0][1]
                self._base_url = f"{parts.scheme}://{parts.hostname}:{bound}"
            log.info("onvif.push.listening", url=self._base_url)

    async def close(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    @property
    def url(self) -> str:
        """The base URL cameras are given (with the bound port once started)."""
        return self._base_url

    def consumer_url(self, token: str) -> str:
        return f"{self._base_url}{NOTIFY_PATH}{token}"

    def register(self, subscriber: PushSubscription) -> str:
        token = secrets.token_urlsafe(16)
        self._subscribers[token] = subscriber
        return token

    def unregister(self, token: str) -> None:
        self._subscribers.pop(token, None)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    async def _on_notify(self, request: web.Request) -> web.StreamResponse:
        subscriber = self._subscribers.get(request.match_info["token"])
        if subscriber is None:
            # Not a subscription of ours (or one already ended): nothing to read. The token is
            # the consumer's credential and is not logged.
            self.refused += 1
            # A camera keeps pushing for a while after its subscription here ended (lost,
            # replaced, unsubscribed while it was unreachable): expected, so not a warning.
            log.info("onvif.push.unknown_subscription", peer=request.remote)
            return _answer(404)
        device = subscriber.device.address
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            self.refused += 1
            subscriber.reject(
                DeviceDataError(
                    f"Notify larger than {self.config.max_notify_bytes} bytes", device=device
                )
            )
            return _answer(413)
        try:
            root = parse_device_xml(raw, device=device, max_bytes=self.config.max_notify_bytes)
            messages = notifications(root)
            if not messages:
                raise DeviceDataError("Notify without NotificationMessage", device=device)
        except DeviceDataError as exc:
            self.refused += 1
            if exc.payload is None:
                exc.payload = raw
            subscriber.reject(exc)
            return _answer(400)
        if not subscriber.deliver(messages):
            self.refused += 1
            log.warning("onvif.push.backlog_full", device=device, messages=len(messages))
            return _answer(503)
        self.delivered += len(messages)
        return _answer(200)


def _answer(status: int) -> web.Response:
    response = web.Response(status=status)
    # One connection per Notify: idle cameras hold no socket of this process.
    response.force_close()
    return response


#: the process's endpoint, shared by every connector on the loop and closed with the last of them
ENDPOINTS: PerLoop[NotificationEndpoint] = PerLoop(close=NotificationEndpoint.close)


@dataclass(frozen=True)
class PushSettings(SubscriptionSettings):
    termination_s: int = 300
    #: how long a new subscription may take to deliver its first Notify
    confirm_s: float = 10.0
    #: messages delivered but not yet taken by the connector
    max_pending: int = 1000


class PushSubscription(Subscription):
    """Subscribe with this process's endpoint as consumer; batches are the Notifies it receives."""

    delivery = "push"

    def __init__(
        self,
        device: OnvifDevice,
        events_url: str,
        endpoint: NotificationEndpoint,
        settings: PushSettings | None = None,
        *,
        setups: asyncio.Semaphore | None = None,
    ) -> None:
        self.push_settings = settings or PushSettings()
        super().__init__(device, events_url, self.push_settings, setups=setups)
        self.endpoint = endpoint
        self._token: str | None = None
        self._pending: list[etree._Element | DeviceDataError] = []
        self._waiter: asyncio.Future[None] | None = None

    # --- from the endpoint ----------------------------------------------------------------

    def deliver(self, messages: list[etree._Element]) -> bool:
        """Queue a Notify's messages; False (nothing queued) when that would pass the cap."""
        if len(self._pending) + len(messages) > self.push_settings.max_pending:
            return False
        self._pending.extend(messages)
        self._wake()
        return True

    def reject(self, error: DeviceDataError) -> None:
        """A Notify that could not be read: the connector raises it for the dead letters."""
        if len(self._pending) < self.push_settings.max_pending:
            self._pending.append(error)
            self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _wait(self) -> None:
        """Until something is pending or the subscription closes."""
        if self._pending or self._closed:
            return
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    # --- the delivery ---------------------------------------------------------------------

    async def _subscribe(self) -> etree._Element:
        self._forget()
        self._token = self.endpoint.register(self)
        consumer = escape(self.endpoint.consumer_url(self._token))
        return await self.call(
            self.events_url,
            f'<wsnt:Subscribe xmlns:wsnt="{WSNT}" xmlns:wsa="{WSA}">'
            f"<wsnt:ConsumerReference><wsa:Address>{consumer}</wsa:Address>"
            "</wsnt:ConsumerReference>"
            f"<wsnt:InitialTerminationTime>{duration(self.settings.termination_s)}"
            "</wsnt:InitialTerminationTime></wsnt:Subscribe>",
            SUBSCRIBE_ACTION,
        )

    async def _confirm(self) -> None:
        try:
            async with asyncio.timeout(self.push_settings.confirm_s):
                await self._wait()
        except TimeoutError:
            pass
        if self._closed:
            raise Closed
        if self._pending:
            return
        await self.unsubscribe()
        self.state = SubscriptionState.CLOSED
        raise PushUnreachable(
            f"no Notify within {self.push_settings.confirm_s:g}s of subscribing "
            f"(consumer {self.endpoint.url})",
            device=self.device.address,
        )

    async def next_batch(self) -> EventBatch:
        if not self._pending:
            # Nothing to pull: wait for a Notify, a due renewal or close().
            seconds = self._seconds_to_renewal()
            try:
                async with asyncio.timeout(seconds):
                    await self._wait()
            except TimeoutError:
                return EventBatch(messages=[])
        if self._closed:
            raise Closed
        return self._take()

    def _take(self) -> EventBatch:
        first = self._pending[0]
        if isinstance(first, DeviceDataError):
            del self._pending[0]
            return EventBatch(messages=[], rejected=first)
        end = next(
            (i for i, item in enumerate(self._pending) if isinstance(item, DeviceDataError)),
            len(self._pending),
        )
        taken = [item for item in self._pending[:end] if isinstance(item, etree._Element)]
        del self._pending[:end]
        return EventBatch(messages=taken)

    def _seconds_to_renewal(self) -> float | None:
        if self.renew_at is None:
            return None
        return max(0.0, (self.renew_at - datetime.now(UTC)).total_seconds())

    def _forget(self) -> None:
        if self._token is not None:
            self.endpoint.unregister(self._token)
            self._token = None

    async def close(self) -> None:
        self._closed = True
        self._wake()
        self._pending.clear()
        await super().close()


async def open_endpoint(settings: Settings) -> NotificationEndpoint:
    """The loop's endpoint as ``settings`` describe it, listening; pair with ``ENDPOINTS.release``.

    ConfigurationError when push is not configured or the address cannot be bound.
    """
    config = PushEndpointConfig.from_settings(settings)
    if config is None:
        raise ConfigurationError("ONVIF push needs TILIK_ONVIF_PUSH_URL (where cameras reach us)")
    endpoint = ENDPOINTS.acquire(lambda: NotificationEndpoint(config))
    try:
        await endpoint.start()
    except OSError as exc:
        await ENDPOINTS.release(endpoint)
        raise ConfigurationError(
            f"ONVIF notification endpoint cannot listen on "
            f"{config.listen_host}:{config.listen_port} ({exc.strerror or type(exc).__name__})"
        ) from None
    return endpoint
