"""The worker's ``/metrics`` (Prometheus exposition, through ``prometheus-client``).

What a worker counts, each where it happens: records read by its agents (``events_in``, by topic:
device events are ``tilik.events.device.v2``), alert states published (``alerts``, by status),
webhook deliveries by agency and outcome, escalations by the agency they reached, the time one
rule evaluation takes, and, read when Prometheus scrapes, each owned partition's lag (the
broker's end offset less the next offset the worker's agents are to see). The process collector
adds resident memory, CPU time and open file descriptors. Each worker has a registry of its own,
so several apps in one process (tests) never share or clash over metrics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import faust
from faust.web import Request, Response, View
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.process_collector import ProcessCollector

if TYPE_CHECKING:
    from hub.gaps import GapGuard

PREFIX = "tilik_hub"
# One rule evaluation takes tens of microseconds; a slow one shows in the upper buckets.
EVALUATION_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25)


class DeliveryOutcome:
    """How one webhook delivery ended (the ``outcome`` label)."""

    DELIVERED = "delivered"  # a 2xx answer: a delivery receipt
    ACKNOWLEDGED = "acknowledged"  # a 2xx answer of {"ack": true}: also the agency's ack
    FAILED = "failed"  # retries exhausted: a delivery_failed dead letter


class HubMetrics:
    """One worker's metrics, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.events_in = Counter(
            f"{PREFIX}_events_in",
            "Records the agents read, by topic (device events: tilik.events.device.v2).",
            ["topic"],
            registry=self.registry,
        )
        self.alerts = Counter(
            f"{PREFIX}_alerts",
            "Alert states published to the alerts topic, by status.",
            ["status"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            f"{PREFIX}_deliveries",
            "Webhook deliveries, by agency and outcome (delivered, acknowledged, failed).",
            ["agency", "outcome"],
            registry=self.registry,
        )
        self.escalations = Counter(
            f"{PREFIX}_escalations",
            "Alerts escalated to a further agency because nobody acknowledged them in time.",
            ["agency"],
            registry=self.registry,
        )
        self.rule_evaluation = Histogram(
            f"{PREFIX}_rule_evaluation_seconds",
            "Time to judge one device event or rule tick against the rules.",
            buckets=EVALUATION_BUCKETS,
            registry=self.registry,
        )
        self.lag = Gauge(
            f"{PREFIX}_consumer_lag",
            "Records on an owned partition the agents have yet to see.",
            ["topic", "partition"],
            registry=self.registry,
        )
        ProcessCollector(registry=self.registry)
        self._events_in: dict[str, Any] = {}

    def record_in(self, topic: str) -> None:
        # One labelled child per topic, looked up once: this runs for every record.
        child = self._events_in.get(topic)
        if child is None:
            child = self._events_in[topic] = self.events_in.labels(topic)
        child.inc()

    def exposition(self, lag: dict[tuple[str, int], int]) -> bytes:
        """The metrics in Prometheus' text format, with the lag of each owned partition now."""
        self.lag.clear()
        for (topic, partition), behind in sorted(lag.items()):
            self.lag.labels(topic, str(partition)).set(behind)
        return generate_latest(self.registry)


def metrics_page(metrics: HubMetrics, app: faust.App, gaps: GapGuard) -> type[View]:
    """The ``/metrics`` page of one worker; the lag is of the partitions its agents read."""

    class MetricsPage(View):
        async def get(self, request: Request) -> Response:
            lag: dict[tuple[str, int], int] = {}
            consumer = app.consumer
            for tp in gaps.assigned(gaps.covered):
                end = consumer.highwater(tp)
                position = gaps.next_offset(tp.topic, tp.partition)
                if position is None:
                    position = await consumer.position(tp)
                if end is not None and end >= 0 and position is not None:
                    lag[(tp.topic, tp.partition)] = max(end - position, 0)
            body = metrics.exposition(lag)
            return self.bytes(body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return MetricsPage
