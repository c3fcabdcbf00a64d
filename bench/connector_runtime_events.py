"""Event throughput of the connector runtime for one busy device, against a baseline in the same run.

A simulated recorder (the SDK's reference device, loopback HTTP with digest auth) is asked for a
burst of N events; the watch service (``WatchService``) reads them from its multipart event stream
through the reference connector and publishes them to the device-event topic on a real broker. Measured: seconds from
the burst until a consumer has read all N published events.

1. baseline: ``max_in_flight_events=1``, every send awaited before the next event (each send
   also waits out the producer's 5 ms linger);
2. runtime default: a window of 256 unacknowledged sends per device.

Usage: python bench/connector_runtime_events.py [--bootstrap HOST:PORT] [--events N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from connectors.sdk.example.connector import VENDOR, ExampleConnector
from connectors.sdk.example.simulator import running_recorder
from connectors.sdk.onboard import onboard
from connectors.sdk.runtime import RuntimeOptions, WatchService
from core.logconfig import configure_logging
from topics.admin import apply_catalog
from topics.catalog import DEVICE_EVENTS, all_topics
from topics.client import CatalogProducer
from topics.connection import connection_config
from topics.identity import camera_id


async def _end_offsets(consumer: AIOKafkaConsumer) -> None:
    await consumer._client.force_metadata_update()
    tps = [
        TopicPartition(DEVICE_EVENTS.name, p)
        for p in consumer.partitions_for_topic(DEVICE_EVENTS.name) or ()
    ]
    consumer.assign(tps)
    for tp, offset in (await consumer.end_offsets(tps)).items():
        consumer.seek(tp, offset)


async def one_run(bootstrap: str, events: int, in_flight: int) -> float:
    """Seconds from a burst of ``events`` on one device until all are read back from Kafka."""
    name = f"bench{uuid.uuid4().hex[:8]}"
    connector: type[Any] = type(f"Bench_{name}", (ExampleConnector,), {"name": name})
    async with running_recorder(channels=4) as recorder:
        cams = {camera_id(vendor=VENDOR, serial=recorder.serial, channel=n) for n in range(1, 5)}
        os.environ["TILIK_CAMERA_SECRET_BENCH_RUNTIME"] = recorder.password
        config = {
            "address": recorder.address,
            "credential_ref": "admin@env:TILIK_CAMERA_SECRET_BENCH_RUNTIME",
        }
        async with CatalogProducer(bootstrap) as producer:
            summary = await onboard(connector, [config], producer=producer)
        assert summary.ok, summary.as_dict()
        service = WatchService(
            connector,
            bootstrap=bootstrap,
            options=RuntimeOptions(
                group_id=f"bench-{name}", health_interval_s=3600, max_in_flight_events=in_flight
            ),
        )
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        consumer = AIOKafkaConsumer(**connection_config(bootstrap), enable_auto_commit=False)
        await consumer.start()
        try:
            while not service.watched_devices:
                await asyncio.sleep(0.05)
            await _end_offsets(consumer)
            while not recorder.stream_connections:
                await asyncio.sleep(0.05)  # the connector's event stream is open
            started = time.perf_counter()
            for n in range(events):
                await recorder.emit("motion", channel=n % 4 + 1)
            seen = 0
            while seen < events:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    seen += sum(1 for r in records if r.key is not None and r.key.decode() in cams)
            return time.perf_counter() - started
        finally:
            await consumer.stop()
            stop.set()
            await task


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--bootstrap", default=os.environ.get("TILIK_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    configure_logging(level="warning")
    apply_catalog(all_topics(), bootstrap=args.bootstrap, replication_factor=1)
    baseline = await one_run(args.bootstrap, args.events, in_flight=1)
    windowed = await one_run(args.bootstrap, args.events, in_flight=256)
    print(f"events per run: {args.events} (one device, 4 channels, loopback HTTP long poll)")
    print(
        f"baseline (await every send):  {baseline:7.2f} s  {args.events / baseline:9.0f} events/s"
    )
    print(
        f"runtime (256 in flight):      {windowed:7.2f} s  {args.events / windowed:9.0f} events/s"
    )
    print(f"ratio: {baseline / windowed:.1f}x faster than the baseline")


if __name__ == "__main__":
    asyncio.run(main())
