"""Runtime building blocks: Prometheus endpoint, waits that end on close."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from connectors.sdk.base import ConnectorMetrics
from connectors.sdk.lifecycle import Closed, until_closed
from connectors.sdk.metrics import render_prometheus, serve_metrics


def test_prometheus_text_has_counters_gauges_and_error_labels() -> None:
    metrics = ConnectorMetrics(devices=3, cameras=7, events=42)
    metrics.count_error(TimeoutError())
    metrics.count_error(TimeoutError())
    text = render_prometheus("onvif", metrics)
    assert "# TYPE tilik_connector_devices gauge" in text
    assert 'tilik_connector_cameras{connector="onvif"} 7' in text
    assert 'tilik_connector_events_total{connector="onvif"} 42' in text
    assert 'tilik_connector_errors_total{connector="onvif",error_type="TimeoutError"} 2' in text


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
            body = await response.text()
    assert 'tilik_connector_events_total{connector="example"} 5' in body


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
