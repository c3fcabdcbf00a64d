"""Event parser throughput per vendor, against a raw parse of the same payloads in the same run.

The payloads are the event corpus (``tests/fixtures``: ONVIF PullMessages responses and Notify
messages, Hikvision ``EventNotificationAlert`` documents, Dahua ``Code=…`` records). For each
vendor, in one process, no network:

1. baseline: the bare parse of the same bytes (``lxml.etree.fromstring`` for XML; splitting the
   record and ``json.loads`` of its data for Dahua), the cost floor of reading them at all;
2. full: hardened parse, the topic or code table and validated ``DeviceEvent``\\ s (unknown
   topics become ``UnparsedEvent``\\ s, as in production).

Prints payloads/s for both and full/baseline: how many times the bare parse the whole path costs.

Usage: python bench/event_parsers.py [--rounds N] [--runs R]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from event_corpus import (  # noqa: E402
    DAHUA,
    HIKVISION,
    ONVIF,
    dahua_events,
    hikvision_events,
    onvif_events,
)

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def raw_xml(payload: bytes) -> object:
    return etree.fromstring(payload, _PARSER)


def raw_dahua(payload: bytes) -> object:
    head, _, data = payload.decode("utf-8").partition(";data=")
    fields = dict(item.partition("=")[::2] for item in head.split(";"))
    return fields, json.loads(data) if data.strip() else {}


VENDORS: dict[str, tuple[list[bytes], Callable[[bytes], object], Callable[[bytes], object]]] = {
    "onvif": (
        [p.read_bytes() for p in sorted(ONVIF.glob("*.xml"))],
        raw_xml,
        onvif_events,
    ),
    "hikvision": (
        [p.read_bytes() for p in sorted(HIKVISION.glob("*.xml"))],
        raw_xml,
        hikvision_events,
    ),
    "dahua": (
        [
            p.read_bytes()
            for p in sorted(DAHUA.glob("*.txt"))
            if p.read_bytes().startswith(b"Code=") and p.read_bytes().count(b"Code=") == 1
        ],
        raw_dahua,
        dahua_events,
    ),
}


def rate(payloads: list[bytes], parse: Callable[[bytes], object], rounds: int) -> float:
    """Payloads per second through ``parse``, over ``rounds`` passes of the corpus."""
    start = time.perf_counter()
    for _ in range(rounds):
        for payload in payloads:
            parse(payload)
    return rounds * len(payloads) / (time.perf_counter() - start)


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--rounds", type=int, default=200, help="passes over the corpus per run")
    options.add_argument("--runs", type=int, default=5, help="runs; the median is reported")
    args = options.parse_args()
    print(f"{'vendor':<10} {'payloads':>8} {'baseline/s':>12} {'full/s':>10} {'full/baseline':>14}")
    for vendor, (payloads, raw, full) in VENDORS.items():
        for payload in payloads:  # warm up, and prove every payload goes through both
            raw(payload)
            full(payload)
        baseline = statistics.median(rate(payloads, raw, args.rounds) for _ in range(args.runs))
        normalised = statistics.median(rate(payloads, full, args.rounds) for _ in range(args.runs))
        print(
            f"{vendor:<10} {len(payloads):>8} {baseline:>12,.0f} {normalised:>10,.0f}"
            f" {baseline / normalised:>13.1f}x"
        )


if __name__ == "__main__":
    main()
