"""Runtime building blocks: Prometheus endpoint, waits that end on close."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from connectors.sdk.base import ConnectorMetrics
from connectors.sdk.lifecycle import Closed, until_closed
from connectors.sdk.metrics import connector_registry, serve_metrics


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text exposition, parsed by prometheus-client's own parser."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_are_counters_gauges_and_errors_by_type_with_the_connector_label() -> None:
    metrics = ConnectorMetrics(devices=3, cameras=7, events=42, health_round_s=1.5)
    metrics.count_error(TimeoutError())
    metrics.count_error(TimeoutError())
    text = generate_latest(connector_registry("onvif", metrics)).decode()
    families = {family.name: family.type for family in text_string_to_metric_families(text)}
    assert families["tilik_connector_devices"] == "gauge"
    assert families["tilik_connector_events"] == "counter"
    assert families["tilik_connector_errors"] == "counter"
    values = samples(text)
    label = (("connector", "onvif"),)
    assert values[("tilik_connector_cameras", label)] == 7
    assert values[("tilik_connector_health_round_s", label)] == 1.5
    assert values[("tilik_connector_events_total", label)] == 42
    assert values[("tilik_connector_retries_total", label)] == 0
    errors = (("connector", "onvif"), ("error_type", "TimeoutError"))
    assert values[("tilik_connector_errors_total", errors)] == 2
    # The process's own resource use comes with them.
    assert values[("process_resident_memory_bytes", ())] > 0


async def test_metrics_and_healthz_are_served() -> None:
    metrics = ConnectorMetrics(devices=1)
    ready = asyncio.Event()
    async with (
        serve_metrics("example", metrics, ready.is_set, port=0) as port,
        aiohttp.ClientSession() as http,
    ):
        async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
            assert response.status == 503
        ready.set()
        metrics.events += 5
        async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
            assert response.status == 200
        async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
            assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
            body = await response.text()
    assert samples(body)[("tilik_connector_events_total", (("connector", "example"),))] == 5


async def test_until_closed_cancels_the_wait_when_closed() -> None:
    closed = asyncio.Event()
    started = asyncio.Event()

    async def long_poll() -> str:
        started.set()
        await asyncio.sleep(60)
        return "late"

    waiter = asyncio.create_task(until_closed(long_poll(), closed))
    await started.wait()
    closed.set()
    with pytest.raises(Closed):
        await asyncio.wait_for(waiter, 2)
    assert await until_closed(asyncio.sleep(0, result="done"), asyncio.Event()) == "done"
    with pytest.raises(Closed):
        await until_closed(asyncio.sleep(0), closed)
