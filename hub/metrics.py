"""The worker's ``/metrics`` (Prometheus exposition, through ``prometheus-client``).

What a worker counts, each where it happens: records read by its agents (``events_in``, by topic:
device events are ``tilik.events.device.v2``), alert states published (``alerts``, by status),
webhook deliveries by agency and outcome, escalations by the agency they reached, the time one
rule evaluation takes, records the loss guard read back (``hub.gaps``), and, read when
Prometheus scrapes, each owned partition's lag (the broker's end offset less the next offset the
worker's agents are to see) and its uncommitted records (that next offset less the group's
committed one: what a restart would read again). The process collector
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
        self.recovered = Counter(
            f"{PREFIX}_input_recovered",
            "Records the loss guard read back directly, by topic and why: skipped (Faust's stream "
            "passed over them) or stalled (they waited on a partition it had not delivered from).",
            ["topic", "why"],
            registry=self.registry,
        )
        self.uncommitted = Gauge(
            f"{PREFIX}_uncommitted_records",
            "Records of an owned partition the agents have seen past the group's committed "
            "offset: a restart reads them again. Only growing: the partition's commits stopped.",
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

    def record_recovered(self, topic: str, why: str, count: int) -> None:
        self.recovered.labels(topic, why).inc(count)

    def exposition(
        self, lag: dict[tuple[str, int], int], uncommitted: dict[tuple[str, int], int]
    ) -> bytes:
        """The metrics in Prometheus' text format, with each owned partition's lag and
        uncommitted records now."""
        for gauge, values in ((self.lag, lag), (self.uncommitted, uncommitted)):
            gauge.clear()
            for (topic, partition), value in sorted(values.items()):
                gauge.labels(topic, str(partition)).set(value)
        return generate_latest(self.registry)


def metrics_page(metrics: HubMetrics, app: faust.App, gaps: GapGuard) -> type[View]:
    """The ``/metrics`` page of one worker; the lag is of the partitions its agents read."""

    class MetricsPage(View):
        async def get(self, request: Request) -> Response:
            lag: dict[tuple[str, int], int] = {}
            uncommitted: dict[tuple[str, int], int] = {}
            consumer = app.consumer
            for tp in gaps.assigned(gaps.covered):
                end = consumer.highwater(tp)
                position = gaps.next_offset(tp.topic, tp.partition)
                if position is None:
                    position = await consumer.position(tp)
                if position is None:
                    continue
                if end is not None and end >= 0:
                    lag[(tp.topic, tp.partition)] = max(end - position, 0)
                committed = gaps.committed_offset(tp.topic, tp.partition)
                if committed is not None:
                    uncommitted[(tp.topic, tp.partition)] = max(position - committed, 0)
            body = metrics.exposition(lag, uncommitted)
            return self.bytes(body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return MetricsPage
