"""The runtime's ``/metrics`` (Prometheus text format) and ``/healthz`` HTTP endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import fields

from aiohttp import web

from connectors.sdk.base import ConnectorMetrics
from connectors.sdk.simulator import run_loopback_site

PREFIX = "tilik_connector"
# Fields that are current values rather than running totals.
GAUGES = frozenset({"devices", "cameras"})


def render_prometheus(connector: str, metrics: ConnectorMetrics) -> str:
    """Every counter of ``metrics`` as Prometheus text, labelled with the connector name."""
    lines: list[str] = []
    label = f'connector="{connector}"'
    for spec in fields(metrics):
        value = getattr(metrics, spec.name)
        name = f"{PREFIX}_{spec.name}"
        if isinstance(value, dict):
            name = f"{PREFIX}_errors_total"
            lines.append(f"# TYPE {name} counter")
            for error_type, count in sorted(value.items()):
                lines.append(f'{name}{{{label},error_type="{error_type}"}} {count}')
            continue
        kind = "gauge" if spec.name in GAUGES else "counter"
        if kind == "counter":
            name += "_total"
        lines.append(f"# TYPE {name} {kind}")
        lines.append(f"{name}{{{label}}} {value}")
    return "\n".join(lines) + "\n"


def metrics_app(
    connector: str, metrics: ConnectorMetrics, healthy: Callable[[], bool]
) -> web.Application:
    async def serve_metrics(_: web.Request) -> web.Response:
        return web.Response(
            text=render_prometheus(connector, metrics), content_type="text/plain", charset="utf-8"
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
