"""ONVIF cameras watched by the SDK runtime on a real broker: two processes split the fleet through
the registry's consumer group and one takes over when the other leaves; statuses, events and
dead letters reach their topics; a camera that goes silent is reported within a health interval."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from sdk_helpers import TopicTail, eventually, running

from connectors.onvif import connector as onvif_connector
from connectors.onvif.connector import OnvifConnector
from connectors.onvif.onboard_run import OnboardRequest, run_onboarding
from connectors.onvif.simulator import OnvifFleet
from connectors.sdk.netpolicy import ProbePolicy
from connectors.sdk.runtime import RuntimeOptions, WatchService
from topics.admin import apply_catalog
from topics.catalog import CAMERA_REGISTRY, CAMERA_STATUS, DEAD_LETTERS, DEVICE_EVENTS, all_topics
from topics.client import CatalogProducer
from topics.models import CameraState, CameraStatus, DeadLetter, DeadLetterKind, DeviceEvent

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]

PASSWORD = "Sandi-Pembagian-21"
REF = "admin@env:TILIK_CAMERA_SECRET_TEST_ONVIF_SHARD_PASS"


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TILIK_CAMERA_SECRET_TEST_ONVIF_SHARD_PASS", PASSWORD)


@pytest.fixture(scope="module")
def catalog(kafka_bootstrap: str) -> str:
    apply_catalog(
        all_topics(),
        bootstrap=kafka_bootstrap,
        replication_factor=1,
    )
    return kafka_bootstrap


def private_connector() -> type[OnvifConnector]:
    """The ONVIF connector under a name only this test's registry records carry (the registry is
    shared with every other test and earlier runs)."""
    name = f"onvif{uuid.uuid4().hex[:8]}"
    return type(f"OnvifConnector_{name}", (OnvifConnector,), {"name": name})


async def onboard_as(
    catalog: str, connector: type[OnvifConnector], fleet: OnvifFleet
) -> dict[str, str]:
    """Onboard the fleet under ``connector``'s name; camera id by address."""
    outcome = await run_onboarding(
        OnboardRequest(
            policy=ProbePolicy.default(environ={}),
            hosts=fleet.addresses,
            credential_ref=REF,
            publish=False,
        )
    )
    assert len(outcome.records) == len(fleet.cameras), outcome.report.failures
    async with CatalogProducer(catalog) as producer:
        await producer.send_batch(
            CAMERA_REGISTRY,
            [r.model_copy(update={"connector": connector.name}) for r in outcome.records],
        )
    return {r.address: r.camera_id for r in outcome.records}


def options(group: str) -> RuntimeOptions:
    return RuntimeOptions(
        group_id=group, health_interval_s=0.5, backoff_initial_s=0.1, concurrency=64
    )


def watched(service: WatchService) -> set[str]:
    return {cam for cams in service.watched_devices.values() for cam in cams}


async def test_two_watchers_split_the_fleet_and_one_takes_over(catalog: str) -> None:
    connector = private_connector()
    group = uuid.uuid4().hex
    async with OnvifFleet(
        cameras=12, username="admin", password=PASSWORD, seed=201, event_rate=1
    ) as fleet:
        every_camera = set((await onboard_as(catalog, connector, fleet)).values())
        statuses = await TopicTail(catalog, CAMERA_STATUS).start()
        first = WatchService(connector, bootstrap=catalog, options=options(group))
        second = WatchService(connector, bootstrap=catalog, options=options(group))
        try:
            async with running(first):
                assert await eventually(lambda: watched(first) == every_camera, timeout_s=40)
                async with running(second):
                    split = await eventually(
                        lambda: (
                            watched(second)
                            and watched(first) | watched(second) == every_camera
                            and not watched(first) & watched(second)
                        ),
                        timeout_s=60,
                    )
                    assert split, (watched(first), watched(second))
                # The second left the group: the first watches the whole fleet again.
                assert await eventually(lambda: watched(first) == every_camera, timeout_s=60)
                # Each connector takes its share of the pool when its first work starts (a
                # task's first step, possibly after the device is listed as watched).
                assert await eventually(
                    lambda: onvif_connector.SHARED.users() == len(first.watched_devices)
                ), (onvif_connector.SHARED.users(), len(first.watched_devices))

                # Every camera, whichever watcher checked it, was reported online.
                seen = await statuses.wait_for(
                    lambda _k, v: (
                        isinstance(v, CameraStatus)
                        and v.camera_id in every_camera
                        and v.state is CameraState.ONLINE
                    ),
                    count=3 * len(every_camera),
                    timeout_s=30,
                )
                assert {v.camera_id for _, v in seen if isinstance(v, CameraStatus)} == every_camera
            # Every connector gave its share of the shared pool back: nothing left open.
            assert onvif_connector.SHARED.current() is None
        finally:
            await statuses.stop()


