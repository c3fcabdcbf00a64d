"""What the watching runtime keeps per watched ONVIF camera, part by part: bytes per camera of
each part, measured in this process with ``tracemalloc`` (Python's allocations) or, for parsed
XML (libxml2's memory, which tracemalloc does not see), with the resident memory.

    .venv/bin/python bench/onvif_watch_parts.py [--cameras 2000]

Complements ``bench/onvif_watch_memory.py`` (the whole watcher, resident memory over its empty
baseline): these are the parts that are one per camera, so a change to one of them shows here
exactly, whatever else the machine runs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import tracemalloc
from collections.abc import Callable
from typing import Any

from connectors.onvif.connector import OnvifConnector
from connectors.onvif.event_topics import notifications
from connectors.sdk.watched import DeviceTarget, WatchedCamera
from connectors.sdk.xmlsafe import parse_device_xml
from core.backoff import Backoff
from topics.examples import camera_record
from topics.models import CameraRecord

_PAGE = os.sysconf("SC_PAGE_SIZE")
_MESSAGE = (
    '<wsnt:NotificationMessage xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" '
    'xmlns:tt="http://www.onvif.org/ver10/schema"><wsnt:Topic '
    'Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">'
    "tns1:RuleEngine/CellMotionDetector/Motion</wsnt:Topic><wsnt:Message>"
    '<tt:Message UtcTime="2026-11-28T01:02:03Z" PropertyOperation="Initialized"><tt:Source>'
    '<tt:SimpleItem Name="VideoSourceConfigurationToken" Value="VideoSourceToken"/>'
    '<tt:SimpleItem Name="Rule" Value="MyMotionDetectorRule"/></tt:Source><tt:Data>'
    '<tt:SimpleItem Name="IsMotion" Value="false"/></tt:Data></tt:Message></wsnt:Message>'
    "</wsnt:NotificationMessage>"
)


def traced(label: str, count: int, make: Callable[[int], Any]) -> list[Any]:
    """Bytes per item of what ``make`` returns, as tracemalloc counts them (kept alive)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    kept = [make(i) for i in range(count)]
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    size = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    print(f"  {label:<62} {size / count:7,.0f} B")
    return kept


def resident(label: str, count: int, make: Callable[[int], Any]) -> None:
    """Bytes per item of what ``make`` returns, as resident memory (for C allocations)."""
    gc.collect()
    before = int(open("/proc/self/statm").read().split()[1]) * _PAGE  # noqa: SIM115
    kept = [make(i) for i in range(count)]
    gc.collect()
    after = int(open("/proc/self/statm").read().split()[1]) * _PAGE  # noqa: SIM115
    print(f"  {label:<62} {(after - before) / count:7,.0f} B")
    del kept


def notify(messages: int) -> bytes:
    return (
        '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body>'
        '<wsnt:Notify xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2">'
        + _MESSAGE * messages
        + "</wsnt:Notify></env:Body></env:Envelope>"
    ).encode()


async def health_round_tasks(records: list[CameraRecord]) -> None:
    """A health round with one task per device, each waiting for the concurrency gate (how the
    runtime checked health before its worker pool): what it holds per device."""
    gate = asyncio.Semaphore(0)

    async def check() -> int:
        async with gate:
            return 1

    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    tasks = [asyncio.ensure_future(check()) for _ in records]
    await asyncio.sleep(0)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    size = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    label = "a health round of one waiting task per device (before the pool)"
    print(f"  {label:<62} {size / len(records):7,.0f} B")
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def main(cameras: int) -> None:
    records = [
        camera_record(i).model_copy(
            update={
                "connector_config": {
                    "timeout_s": 5.0,
                    "channel_refs": ["videosourcetoken=VS_1", "videosourceconfigurationtoken=C_1"],
                }
            }
        )
        for i in range(cameras)
    ]
    print(f"per watched camera, {cameras} cameras:")
    # First, before the heap holds freed memory the measurement would reuse.
    for messages in (1, 8):
        body = notify(messages)

        def kept_message(_: int, body: bytes = body) -> object:
            return notifications(parse_device_xml(body))[-1]

        resident(
            f"one message kept of a {messages}-message Notify ({len(body)} B of XML)",
            cameras,
            kept_message,
        )
    # A record as the registry consumer decodes it (its own objects, nothing shared).
    traced("registry record (CameraRecord, as decoded)", cameras, lambda i: _decoded(records[i]))
    traced(
        "WatchedCamera with its watch config and connection key",
        cameras,
        lambda i: WatchedCamera.of(_decoded(records[i]), OnvifConnector),
    )
    traced(
        "its connector config as the record makes it (placement included)",
        cameras,
        lambda i: OnvifConnector.config_from_record(_decoded(records[i])),
    )
    traced(
        "connection key as config JSON (the digest is 16 B)",
        cameras,
        lambda i: OnvifConnector.config_from_record(records[i]).model_dump_json(),
    )
    targets = [DeviceTarget(r.device_id, (WatchedCamera.of(r, OnvifConnector),)) for r in records]
    traced("ChannelMap of a one-camera device", cameras, lambda i: targets[i].channel_map())
    traced("Backoff", cameras, lambda i: Backoff(initial_s=1, max_s=300))
    asyncio.run(health_round_tasks(records))


def _decoded(record: CameraRecord) -> CameraRecord:
    return CameraRecord.model_validate_json(record.model_dump_json())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=2000)
    main(parser.parse_args().cameras)
