"""Benchmark: how long ``LocalKafka.start()`` takes, cold (empty jar cache) versus cached.

Runs, each on fresh free ports and a fresh state dir unless said otherwise:

* floor     -- one JVM running a Kafka tool on the cached classpath (the least a start can cost)
* cold      -- empty ``TILIK_KAFKA_CACHE``: Maven resolution + storage format + start + ready
               (Maven's own ~/.m2 is whatever this machine has; a warm ~/.m2 means no downloads)
* cached    -- jars cached: storage format + start + ready
* restart   -- same state dir again after a stop: start + ready only

The floor is the baseline; every other line prints its ratio to it.
Usage: .venv/bin/python bench/localkafka_start.py [--nodes N] [--repeat R]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from core.localkafka import LocalKafka, ensure_runtime
from core.localkafka.process import java_executable


def timed(action: Callable[[], object]) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def jvm_floor(libs: Path) -> float:
    command = [java_executable(), "-cp", str(libs / "*"), "kafka.tools.StorageTool", "random-uuid"]
    return timed(lambda: subprocess.run(command, check=True, capture_output=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()

    results: dict[str, list[float]] = {"floor": [], "cold": [], "cached": [], "restart": []}
    with tempfile.TemporaryDirectory(prefix="tilik-bench-kafka-") as scratch:
        root = Path(scratch)
        for run in range(options.repeat):
            cache = root / f"cache-{run}"
            cold = LocalKafka(
                root / f"cold-{run}", nodes=options.nodes, port=0, runtime_cache=cache
            )
            results["cold"].append(timed(cold.start))
            cold.stop()
            libs = ensure_runtime(cache)
            results["floor"].append(jvm_floor(libs))

            cached = LocalKafka(
                root / f"cached-{run}", nodes=options.nodes, port=0, runtime_cache=cache
            )
            results["cached"].append(timed(cached.start))
            cached.stop()
            results["restart"].append(timed(cached.start))
            cached.stop()

    baseline = statistics.median(results["floor"])
    print(f"local kafka start, {options.nodes} node(s), median of {options.repeat} run(s)")
    for name, samples in results.items():
        median = statistics.median(samples)
        print(
            f"  {name:8s} {median:6.2f} s  x{median / baseline:5.1f} of floor   samples {[round(s, 2) for s in samples]}"
        )


if __name__ == "__main__":
    main()