async def test_events_and_hostile_replies_reach_their_topics(catalog: str) -> None:
    connector = private_connector()
    async with OnvifFleet(
        cameras=1, username="admin", password=PASSWORD, seed=202, event_rate=2
    ) as fleet:
        (camera_id,) = (await onboard_as(catalog, connector, fleet)).values()
        events = await TopicTail(catalog, DEVICE_EVENTS).start()
        letters = await TopicTail(catalog, DEAD_LETTERS).start()
        service = WatchService(connector, bootstrap=catalog, options=options(uuid.uuid4().hex))
        try:
            async with running(service):
                assert await eventually(lambda: watched(service) == {camera_id}, timeout_s=40)
                arrived = await events.wait_for(
                    lambda _k, v: isinstance(v, DeviceEvent) and v.camera_id == camera_id,
                    timeout_s=30,
                )
                fleet.cameras[0].force_fault("xxe", times=1)
                component = f"connector.{connector.name}"
                device_letters = [
                    v
                    for _, v in await letters.wait_for(
                        lambda _k, v: (
                            isinstance(v, DeadLetter)
                            and v.component == component
                            and v.kind is DeadLetterKind.DEVICE_INPUT
                        ),
                        timeout_s=30,
                    )
                    if isinstance(v, DeadLetter)
                ]
                # The stream carries on after the refused reply.
                later = await events.wait_for(
                    lambda _k, v: isinstance(v, DeviceEvent) and v.camera_id == camera_id,
                    count=len(arrived) + 3,
                    timeout_s=30,
                )
        finally:
            await events.stop()
            await letters.stop()
    assert arrived and len(later) >= len(arrived) + 3
    (hostile, *_) = device_letters
    assert "DOCTYPE" in hostile.reason and "ENTITY" in hostile.payload


