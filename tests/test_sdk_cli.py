"""``tilik connectors onboard`` and ``tilik connectors run`` as real processes against a real
broker and a simulated recorder: onboard from YAML, watch, serve /metrics, stop on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import pytest
import yaml
from sdk_helpers import TopicTail

from connectors.sdk.example.connector import VENDOR
from connectors.sdk.example.simulator import running_recorder
from topics.admin import apply_catalog
from topics.catalog import CAMERA_REGISTRY, CAMERA_STATUS, all_topics
from topics.client import CatalogProducer
from topics.identity import camera_id
from topics.models import CameraStatus

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(180)]

TILIK = str(Path(sys.executable).parent / "tilik")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _tilik(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        TILIK, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )


async def _metrics(port: int) -> str:
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/metrics") as response,
        ):
            return await response.text()
    except aiohttp.ClientError:
        return ""


async def test_onboard_from_yaml_then_run_watches_and_stops_cleanly(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    apply_catalog(all_topics(), bootstrap=kafka_bootstrap, replication_factor=1)
    async with running_recorder(channels=2) as recorder:
        port = recorder.port
        cams = [camera_id(vendor=VENDOR, serial=recorder.serial, channel=n) for n in (1, 2)]
        env = {
            **os.environ,
            "TILIK_BOOTSTRAP": kafka_bootstrap,
            "TILIK_LOG_FORMAT": "json",
            "TILIK_CAMERA_SECRET_CLI_TEST": recorder.password,
        }
        config = tmp_path / "devices.yaml"
        config.write_text(
            yaml.safe_dump(
                [
                    {
                        "address": f"127.0.0.1:{port}",
                        "credential_ref": "admin@env:TILIK_CAMERA_SECRET_CLI_TEST",
                        "timeout_s": 3,
                        "location": {"area": {"kecamatan": "Semarang Tengah"}},
                    }
                ]
            )
        )
        onboarding = await _tilik(
            "connectors", "onboard", "example", "--config", str(config), env=env
        )
        out, err = await asyncio.wait_for(onboarding.communicate(), 60)
        assert onboarding.returncode == 0, err.decode()[-2000:]
        summary = json.loads(out)
        assert summary["published"] == {f"127.0.0.1:{port}": cams}
        assert recorder.password.encode() not in out + err

        statuses = await TopicTail(kafka_bootstrap, CAMERA_STATUS).start()
        metrics_port = _free_port()
        service = await _tilik(
            "connectors", "run", "example",
            "--group", f"cli-{uuid.uuid4().hex[:8]}",
            "--health-interval", "0.5",
            "--metrics-port", str(metrics_port),
            env=env,
        )  # fmt: skip
        try:
            for cam in cams:
                seen = await statuses.wait_for(
                    lambda _k, v, cam=cam: (
                        isinstance(v, CameraStatus) and v.camera_id == cam and v.state == "online"
                    ),
                    timeout_s=60,
                )
                assert seen, f"no online status for {cam}"
            deadline = time.monotonic() + 20
            text = await _metrics(metrics_port)
            while "tilik_connector_statuses_total" not in text and time.monotonic() < deadline:
                await asyncio.sleep(0.3)
                text = await _metrics(metrics_port)
            assert 'tilik_connector_statuses_total{connector="example"}' in text
        finally:
            await statuses.stop()
            service.send_signal(signal.SIGTERM)
            out, err = await asyncio.wait_for(service.communicate(), 60)
            async with CatalogProducer(kafka_bootstrap) as producer:
                for cam in cams:  # leave no device for later runs of the example connector
                    await producer.send(CAMERA_REGISTRY, None, key=cam)
        assert service.returncode == 0, err.decode()[-2000:]
        assert b"watching device" in err
        assert recorder.password.encode() not in out + err
