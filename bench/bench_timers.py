"""Rule timer cost per run: the due index against a scan of every state, in the same run.

A worker's rule timer runs every few seconds (``--tick-every``, 5 s). It used to look at every
live (camera, rule) state on each run; now it looks only at the states whose next time-driven
moment has come (``hub/due.py``, ``hub/rules/moments.py``). Measured over the default ruleset
and a city-sized set of cameras, each having just reported a few events:

1. baseline: one timer run over every state (parse, ``needs_tick``, ``tick``, compare), as before;
2. first run with the index: every state is new, so everything is looked at and scheduled;
3. steady run (one tick interval later): only what is due is looked at.

Usage: python bench/bench_timers.py [--cameras 20000] [--events-per-camera 3] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.due import DueIndex
from hub.harness import RuleHarness
from hub.rules import RuleEngine, RuleState, load_default_rules
from hub.rules.model import Rule
from hub.rules.testing import camera, event
from topics.models import EventKind, ObjectClass, SiteType

SITES = [SiteType.MARKET, SiteType.MAIN_ROAD, SiteType.INTERSECTION, SiteType.RIVER]
TICK_EVERY_S = 5.0


def city(cameras: int, per_camera: int, seed: int = 11) -> tuple[RuleHarness, datetime]:
    rng = random.Random(seed)
    start = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)  # 08:00 on a Wednesday in Semarang
    cams = [camera(f"T-{i}", site_type=SITES[i % len(SITES)], at=start) for i in range(cameras)]
    harness = RuleHarness(RuleEngine(load_default_rules()), cams)
    at = start
    for round_ in range(per_camera):
        for cam in cams:
            at = start + timedelta(seconds=60 * round_ + rng.uniform(0, 60))
            kind = rng.choice([EventKind.VEHICLE_COUNT, EventKind.PEOPLE_COUNT, EventKind.TAMPER])
            attrs: dict[str, Any] = {"count": rng.randrange(0, 200)}
            if kind is EventKind.VEHICLE_COUNT:
                attrs["object_class"] = ObjectClass.CAR
            if kind is EventKind.TAMPER:
                attrs = {}
            harness.feed(event(cam, kind, at, **attrs))
    return harness, start + timedelta(seconds=60 * per_camera + 1)


def look(
    engine: RuleEngine, text: str, rule_id: str, camera_id: str, now: datetime
) -> tuple[Rule, RuleState, bool] | None:
    state = RuleState.from_json(text)
    rule = engine.rule(rule_id)
    if rule is None or not engine.needs_tick(state):
        return None
    updated, alerts = engine.tick(rule, camera_id, state, None, now)
    return rule, state, bool(alerts) or updated != state


def full_scan(harness: RuleHarness, now: datetime) -> int:
    changed = 0
    for (camera_id, rule_id), text in harness.states.items():
        seen = look(harness.engine, text, rule_id, camera_id, now)
        changed += bool(seen and seen[2])
    return changed


def indexed_run(harness: RuleHarness, due: DueIndex, now: datetime) -> tuple[int, int]:
    """One timer run with the index; returns (states looked at, states that would change)."""
    engine = harness.engine
    due.sync(f"{c}|{r}" for c, r in harness.states)
    popped = due.pop_due(now.timestamp())
    changed = 0
    for key, version in popped:
        camera_id, _, rule_id = key.partition("|")
        seen = look(engine, harness.states[(camera_id, rule_id)], rule_id, camera_id, now)
        if seen is None:
            due.schedule(key, now.timestamp() + 60, version)
        elif seen[2]:
            changed += 1
            due.schedule(key, now.timestamp() + TICK_EVERY_S, version)
        else:
            due.schedule(key, engine.next_check(seen[0], seen[1], now), version)
    return len(popped), changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=20_000)
    parser.add_argument("--events-per-camera", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    harness, now = city(args.cameras, args.events_per_camera)
    live = len(harness.states)
    print(f"{args.cameras} cameras, {live} live rule states")
    scans, firsts, steadies, looked = [], [], [], []
    for _ in range(args.rounds):
        began = time.perf_counter()
        full_scan(harness, now)
        scans.append(time.perf_counter() - began)

        due = DueIndex()
        began = time.perf_counter()
        indexed_run(harness, due, now)
        firsts.append(time.perf_counter() - began)

        later = now + timedelta(seconds=TICK_EVERY_S)
        began = time.perf_counter()
        count, _ = indexed_run(harness, due, later)
        steadies.append(time.perf_counter() - began)
        looked.append(count)

    scan, first, steady = (statistics.median(x) for x in (scans, firsts, steadies))
    print(f"baseline  full scan per run       {1000 * scan:9.1f} ms  (every state)")
    print(f"index     first run               {1000 * first:9.1f} ms  (every state, scheduled)")
    print(
        f"index     steady run              {1000 * steady:9.1f} ms  "
        f"({statistics.median(looked):.0f} states due)  ratio {scan / steady:.0f}x faster"
    )


if __name__ == "__main__":
    main()