async def test_a_watched_camera_that_goes_silent_is_reported_offline_within_a_health_interval(
    catalog: str,
) -> None:
    """A camera behind a black hole (the connection is accepted, nothing is ever answered) is
    reported offline with a reason by the health round that finds it; the other camera's
    statuses keep coming."""
    connector = private_connector()
    interval = 1.0
    async with OnvifFleet(cameras=2, username="admin", password=PASSWORD, seed=204) as fleet:
        ids = await onboard_as(catalog, connector, fleet)
        silent, other = fleet.cameras
        silent_id, other_id = ids[silent.address], ids[other.address]
        statuses = await TopicTail(catalog, CAMERA_STATUS).start()
        # call_timeout_s stays at its default (30 s): the interval bounds each check.
        service = WatchService(
            connector,
            bootstrap=catalog,
            options=RuntimeOptions(
                group_id=uuid.uuid4().hex, health_interval_s=interval, backoff_initial_s=0.1
            ),
        )

        def status_of(camera: str, state: CameraState, since: datetime):  # type: ignore[no-untyped-def]
            return lambda _k, v: (
                isinstance(v, CameraStatus)
                and v.camera_id == camera
                and v.state is state
                and v.checked_at > since
            )

        try:
            async with running(service):
                assert await eventually(lambda: watched(service) == set(ids.values()), 40)
                before = datetime.now(UTC)
                assert await statuses.wait_for(
                    status_of(silent_id, CameraState.ONLINE, before), timeout_s=30
                )
                silent_at = datetime.now(UTC)
                silent.go_silent()
                offline = await statuses.wait_for(
                    status_of(silent_id, CameraState.OFFLINE, silent_at), timeout_s=20
                )
                still_online = await statuses.wait_for(
                    status_of(other_id, CameraState.ONLINE, silent_at), timeout_s=20
                )
        finally:
            await statuses.stop()
    assert offline, "the silent camera was never reported offline"
    (_, status), *_ = offline
    assert isinstance(status, CameraStatus) and status.reason
    # The next round starts within one interval and each check ends within one more.
    assert (status.checked_at - silent_at).total_seconds() < 2 * interval + 1.5
    assert still_online


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def metric(port: int, name: str) -> float | None:
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/metrics") as response,
        ):
            text = await response.text()
    except aiohttp.ClientError:
        return None
    for line in text.splitlines():
        if line.startswith(f"tilik_connector_{name}{{"):
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_two_connector_processes_share_the_fleet_and_survive_one_stopping(
    catalog: str,
) -> None:
    tilik = str(Path(sys.executable).parent / "tilik")
    group = f"test-onvif-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "TILIK_CAMERA_SECRET_TEST_ONVIF_SHARD_PASS": PASSWORD,
        "TILIK_LOG_LEVEL": "warning",
    }
    async with OnvifFleet(cameras=12, username="admin", password=PASSWORD, seed=203) as fleet:
        outcome = await run_onboarding(
            OnboardRequest(
                policy=ProbePolicy.default(environ={}),
                hosts=fleet.addresses,
                credential_ref=REF,
                bootstrap=catalog,
            )
        )
        ours = {r.camera_id for r in outcome.records}
        assert len(ours) == 12
        statuses = await TopicTail(catalog, CAMERA_STATUS).start()
        ports = [free_port(), free_port()]
        processes = [
            await asyncio.create_subprocess_exec(
                tilik,
                "connectors",
                "run",
                "onvif",
                "--group",
                group,
                "--health-interval",
                "1",
                "--concurrency",
                "64",
                "--metrics-port",
                str(port),
                "--bootstrap",
                catalog,
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            for port in ports
        ]
        try:
            # Both processes hold part of the registry (the group split its partitions).
            for _ in range(150):
                counts = [await metric(port, "devices") for port in ports]
                if all(count for count in counts):
                    break
                await asyncio.sleep(0.2)
            assert all(counts), counts

            def online_since(moment: datetime):  # type: ignore[no-untyped-def]
                return lambda _k, v: (
                    isinstance(v, CameraStatus)
                    and v.camera_id in ours
                    and v.state is CameraState.ONLINE
                    and v.checked_at > moment
                )

            def cameras(found: list[tuple[str | None, object]]) -> set[str]:
                return {v.camera_id for _, v in found if isinstance(v, CameraStatus)}

            # The processes also watch every other ONVIF record of the shared registry (earlier
            # runs, other tests): a health round over those can take a while on a busy machine.
            start = datetime.now(UTC)
            for _ in range(120):
                if (
                    cameras(
                        await statuses.wait_for(online_since(start), count=10**6, timeout_s=0.5)
                    )
                    == ours
                ):
                    break
            assert (
                cameras(await statuses.wait_for(online_since(start), count=10**6, timeout_s=0))
                == ours
            )

            processes[0].send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(processes[0].wait(), 40) == 0
            stopped = datetime.now(UTC)
            for _ in range(180):
                if (
                    cameras(
                        await statuses.wait_for(online_since(stopped), count=10**6, timeout_s=0.5)
                    )
                    == ours
                ):
                    break
            assert (
                cameras(await statuses.wait_for(online_since(stopped), count=10**6, timeout_s=0))
                == ours
            )
        finally:
            for process in processes:
                if process.returncode is None:
                    process.send_signal(signal.SIGTERM)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(process.wait(), 30)
                if process.returncode is None:
                    process.kill()
                    await process.wait()
            await statuses.stop()
            async with CatalogProducer(catalog) as producer:
                for camera_id in ours:
                    await producer.send(CAMERA_REGISTRY, None, key=camera_id)
