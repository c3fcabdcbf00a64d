"""The edge agent's outbox: what a site sends the city, kept in order until the broker has it.

A site's link to the city comes and goes (the shop's internet, the city's broker restarting, the
agent itself restarting). The runtime publishes into the outbox, which never waits on the
network; every record is written to the outbox's directory on disk at once
(``connectors.edge.spool``: append-only segments, checksummed frames, a cursor), and a sender
task hands the oldest records to Kafka in order, in batches, and forgets them only once the broker
acknowledged them. What waits when the agent stops is sent by its next run. The disk is bounded
(``OutboxConfig.max_bytes``): when the next record would not fit, the oldest waiting records go
(a segment's worth), counted per topic, and the agent says so (once when dropping starts, then
with the running count each report). When the broker answers again the backlog is sent and the
agent says how much it caught up. Records are encoded (and so validated) when they enter the
outbox; what is sent twice after a failed batch or a crash is the same record with the same key
and id, which every consumer already treats as a repeat. Memory holds one batch, whatever waits.

Nothing of the site's credentials goes through here (so none reaches the disk): the cameras the
agent sends carry no credential reference, and device input the connectors could not read (a dead
letter in the city) stays in the site's log, because a tenant writes only its own ingest topics.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import structlog
from aiokafka.errors import (
    AuthenticationFailedError,
    ClusterAuthorizationFailedError,
    KafkaError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
)
from pydantic import BaseModel, ConfigDict, Field

from connectors.edge.spool import Pending, Spool
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


class OutboxConfig(BaseModel):
    """Where a site keeps what waits for the city, and how much (the oldest records go first)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path | None = Field(
        default=None,
        description="The outbox directory (default: <site>.outbox next to the site file).",
    )
    max_bytes: int = Field(
        default=1024 * 1024 * 1024, ge=1024 * 1024, description="Bytes kept on disk at most."
    )
    fsync_every_s: float = Field(
        default=1.0,
        ge=0,
        description="How often records are forced to the disk (0: every record); a power cut "
        "loses at most this long of records, a crash of the agent nothing.",
    )


#: True for a record the site does not send (e.g. events of a camera shared registry_only)
Withhold = Callable[[TopicSpec, BaseModel], bool]


class Outbox:
    """Bounded, ordered records for the city and the task that sends them (module docstring)."""

    def __init__(
        self,
        connect: Callable[[], CatalogProducer],
        directory: Path,
        config: OutboxConfig | None = None,
        *,
        withhold: Withhold | None = None,
        retry_max_s: float = 10.0,
        send_timeout_s: float = SEND_TIMEOUT_S,
    ) -> None:
        self._connect = connect
        self.config = config or OutboxConfig()
        self._withhold = withhold
        self._retry_max_s = retry_max_s
        self._send_timeout_s = send_timeout_s
        self.spool = Spool(
            directory, self.config.max_bytes, fsync_every_s=self.config.fsync_every_s
        )
        self._arrived = asyncio.Event()
        self.sent: Counter[str] = Counter()
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
        return self.spool.waiting

    @property
    def dropped(self) -> Counter[str]:
        """Records dropped to stay within the bound, per topic."""
        return self.spool.dropped

    def close(self) -> None:
        """Release the outbox's directory (what waits stays there for the next run)."""
        self.spool.close()

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
        self.spool.append(
            Pending(
                spec.name,
                record_key.encode() if record_key is not None else None,
                payload,
                codec.headers_for(spec),
            )
        )
        self._arrived.set()

    # --- the sender -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Send until ``stop`` is set. What still waits then stays on disk for the next run."""
        backoff = Backoff(initial_s=0.2, max_s=self._retry_max_s)
        producer: CatalogProducer | None = None
        try:
            while not stop.is_set():
                self.spool.sync_if_due()
                if not self.spool.waiting:
                    self._arrived.clear()
                    # Records written last are forced to the disk even if no more come.
                    idle = [asyncio.sleep(self.config.fsync_every_s)] if self.spool.unsynced else []
                    await _first(self._arrived.wait(), stop.wait(), *idle)
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
        batch = self.spool.head(BATCH_MAX)
        async with asyncio.timeout(self._send_timeout_s):
            futures = [
                await producer.enqueue_raw(p.topic, p.value, key=p.key, headers=p.headers)
                for p in batch
            ]
            await asyncio.gather(*futures)
        self.spool.acknowledge(len(batch))
        self.sent.update(p.topic for p in batch)

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
                waiting=self.spool.waiting,
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
                waiting=self.spool.waiting,
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
