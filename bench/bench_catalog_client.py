"""Throughput of the typed Kafka layer, each against a baseline measured in the same run.

1. CatalogProducer.send_batch (client-side batching, one wait for all acks) against awaiting
   every send's acknowledgement in turn (each such send also waits out the 5 ms linger).
2. CatalogConsumer (JSON decode + strict pydantic validation per message) against a plain
   aiokafka consumer reading the same bytes without validation: the cost of validating at the edge.

Usage: python bench/bench_catalog_client.py [--bootstrap HOST:PORT] [--messages N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid

from aiokafka import AIOKafkaConsumer

from topics.admin import apply_catalog
from topics.catalog import DEVICE_EVENTS, TopicSpec
from topics.client import CatalogConsumer, CatalogProducer
from topics.connection import connection_config
from topics.examples import example
from topics.models import DeviceEvent


def private_topic(partitions: int) -> TopicSpec:
    return TopicSpec(
        name=f"bench.{uuid.uuid4().hex[:10]}.v1",
        value_model=DeviceEvent,
        key=DEVICE_EVENTS.key,
        description="benchmark topic",
        partitions=partitions,
        retention_ms=60 * 60 * 1000,
    )


async def produce(bootstrap: str, n: int, sequential_n: int) -> tuple[TopicSpec, float, float]:
    spec = private_topic(6)
    apply_catalog([spec], bootstrap=bootstrap, replication_factor=1)
    events = [example(DeviceEvent, f"bench-{i}") for i in range(max(n, sequential_n))]
    async with CatalogProducer(bootstrap) as producer:
        await producer.send(spec, events[0])  # connection and metadata outside the timing
        start = time.perf_counter()
        for event in events[:sequential_n]:
            await producer.send(spec, event)
        sequential = sequential_n / (time.perf_counter() - start)
        start = time.perf_counter()
        await producer.send_batch(spec, events[:n])
        batched = n / (time.perf_counter() - start)
    return spec, sequential, batched


async def consume_validated(bootstrap: str, spec: TopicSpec, n: int) -> float:
    async with CatalogConsumer(
        spec, group_id=f"bench-{uuid.uuid4().hex}", component="bench", bootstrap=bootstrap
    ) as consumer:
        first = await consumer.next(timeout_s=30)
        assert first is not None
        start = time.perf_counter()
        for _ in range(n - 1):
            message = await consumer.next(timeout_s=30)
            assert message is not None
        return (n - 1) / (time.perf_counter() - start)


async def consume_raw(bootstrap: str, spec: TopicSpec, n: int) -> float:
    consumer = AIOKafkaConsumer(
        spec.name,
        **connection_config(bootstrap),
        group_id=f"bench-raw-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        await consumer.getone()
        seen, start = 1, time.perf_counter()
        while seen < n:
            batches = await consumer.getmany(timeout_ms=1000)
            seen += sum(len(records) for records in batches.values())
        return (seen - 1) / (time.perf_counter() - start)
    finally:
        await consumer.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default=os.environ.get("TILIK_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--sequential", type=int, default=1_000)
    args = parser.parse_args()

    spec, sequential, batched = await produce(args.bootstrap, args.messages, args.sequential)
    print(f"produce  baseline (await each ack): {sequential:10.0f} msg/s  ({args.sequential} msgs)")
    print(f"produce  send_batch:                {batched:10.0f} msg/s  ({args.messages} msgs)")
    print(f"produce  ratio batch/baseline:      {batched / sequential:10.1f}x")

    total = args.messages + args.sequential + 1
    raw = await consume_raw(args.bootstrap, spec, total)
    validated = await consume_validated(args.bootstrap, spec, total)
    print(f"consume  baseline (raw aiokafka):   {raw:10.0f} msg/s  ({total} msgs)")
    print(f"consume  CatalogConsumer validated: {validated:10.0f} msg/s")
    print(f"consume  ratio validated/raw:       {validated / raw:10.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
