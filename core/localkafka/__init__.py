"""A Kafka broker (or a small KRaft cluster) on loopback, fetched from Maven Central and run with Java.

``LocalKafka`` is the Python API the test fixture and ``tilik demo`` use; ``tilik kafka`` is its CLI.
"""

from __future__ import annotations

from core.localkafka.cluster import ClusterStatus, LocalKafka, NodeStatus
from core.localkafka.errors import LocalKafkaError
from core.localkafka.resolve import KAFKA_VERSION, ensure_runtime, runtime_cache_dir

__all__ = [
    "KAFKA_VERSION",
    "ClusterStatus",
    "LocalKafka",
    "LocalKafkaError",
    "NodeStatus",
    "ensure_runtime",
    "runtime_cache_dir",
]
