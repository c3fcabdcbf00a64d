"""Device events whose outcome is known before they are sent: the ledger's half of the bargain.

A generator produces, as the connector principal and alongside the cameras' own events, a stream
that cycles through three kinds, each on a camera id of its own so no rule state is shared:

- ``alert``: a tamper report; the default ruleset's instant ``camera-tamper`` rule opens an alert;
- ``no_alert``: a motion report, which no rule of the default ruleset looks at;
- ``dead_letter``: a record that is not a device event; the hub dead-letters it.

Each acknowledged record is written down with its partition and offset. A send that fails is
retried with the same event (same id), so a failure of the cluster never changes what was meant.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from aiokafka.errors import KafkaError

from core.settings import Settings
from topics import codec, identity
from topics.catalog import DEVICE_EVENTS
from topics.client import CatalogProducer
from topics.models import DeviceEvent, EventKind, EventSource

SEND_ATTEMPTS = 10


class Expected(StrEnum):
    ALERT = "alert"
    NO_ALERT = "no_alert"
    DEAD_LETTER = "dead_letter"


# One dead letter in ten records; the rest alternate.
CYCLE = [Expected.ALERT, Expected.NO_ALERT] * 4 + [Expected.ALERT, Expected.DEAD_LETTER]


@dataclass(frozen=True)
class Produced:
    """One record the broker acknowledged. ``event_id`` is None for a dead-letter record."""

    index: int
    expected: Expected
    camera_id: str
    event_id: str | None
    partition: int
    offset: int


def planned_event(run_id: str, index: int, expected: Expected, at: datetime) -> DeviceEvent:
    """The device event of record ``index`` (an ``alert`` or ``no_alert`` record)."""
    camera_id = identity.camera_id(vendor="drill", serial=f"{run_id}-{index}")
    kind = EventKind.TAMPER if expected is Expected.ALERT else EventKind.MOTION
    topic = f"drill/{kind.value}"
    return DeviceEvent(
        event_id=identity.event_id(camera_id=camera_id, vendor_topic=topic, device_time=at),
        camera_id=camera_id,
        kind=kind,
        device_time=at,
        received_at=at,
        source=EventSource(connector="drill", device_id=f"drill-{run_id}", vendor_topic=topic),
    )


def unreadable_record(run_id: str, index: int) -> bytes:
    """Bytes under the device-event schema's headers that are not a device event."""
    return f"drill {run_id} record {index}: not a device event".encode()


class Traffic:
    """Produces the planned stream at ``rate`` records a second on a thread of its own."""

    def __init__(self, run_id: str, settings: Settings, rate: float) -> None:
        self.run_id = run_id
        self.settings = settings
        self.rate = rate
        self.produced: list[Produced] = []
        self.send_failures = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="drill-traffic", daemon=True)

    def start(self) -> Traffic:
        self._thread.start()
        return self

    def check(self) -> None:
        """Raises what stopped the generator, if it stopped."""
        if self.error is not None:
            raise self.error

    def stop(self) -> list[Produced]:
        """Stops after the record in flight; returns every acknowledged record."""
        self._stop.set()
        self._thread.join()
        self.check()
        return self.produced

    def _run(self) -> None:
        try:
            asyncio.run(self._produce())
        except BaseException as exc:  # noqa: BLE001 - handed to the thread that calls stop()
            self.error = exc

    async def _produce(self) -> None:
        async with CatalogProducer(
            self.settings.bootstrap, client_id="tilik-drill-traffic", settings=self.settings
        ) as producer:
            index = 0
            started = time.monotonic()
            while not self._stop.is_set():
                expected = CYCLE[index % len(CYCLE)]
                self.produced.append(await self._send(producer, index, expected))
                index += 1
                pause = started + index / self.rate - time.monotonic()
                if pause > 0:
                    await asyncio.sleep(pause)

    async def _send(self, producer: CatalogProducer, index: int, expected: Expected) -> Produced:
        at = datetime.now(UTC)
        event = planned_event(self.run_id, index, expected, at)
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                if expected is Expected.DEAD_LETTER:
                    meta = await producer.send_raw(
                        DEVICE_EVENTS.name,
                        unreadable_record(self.run_id, index),
                        key=event.camera_id.encode(),
                        headers=codec.headers_for(DEVICE_EVENTS),
                    )
                    event_id = None
                else:
                    meta = await producer.send(DEVICE_EVENTS, event)
                    event_id = event.event_id
                return Produced(
                    index, expected, event.camera_id, event_id, meta.partition, meta.offset
                )
            except KafkaError:
                # The cluster is losing a broker: the same record again, after a pause.
                self.send_failures += 1
                if attempt == SEND_ATTEMPTS:
                    raise
                await asyncio.sleep(min(5.0, 0.2 * 2**attempt))
        raise AssertionError("unreachable")
