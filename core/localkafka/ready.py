"""Readiness of a cluster: every node answers a metadata request itself and sees all brokers unfenced.

An open port proves nothing (the JVM binds before it serves), and one node's view is not enough
either: after a crash the survivors still list the dead broker until its session times out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from core.localkafka.errors import LocalKafkaError

PROBE_TIMEOUT_MS = 2000
POLL_INTERVAL_S = 0.25


def registered_brokers(bootstrap: str, client_options: Mapping[str, Any] | None = None) -> int:
    """How many unfenced brokers the cluster's metadata lists; raises ``KafkaError`` if unreachable.

    ``client_options`` are the security options of a principal (the admin's for a local cluster).
    """
    options = {**(client_options or {}), "bootstrap_servers": bootstrap.split(",")}
    admin = KafkaAdminClient(
        **options,
        client_id="tilik-localkafka-ready",
        request_timeout_ms=PROBE_TIMEOUT_MS,
        bootstrap_timeout_ms=PROBE_TIMEOUT_MS,
    )
    try:
        cluster = admin.describe_cluster()
    finally:
        admin.close()
    return sum(1 for broker in cluster["brokers"] if not broker.get("is_fenced"))


def brokers_seen_by_every_node(
    bootstrap: str, client_options: Mapping[str, Any] | None = None
) -> int:
    """The smallest broker count any single node reports; bootstrapping from one address alone
    makes that node answer the metadata request itself."""
    return min(registered_brokers(address, client_options) for address in bootstrap.split(","))


def wait_until_ready(
    bootstrap: str,
    expected_brokers: int,
    timeout: float,
    failure: Callable[[], str | None] = lambda: None,
    client_options: Mapping[str, Any] | None = None,
) -> float:
    """Seconds it took until ``expected_brokers`` answered; ``failure()`` names a reason to give up early."""
    started = time.monotonic()
    deadline = started + timeout
    seen = 0
    last_error = "no answer yet"
    with _quiet_client_logs():
        while time.monotonic() < deadline:
            reason = failure()
            if reason is not None:
                raise LocalKafkaError(reason)
            try:
                seen = brokers_seen_by_every_node(bootstrap, client_options)
            except KafkaError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            else:
                if seen >= expected_brokers:
                    return time.monotonic() - started
                last_error = f"{seen} of {expected_brokers} brokers registered"
            time.sleep(POLL_INTERVAL_S)
    raise LocalKafkaError(
        f"Kafka at {bootstrap} was not ready within {timeout:.0f} s ({last_error})"
    )


@contextmanager
def _quiet_client_logs() -> Iterator[None]:
    # Refused connections are the expected state while the JVM boots; they are not worth a log line.
    client_logger = logging.getLogger("kafka")
    previous = client_logger.level
    client_logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        client_logger.setLevel(previous)
