"""The edge agent's outbox: what a site sends the city, kept in order until the broker has it.

A site's link to the city comes and goes (the shop's internet, the city's broker restarting). The
runtime publishes into the outbox, which never waits on the network; a sender task hands its
records to Kafka in order, in batches, and removes them only once the broker acknowledged them.
While the broker is away the records wait, within ``OutboxLimits``; when a bound is reached the
oldest waiting record is dropped, counted per topic, and the agent says so (once when dropping
starts, then with the running count each report). When the broker answers again the backlog is
sent and the agent says how much it caught up. Records are encoded (and so validated) when they
enter the outbox; what is sent twice after a failed batch is the same record with the same key
and id, which every consumer already treats as a repeat.

Nothing of the site's credentials goes through here: device input the connectors could not read
(a dead letter in the city) stays in the site's log, because a tenant writes only its own
ingest topics.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka.errors import (
    AuthenticationFailedError,
    ClusterAuthorizationFailedError,
    KafkaError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
)
from pydantic import BaseModel, Field

from core.backoff import Backoff
from topics import codec
from topics.catalog import TopicSpec
from topics.client import CatalogProducer
from topics.connection import KafkaAccessError, KafkaSetupError
from topics.models import DeadLetter

log = structlog.get_logger(__name__)

#: records handed to the producer at once
BATCH_MAX = 500
#: a batch the broker has not acknowledged in this time counts as failed: the Kafka client
#: itself retries a broker that went away for as long as its delivery timeout allows
SEND_TIMEOUT_S = 15.0


class OutboxLimits(BaseModel):
    """How much a site keeps while the city is unreachable (the oldest record goes first)."""

    max_records: int = Field(default=100_000, ge=10, description="Records kept at most.")
    max_bytes: int = Field(
        default=64 * 1024 * 1024, ge=64 * 1024, description="Encoded bytes kept at most."
    )


@dataclass(frozen=True)
class Pending:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]

    @property
    def size(self) -> int:
        return len(self.value or b"") + len(self.key or b"")


#: True for a record the site does not send (e.g. events of a camera shared registry_only)
Withhold = Callable[[TopicSpec, BaseModel], bool]


class Outbox:
    """Bounded, ordered records for the city and the task that sends them (module docstring)."""

    def __init__(
        self,
        connect: Callable[[], CatalogProducer],
        limits: OutboxLimits | None = None,
        *,
        withhold: Withhold | None = None,
        retry_max_s: float = 10.0,
        send_timeout_s: float = SEND_TIMEOUT_S,
    ) -> None:
        self._connect = connect
        self.limits = limits or OutboxLimits()
        self._withhold = withhold
        self._retry_max_s = retry_max_s
        self._send_timeout_s = send_timeout_s
        self._queue: deque[Pending] = deque()
        self._bytes = 0
        #: records at the head of the queue handed to the producer and not yet acknowledged
        self._in_flight = 0
        self._arrived = asyncio.Event()
        self.sent: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.withheld: Counter[str] = Counter()
        self.device_input_kept_local = 0
        #: monotonic time the broker stopped answering, None while it answers
        self.unreachable_since: float | None = None
        #: whether the broker answers but refuses the principal (ACLs or credentials)
        self.refused = False
        self.connected = asyncio.Event()

    # --- the runtime's side (``connectors.sdk.runtime.Publisher``) ---------------------------

    @property
    def waiting(self) -> int:
        return len(self._queue)

    @property
    def waiting_bytes(self) -> int:
        return self._bytes

    async def enqueue(
        self, spec: TopicSpec, value: BaseModel | None, *, key: str | None = None
    ) -> asyncio.Future[Any]:
        self.put(spec, value, key=key)
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(None)  # delivery is the outbox's business from here on
        return done

    async def send(self, spec: TopicSpec, value: BaseModel | None) -> None:
        self.put(spec, value)

    async def send_batch(self, spec: TopicSpec, values: Iterable[BaseModel]) -> list[Any]:
        for value in values:
            self.put(spec, value)
        return []

    async def dead_letter(self, letter: DeadLetter) -> None:
        # A tenant has no dead-letter topic: the site's log keeps what its devices got wrong.
        self.device_input_kept_local += 1
        log.warning(
            "device input not understood, kept in this log only",
            kind=letter.kind.value,
            device=letter.source_device,
            reason=letter.reason,
        )

    def put(self, spec: TopicSpec, value: BaseModel | None, *, key: str | None = None) -> None:
        """Queue one record (encoded now, so an invalid one fails here, not in the sender)."""
        if value is not None and self._withhold is not None and self._withhold(spec, value):
            self.withheld[spec.name] += 1
            return
        payload = None
        record_key = key
        if value is not None:
            payload = codec.encode(spec, value)
            record_key = key if key is not None else codec.record_key(spec, value)
        pending = Pending(
            spec.name,
            record_key.encode() if record_key is not None else None,
            payload,
            codec.headers_for(spec),
        )
        self._queue.append(pending)
        self._bytes += pending.size
        self._arrived.set()
        self._keep_within_bounds()

    def _keep_within_bounds(self) -> None:
        limits = self.limits
        while (len(self._queue) > limits.max_records or self._bytes > limits.max_bytes) and len(
            self._queue
        ) > self._in_flight:
            # The oldest record not already handed to the producer goes.
            oldest = self._queue[self._in_flight]
            del self._queue[self._in_flight]
            self._bytes -= oldest.size
            if not self.dropped:
                log.warning(
                    "outbox full: dropping the oldest records until the city answers",
                    max_records=limits.max_records,
                    max_bytes=limits.max_bytes,
                )
            self.dropped[oldest.topic] += 1

    # --- the sender -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Send until ``stop`` is set. What still waits then is not sent (the agent's last
        report says how many): the outbox lives in memory."""
        backoff = Backoff(initial_s=0.2, max_s=self._retry_max_s)
        producer: CatalogProducer | None = None
        try:
            while not stop.is_set():
                if not self._queue:
                    self._arrived.clear()
                    await _first(self._arrived.wait(), stop.wait())
                    continue
                try:
                    if producer is None:
                        producer = self._connect()
                        await producer.start()
                    await self._send_head(producer)
                except (KafkaError, KafkaSetupError, OSError, TimeoutError) as exc:
                    self._unreachable(exc)
                    if producer is not None:
                        # A fresh client after a failure: the broker may have restarted.
                        await _quietly_stop(producer)
                        producer = None
                    await _first(asyncio.sleep(backoff.next_delay()), stop.wait())
                    continue
                backoff.reset()
                self._reachable()
        finally:
            if producer is not None:
                await _quietly_stop(producer)

    async def _send_head(self, producer: CatalogProducer) -> None:
        batch = [self._queue[i] for i in range(min(BATCH_MAX, len(self._queue)))]
        self._in_flight = len(batch)
        try:
            async with asyncio.timeout(self._send_timeout_s):
                futures = [
                    await producer.enqueue_raw(p.topic, p.value, key=p.key, headers=p.headers)
                    for p in batch
                ]
                await asyncio.gather(*futures)
        finally:
            self._in_flight = 0
        for pending in batch:
            self._queue.popleft()
            self._bytes -= pending.size
            self.sent[pending.topic] += 1

    def _unreachable(self, exc: BaseException) -> None:
        self.connected.clear()
        self.refused = _refusal(exc)
        if self.unreachable_since is None:
            self.unreachable_since = time.monotonic()
            log.warning(
                "the city refuses this site's principal (revoked or rotated?): keeping records "
                "within the outbox's bounds; ask the operator for a new client config"
                if self.refused
                else "the city's broker does not answer: keeping records until it does",
                error_type=type(exc).__name__,
                waiting=len(self._queue),
            )

    def _reachable(self) -> None:
        self.connected.set()
        self.refused = False
        if self.unreachable_since is not None:
            away_s = time.monotonic() - self.unreachable_since
            self.unreachable_since = None
            log.info(
                "the city's broker answers again: sending what waited",
                away_s=round(away_s, 1),
                waiting=len(self._queue),
                dropped=sum(self.dropped.values()),
            )


def _refusal(exc: BaseException) -> bool:
    """The broker refused the principal (its credentials or its ACLs), rather than not answering."""
    return isinstance(exc, (KafkaAccessError, *_REFUSALS))


_REFUSALS = (
    AuthenticationFailedError,
    ClusterAuthorizationFailedError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
)


async def _first(*waits: Any) -> None:
    """Until the first of ``waits`` completes; the others are cancelled."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _quietly_stop(producer: CatalogProducer) -> None:
    with contextlib.suppress(KafkaError, OSError, TimeoutError):
        await asyncio.wait_for(producer.stop(), 10)
