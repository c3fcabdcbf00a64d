"""The runtime's ``/metrics`` (Prometheus exposition, through ``prometheus-client``) and ``/healthz``.

The runtime keeps its counters in ``ConnectorMetrics`` (plain attributes, cheap to bump on every
event); ``ConnectorCollector`` reads them when Prometheus scrapes, and the process collector adds
the process's resident memory, CPU time and open file descriptors. Each endpoint has a registry
of its own, so several runtimes in one process (tests) never share or clash over metrics.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import fields

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from connectors.sdk.base import ConnectorMetrics
from connectors.sdk.simulator import run_loopback_site

PREFIX = "tilik_connector"
#: what each ``ConnectorMetrics`` field counts; the gauges are current values, the rest totals
HELP: dict[str, str] = {
    "devices": "Devices this process watches now.",
    "cameras": "Cameras this process watches now.",
    "checks_ok": "Onboarding checks that reached and authenticated to a device.",
    "checks_failed": "Onboarding checks that failed.",
    "cameras_discovered": "Cameras found by onboarding.",
    "health_checks": "Device health checks run.",
    "health_round_s": "Seconds the last complete health round over every watched device took.",
    "statuses": "Camera statuses published.",
    "events": "Device events published.",
    "unparsed": "Device input kept in the dead letters instead of published as an event.",
    "dead_letters": "Dead letters published.",
    "retries": "Device event streams restarted after a failure.",
    "errors": "Errors, by exception type.",
}
GAUGES = frozenset({"devices", "cameras", "health_round_s"})


class ConnectorCollector(Collector):
    """One connector's ``ConnectorMetrics`` as Prometheus metric families, read at each scrape."""

    def __init__(self, connector: str, metrics: ConnectorMetrics) -> None:
        self.connector = connector
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        for spec in fields(self.metrics):
            value = getattr(self.metrics, spec.name)
            name, help_text = f"{PREFIX}_{spec.name}", HELP.get(spec.name, spec.name)
            if isinstance(value, dict):
                by_type = CounterMetricFamily(name, help_text, labels=["connector", "error_type"])
                for error_type, count in sorted(value.items()):
                    by_type.add_metric([self.connector, error_type], count)
                yield by_type
                continue
            family = (
                GaugeMetricFamily(name, help_text, labels=["connector"])
                if spec.name in GAUGES
                else CounterMetricFamily(name, help_text, labels=["connector"])
            )
            family.add_metric([self.connector], value)
            yield family


def connector_registry(connector: str, metrics: ConnectorMetrics) -> CollectorRegistry:
    """A registry holding the connector's counters and this process's resource use."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(ConnectorCollector(connector, metrics))
    ProcessCollector(registry=registry)
    return registry


def metrics_app(
    connector: str, metrics: ConnectorMetrics, healthy: Callable[[], bool]
) -> web.Application:
    registry = connector_registry(connector, metrics)

    async def serve_metrics(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def serve_health(_: web.Request) -> web.Response:
        ok = healthy()
        return web.json_response({"status": "ok" if ok else "starting"}, status=200 if ok else 503)

    app = web.Application()
    app.router.add_get("/metrics", serve_metrics)
    app.router.add_get("/healthz", serve_health)
    return app


@asynccontextmanager
async def serve_metrics(
    connector: str, metrics: ConnectorMetrics, healthy: Callable[[], bool], *, port: int
) -> AsyncIterator[int]:
    """Serve ``/metrics`` and ``/healthz`` on 127.0.0.1:``port`` (0: any free port); yields the port."""
    async with run_loopback_site(metrics_app(connector, metrics, healthy), port=port) as bound:
        yield bound
