"""Reading a catalog topic from its start to its current end, for operator commands (no consumer group)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import BaseModel

from topics import codec
from topics.catalog import TopicSpec
from topics.connection import connection_config

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    key: bytes | None
    value: BaseModel | None
    error: str | None = None

    @property
    def ref(self) -> str:
        """Where the record is: ``<partition>-<offset>``, stable for the topic's retention."""
        return f"{self.partition}-{self.offset}"


async def read_history(
    spec: TopicSpec, bootstrap: str | None = None, *, since: datetime | None = None
) -> list[Record]:
    """Every record of the topic up to its current end; with ``since``, only those appended
    (broker timestamps) from then on."""
    consumer = AIOKafkaConsumer(
        **connection_config(bootstrap),
        group_id=None,
        enable_auto_commit=False,
        client_id="tilik-hub-history",
        max_partition_fetch_bytes=2 * codec.MAX_MESSAGE_BYTES,
    )
    await consumer.start()
    records: list[Record] = []
    try:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(spec.name) or set()
        tps = [TopicPartition(spec.name, p) for p in sorted(partitions)]
        if not tps:
            return records
        # Ends and start offsets are looked up before assigning: once assigned, the consumer
        # starts fetching, and it must not do so from its default (latest) position first.
        end = await consumer.end_offsets(tps)
        starts = (
            await consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in tps})
            if since is not None
            else {}
        )
        consumer.assign(tps)
        if since is None:
            await consumer.seek_to_beginning(*tps)
        else:
            for tp in tps:
                found = starts.get(tp)
                consumer.seek(tp, found.offset if found is not None else end[tp])
        remaining = {tp for tp in tps if end[tp] > await consumer.position(tp)}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, batch in batches.items():
                for message in batch:
                    if message.offset >= end[tp]:
                        continue
                    try:
                        value = codec.decode(spec, message.value, list(message.headers or ()))
                        records.append(Record(tp.partition, message.offset, message.key, value))
                    except codec.InvalidMessage as exc:
                        # Kept (with the reason) for the caller, and said once here.
                        log.warning(
                            "invalid record",
                            topic=spec.name,
                            partition=tp.partition,
                            offset=message.offset,
                            reason=exc.reason,
                        )
                        records.append(
                            Record(tp.partition, message.offset, message.key, None, exc.reason)
                        )
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return records
