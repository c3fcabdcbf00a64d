"""A business's recorder registered with its password sealed, watched by the real connector runtime
(``tilik connectors run hikvision``, as the connector principal): its address is checked against
the tenant's granted networks, ``vault:<id>`` opens with the key file and the recorder's events
arrive; with a key file that does not open it, the runtime says so naming the reference (never
the password) and keeps watching its other cameras; a registry record of another owner naming
the credential gets nothing."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sdk_helpers import TopicTail

from api.recorders import Recorder, register_recorder
from connectors.private_vendors.kits import VENDORS
from connectors.sdk.netpolicy import tenant_policy
from connectors.sdk.runtime import onboard
from connectors.sdk.vault import KeyRing, new_key, write_key_file
from topics.catalog import CAMERA_REGISTRY, CAMERA_WATCH, DEVICE_EVENTS, NETWORK_GRANTS
from topics.client import CatalogProducer
from topics.models import (
    CameraRecord,
    DeviceEvent,
    NetworkGrant,
    Owner,
    OwnerKind,
    WatchReport,
    WatchState,
    utcnow,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(240)]

TILIK = str(Path(sys.executable).parent / "tilik")
RUN = uuid.uuid4().hex[:6]
TENANT = f"shop-{RUN}"
PASSWORD = f"Vault-Pw-{uuid.uuid4().hex}"
OTHER_PASSWORD = f"Env-Pw-{uuid.uuid4().hex}"
OTHER_ENV = f"TILIK_CAMERA_SECRET_VAULT_RUNTIME_{RUN.upper()}"
GRANTED_HOST = "127.0.0.2"


def _key_file(directory: Path) -> Path:
    directory.mkdir()
    path = directory / "vault.keys"
    write_key_file(path, [new_key()])
    return path


@asynccontextmanager
async def runtime(
    principals: Any, key_file: Path, stderr: list[bytes]
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``tilik connectors run hikvision`` as the connector principal, with ``key_file``."""
    env = {
        **os.environ,
        **principals.env(principals.connector),
        "TILIK_VAULT_KEY_FILE": str(key_file),
        "TILIK_LOG_FORMAT": "json",
        OTHER_ENV: OTHER_PASSWORD,
    }
    process = await asyncio.create_subprocess_exec(
        *(TILIK, "connectors", "run", "hikvision"),
        *("--group", f"tilik-connector-vault-{uuid.uuid4().hex[:8]}", "--health-interval", "1"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(process.communicate(), 60)
        stderr.append(out + err)


def _grant(tenant: str, network: str) -> NetworkGrant:
    return NetworkGrant(tenant_id=tenant, networks=[network], updated_at=utcnow(), actor="tests")


def _event_of(cameras: set[str]) -> Any:
    return lambda _k, v: isinstance(v, DeviceEvent) and v.camera_id in cameras


def _report(cameras: set[str], state: WatchState) -> Any:
    return lambda _k, v: isinstance(v, WatchReport) and v.camera_id in cameras and v.state is state


async def test_the_runtime_watches_a_registered_recorder_within_its_grant_and_with_the_key_file(
    kafka_principals: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(OTHER_ENV, OTHER_PASSWORD)
    key_file = _key_file(tmp_path / "right")
    wrong_key_file = _key_file(tmp_path / "wrong")
    kit = VENDORS["hikvision"]
    seed = random.randrange(10_000, 1_000_000)
    events = await TopicTail(kafka_principals.bootstrap, DEVICE_EVENTS).start()
    reports = await TopicTail(kafka_principals.bootstrap, CAMERA_WATCH).start()
    logs: list[bytes] = []
    published: list[str] = []
    reference = "vault:"
    try:
        async with (
            kit.simulator(
                channels=2, password=PASSWORD, event_rate=5, seed=seed, host=GRANTED_HOST
            ) as shop,
            kit.simulator(channels=1, password=OTHER_PASSWORD, event_rate=5, seed=seed + 1) as city,
            CatalogProducer(kafka_principals.bootstrap) as producer,
        ):
            registered = await register_recorder(
                Recorder(
                    tenant_id=TENANT,
                    site_id="front",
                    kind="hikvision",
                    host=GRANTED_HOST,
                    port=shop.devices[0].port,
                    username="admin",
                    password=SecretStr(PASSWORD),
                ),
                policy=tenant_policy([f"{GRANTED_HOST}/32"]),
                recipient=KeyRing.read(key_file).newest.recipient,
                producer=producer,
                actor=f"tenant:{TENANT} (tests)",
                register=True,
            )
            shop_cameras = {record.camera_id for record in registered.records}
            assert len(shop_cameras) == 2
            summary = await onboard(
                kit.connector,
                [{"address": city.addresses[0], "credential_ref": f"admin@env:{OTHER_ENV}"}],
                producer=producer,
            )
            assert summary.ok, summary.as_dict()
            city_cameras = set(summary.records)
            # Another owner's record naming the shop's credential, pointing at another device.
            planted = registered.records[0].model_copy(
                update={
                    "camera_id": f"cam-{uuid.uuid4().hex[:20]}",
                    "device_id": f"dev-{uuid.uuid4().hex[:12]}",
                    "address": city.addresses[0],
                    "owner": Owner(kind=OwnerKind.PRIVATE, id=f"other-{RUN}"),
                }
            )
            await producer.send(CAMERA_REGISTRY, CameraRecord.model_validate(planted.model_dump()))
            published = [*shop_cameras, *city_cameras, planted.camera_id]
            reference = registered.credential_ref
            # The other owner may be reached where the planted record points: what stops it is
            # the credential's owner, not the address.
            await producer.send(NETWORK_GRANTS, _grant(planted.owner.id, "127.0.0.1/32"))

            async with runtime(kafka_principals, wrong_key_file, logs):
                # Not granted yet: the runtime checks the shop's recorder against its tenant's
                # policy, in which 127.0.0.2 is no internet address.
                [(_, refused), *_] = await reports.wait_for(
                    _report(shop_cameras, WatchState.REFUSED), count=2, timeout_s=60
                )
                assert isinstance(refused, WatchReport) and "refusing to reach" in str(
                    refused.reason
                )
                # The other cameras are watched all the same.
                await events.wait_for(_event_of(city_cameras), count=3, timeout_s=60)
                # Granted: picked up by the runtime's next round; now the key file is the matter.
                await producer.send(NETWORK_GRANTS, _grant(TENANT, f"{GRANTED_HOST}/32"))
                unresolved = await reports.wait_for(
                    _report(shop_cameras, WatchState.CREDENTIALS_UNRESOLVED), count=2, timeout_s=60
                )
            reasons = {report.reason for _, report in unresolved if isinstance(report, WatchReport)}
            assert all(reason and reference in reason for reason in reasons), reasons
            assert all("does not hold" in str(reason) for reason in reasons)
            assert not await events.wait_for(_event_of(shop_cameras), timeout_s=0)

            async with runtime(kafka_principals, key_file, logs):
                await reports.wait_for(
                    _report(shop_cameras, WatchState.WATCHING), count=2, timeout_s=60
                )
                shop_events = await events.wait_for(_event_of(shop_cameras), count=5, timeout_s=60)
                # Said by both runtimes: neither opens another owner's credential.
                refusals = await reports.wait_for(
                    _report({planted.camera_id}, WatchState.CREDENTIALS_UNRESOLVED), timeout_s=60
                )
            assert {
                v.camera_id for _, v in shop_events if isinstance(v, DeviceEvent)
            } == shop_cameras
            assert refusals and all(
                isinstance(r, WatchReport) and "sealed for another owner" in str(r.reason)
                for _, r in refusals
            )
    finally:
        await events.stop()
        await reports.stop()
        async with CatalogProducer(kafka_principals.bootstrap) as producer:
            for camera in published:  # leave no device for later runs of the hikvision runtime
                await producer.send(CAMERA_REGISTRY, None, key=camera)
    output = b"\n".join(logs)
    # The reference is named in the watch reports (above); the log's line about it may be one
    # the repeat limiter folds into the earlier "device cannot be watched" of the same kind.
    assert PASSWORD.encode() not in output and OTHER_PASSWORD.encode() not in output
    payloads = [v.model_dump_json() for _, v in events.values + reports.values if v is not None]
    assert not [p for p in payloads if PASSWORD in p]
