"""PullPoint delivery: the connector asks the camera for events with PullMessages long polls.

It works whatever the network between camera and connector, at the price of one request held
open per camera (a socket each, and a call per ``pull_timeout_s`` when nothing happens); cameras
that can reach the connector push instead (``connectors.onvif.push``). The state machine,
renewal and loss handling are ``connectors.onvif.subscription``'s.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from lxml import etree

from connectors.onvif.device import OnvifDevice
from connectors.onvif.event_topics import notifications
from connectors.onvif.subscription import (
    EVENTS_ACTION,
    TEV,
    EventBatch,
    Subscription,
    SubscriptionSettings,
    duration,
)
from connectors.sdk.errors import DeviceDataError
from connectors.sdk.lifecycle import until_closed


@dataclass(frozen=True)
class PullPointSettings(SubscriptionSettings):
    pull_timeout_s: int = 5
    message_limit: int = 100


class PullPointSubscription(Subscription):
    """CreatePullPointSubscription, then PullMessages until ``close()``."""

    delivery = "pull"

    def __init__(
        self,
        device: OnvifDevice,
        events_url: str,
        settings: PullPointSettings | None = None,
        *,
        setups: asyncio.Semaphore | None = None,
    ) -> None:
        self.pull_settings = settings or PullPointSettings()
        super().__init__(device, events_url, self.pull_settings, setups=setups)

    async def _subscribe(self) -> etree._Element:
        return await self.call(
            self.events_url,
            f'<CreatePullPointSubscription xmlns="{TEV}">'
            f"<InitialTerminationTime>{duration(self.settings.termination_s)}"
            "</InitialTerminationTime></CreatePullPointSubscription>",
            EVENTS_ACTION + "EventPortType/CreatePullPointSubscriptionRequest",
        )

    async def step(self) -> EventBatch:
        # A pull may wait seconds for events: close() must not wait for it.
        return await until_closed(super().step(), self.closing)

    async def next_batch(self) -> EventBatch:
        return await self.pull()

    async def pull(self) -> EventBatch:
        assert self.address is not None
        settings = self.pull_settings
        try:
            body = await self.call(
                self.address,
                f'<PullMessages xmlns="{TEV}"><Timeout>{duration(settings.pull_timeout_s)}'
                f"</Timeout><MessageLimit>{settings.message_limit}</MessageLimit></PullMessages>",
                EVENTS_ACTION + "PullPointSubscription/PullMessagesRequest",
                # The device may hold a PullMessages open for its Timeout; then one call's deadline.
                timeout_s=settings.pull_timeout_s
                + (self.device.timeout_s or self.device.transport.limits.timeout_s),
            )
        except DeviceDataError as exc:
            # Hostile or malformed reply: the subscription itself is fine; the batch is lost
            # to the dead letters, not to a crash.
            return EventBatch(messages=[], rejected=exc)
        return EventBatch(messages=notifications(body))
