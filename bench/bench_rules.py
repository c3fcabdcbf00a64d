"""Rule engine throughput with the default ruleset, against a baseline measured in the same run.

The hub decodes and validates every device event at the edge (JSON to a strict ``DeviceEvent``);
that cost is paid whatever the rules do, so it is the baseline. Measured:

1. baseline: ``DeviceEvent.model_validate_json`` per event;
2. rules: matching (``rules_for``) plus ``apply`` with the state round-tripped through JSON, as
   the hub's changelog table stores it, for a mixed event stream over many cameras;
3. ticks: one ``tick`` over every live (camera, rule) state, as the hub's timer does.

Usage: python bench/bench_rules.py [--events N] [--cameras C] [--rounds R]
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta

from hub.harness import RuleHarness
from hub.rules import RuleEngine, load_default_rules
from hub.rules.testing import camera, event
from topics.models import DeviceEvent, EventKind, SiteType

SITES = [
    SiteType.MARKET,
    SiteType.MAIN_ROAD,
    SiteType.INTERSECTION,
    SiteType.RIVER,
    SiteType.HOSPITAL,
]


def make_stream(n: int, cameras: int, seed: int = 7) -> tuple[list, list[DeviceEvent]]:
    rng = random.Random(seed)
    start = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)  # 07:00 in Semarang
    cams = [camera(f"B-{i}", site_type=SITES[i % len(SITES)], at=start) for i in range(cameras)]
    events = []
    for i in range(n):
        cam = cams[rng.randrange(cameras)]
        at = start + timedelta(seconds=i * 0.05)
        kind = rng.choice(
            [
                EventKind.PEOPLE_COUNT,
                EventKind.VEHICLE_COUNT,
                EventKind.FLOOD_LEVEL,
                EventKind.PARKING_VIOLATION,
                EventKind.TAMPER,
                EventKind.MOTION,
            ]
        )
        attrs: dict = {}
        if kind in (EventKind.PEOPLE_COUNT, EventKind.VEHICLE_COUNT):
            attrs["count"] = rng.randrange(0, 300)
        elif kind is EventKind.FLOOD_LEVEL:
            attrs["flood_level_cm"] = rng.uniform(0, 80)
        elif kind is EventKind.PARKING_VIOLATION:
            attrs["plate"] = f"H {rng.randrange(50)}"
        events.append(event(cam, kind, at, active=rng.choice([True, None, False]), **attrs))
    return cams, events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--cameras", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    cams, events = make_stream(args.events, args.cameras)
    raw = [e.model_dump_json().encode() for e in events]
    engine = RuleEngine(load_default_rules())

    # The machine is shared: alternate the two measurements and keep each one's best round.
    baseline = rules_rate = tick_rate = 0.0
    for _ in range(args.rounds):
        start = time.perf_counter()
        for payload in raw:
            DeviceEvent.model_validate_json(payload)
        baseline = max(baseline, len(raw) / (time.perf_counter() - start))

        harness = RuleHarness(engine, cams)
        start = time.perf_counter()
        for evt in events:
            harness.feed(evt)
        rules_rate = max(rules_rate, len(events) / (time.perf_counter() - start))

        live = len(harness.states)
        now = events[-1].received_at + timedelta(seconds=30)
        start = time.perf_counter()
        harness.tick(now)
        tick_rate = max(tick_rate, live / max(time.perf_counter() - start, 1e-9))

    sizes = [len(text) for text in harness.states.values()] or [0]
    print(f"events: {len(events)} over {len(cams)} cameras; alerts raised: {len(harness.alerts)}")
    print(f"baseline  decode+validate      {baseline:12,.0f} events/s")
    print(
        f"rules     match+apply+state io {rules_rate:12,.0f} events/s  "
        f"ratio {rules_rate / baseline:.2f}x baseline"
    )
    print(f"ticks     {live} live states      {tick_rate:12,.0f} states/s")
    print(f"state     max {max(sizes)} bytes, mean {sum(sizes) / len(sizes):.0f} bytes as JSON")


if __name__ == "__main__":
    main()
