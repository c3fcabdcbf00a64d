"""``POST /tenant/recorders`` against the real service, broker and a simulated Hikvision recorder:
the tenant's network policy (every loopback and metadata form refused without a grant, redirects
never followed), the probe through onboarding, the password sealed to the vault's public key, the
operator's grants, and a planted password absent from every answer, topic payload and log line."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from api_server import (
    RunningApi,
    ServiceLogs,
    api_settings,
    issue_key,
    logs_collected,
    running_api,
)

from api.ratelimit import RateLimiter
from connectors.private_vendors.kits import VENDORS
from connectors.sdk.http import DeviceHttp, HttpStatusError
from connectors.sdk.simulator import run_loopback_site
from connectors.sdk.vault import KeyRing, new_key, open_sealed, write_key_file
from topics.access.roles import api_role
from topics.catalog import AUDIT, DEAD_LETTERS, NETWORK_GRANTS, SEALED_CREDENTIALS
from topics.client import read_records, read_table
from topics.models import ApiKeyKind, AuditRecord, NetworkGrant, SealedCredential

RUN = uuid.uuid4().hex[:6]
TENANT = f"mall-{RUN}"
PLANTED = f"Planted-{uuid.uuid4().hex}"
#: the one address the operator grants the tenant; tests reach only 127.0.0.0/8
GRANTED_HOST = "127.0.0.2"
ANSWERS: list[str] = []
LOGGED: list[ServiceLogs] = []


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vault") / "vault.keys"
    write_key_file(path, [new_key()])
    return path


@pytest.fixture(scope="module")
def api(kafka_principals: Any, key_file: Path) -> Iterator[RunningApi]:
    # The service holds only the public half: it seals, it cannot open.
    public = key_file.with_name("vault.pub")
    public.write_text(KeyRing.read(key_file).public_text())
    settings = api_settings(kafka_principals.issue(api_role()), vault_public_key_file=public)
    with logs_collected() as logs, running_api(settings) as running:
        LOGGED.append(logs)
        # These tests register more recorders a minute than a tenant may.
        running.service.recorder_limit = RateLimiter(100_000)
        yield running


@pytest.fixture(scope="module")
def tenant_key(api: RunningApi) -> str:
    return issue_key(ApiKeyKind.TENANT, TENANT)


@pytest.fixture(scope="module")
def operator_key(api: RunningApi) -> str:
    return issue_key(ApiKeyKind.OPERATOR, None)


def _keep(answer: httpx.Response) -> None:
    ANSWERS.append(f"{answer.headers}\n{answer.text}")


@asynccontextmanager
async def client(api: RunningApi, key: str) -> AsyncIterator[httpx.AsyncClient]:
    async def keep(answer: httpx.Response) -> None:
        await answer.aread()
        _keep(answer)

    async with httpx.AsyncClient(
        base_url=api.url,
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
        event_hooks={"response": [keep]},
    ) as http:
        yield http


def recorder(host: str, port: int, password: str = PLANTED) -> dict[str, Any]:
    return {
        "site_id": "lobby",
        "kind": "hikvision",
        "host": host,
        "port": port,
        "username": "admin",
        "password": password,
    }


@asynccontextmanager
async def redirecting_to(target: str) -> AsyncIterator[int]:
    """A granted 'recorder' that answers every request with a redirect to ``target``."""

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://{target}{request.path}")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", redirect)
    async with run_loopback_site(app, host=GRANTED_HOST) as port:
        yield port


@asynccontextmanager
async def refused_target() -> AsyncIterator[tuple[int, list[str]]]:
    """A server on a refused address (127.0.0.1) counting every request that reaches it."""
    reached: list[str] = []

    async def count(request: web.Request) -> web.Response:
        reached.append(request.path)
        return web.Response(text="<DeviceInfo/>")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", count)
    async with run_loopback_site(app) as port:
        yield port, reached


async def test_the_sdk_http_client_does_not_follow_a_redirect_to_a_refused_address() -> None:
    async with (
        refused_target() as (port, reached),
        redirecting_to(f"127.0.0.1:{port}") as via,
        DeviceHttp(f"http://{GRANTED_HOST}:{via}", device="redirector") as http,
    ):
        with pytest.raises(HttpStatusError) as answered:
            await http.get_bytes("/ISAPI/System/deviceInfo")
    assert answered.value.status == 302
    assert reached == []


REFUSED_HOSTS = [
    "127.0.0.1",
    "2130706433",
    "0x7f.1",
    "::ffff:127.0.0.1",
    "[::1]",
    "::1",
    "169.254.169.254",
    "0.0.0.0",
    "10.1.2.3",
    "localhost",
    "recorder.example.com",
    GRANTED_HOST,  # not granted yet
]


@pytest.mark.kafka
@pytest.mark.parametrize("host", REFUSED_HOSTS)
async def test_without_a_grant_every_loopback_metadata_and_named_host_is_refused_with_the_reason(
    api: RunningApi, tenant_key: str, host: str
) -> None:
    async with client(api, tenant_key) as http:
        answer = await http.post("/tenant/recorders", json=recorder(host, 80))
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert detail["problem"] == "address_refused"
    assert "refusing to reach" in detail["reason"]


@pytest.mark.kafka
async def test_only_the_operator_grants_a_tenant_networks(
    api: RunningApi, tenant_key: str, operator_key: str
) -> None:
    path = f"/operator/tenants/{TENANT}/networks"
    async with client(api, tenant_key) as http:
        assert (await http.put(path, json={"networks": ["0.0.0.0/0"]})).status_code == 403
    async with client(api, operator_key) as http:
        bad = await http.put(path, json={"networks": ["not-a-network"]})
        assert bad.status_code == 422
        granted = await http.put(path, json={"networks": [f"{GRANTED_HOST}/32"]})
        assert granted.status_code == 200, granted.text
        assert granted.json()["networks"] == [f"{GRANTED_HOST}/32"]
        assert (await http.get(path)).json()["networks"] == [f"{GRANTED_HOST}/32"]
    grant = (await read_table(NETWORK_GRANTS))[TENANT]
    assert isinstance(grant, NetworkGrant) and grant.networks == [f"{GRANTED_HOST}/32"]


@pytest.mark.kafka
async def test_a_granted_recorder_is_probed_its_password_sealed_and_its_cameras_answered(
    api: RunningApi, tenant_key: str, key_file: Path
) -> None:
    kit = VENDORS["hikvision"]
    seed = random.randrange(10_000, 1_000_000)
    async with kit.simulator(
        channels=3, password=PLANTED, event_rate=0, seed=seed, host=GRANTED_HOST
    ) as sim:
        port = sim.devices[0].port
        async with client(api, tenant_key) as http:
            answer = await http.post("/tenant/recorders", json=recorder(GRANTED_HOST, port))
            # 127.0.0.1 is the same machine, and is not what was granted.
            other = await http.post("/tenant/recorders", json=recorder("127.0.0.1", port))
    assert answer.status_code == 201, answer.text
    found = answer.json()
    assert found["address"] == f"{GRANTED_HOST}:{port}"
    assert [camera["channel"] for camera in found["cameras"]] == [1, 2, 3]
    reference = found["credential_ref"]
    assert reference.startswith("vault:rec-")
    assert other.status_code == 422 and other.json()["detail"]["problem"] == "address_refused"

    credential = reference.removeprefix("vault:")
    sealed = (await read_table(SEALED_CREDENTIALS))[credential]
    assert isinstance(sealed, SealedCredential) and sealed.tenant_id == TENANT
    assert open_sealed(sealed, KeyRing.read(key_file), credential_id=credential) == (
        f"admin:{PLANTED}"
    )
    audits = [
        r.value
        for r in await read_records(AUDIT)
        if isinstance(r.value, AuditRecord) and r.value.subject == credential
    ]
    assert [a.action for a in audits] == ["api.recorder.register"]
    assert audits[0].details["tenant"] == TENANT and audits[0].details["cameras"] == "3"


@pytest.mark.kafka
async def test_wrong_credentials_unreachable_and_redirects_get_a_clear_refusal(
    api: RunningApi, tenant_key: str
) -> None:
    kit = VENDORS["hikvision"]
    async with (
        kit.simulator(channels=1, password="the-real-one", event_rate=0, host=GRANTED_HOST) as sim,
        refused_target() as (target, reached),
        redirecting_to(f"127.0.0.1:{target}") as redirector,
        client(api, tenant_key) as http,
    ):
        wrong = await http.post(
            "/tenant/recorders", json=recorder(GRANTED_HOST, sim.devices[0].port)
        )
        redirected = await http.post("/tenant/recorders", json=recorder(GRANTED_HOST, redirector))
    async with client(api, tenant_key) as http:
        # Nothing listens there any more.
        gone = await http.post("/tenant/recorders", json=recorder(GRANTED_HOST, redirector))
    problems = [
        (answer.status_code, answer.json()["detail"]["problem"])
        for answer in (wrong, redirected, gone)
    ]
    assert problems == [
        (422, "credentials_refused"),
        (422, "device_error"),
        (422, "unreachable"),
    ]
    assert "HTTP 302" in redirected.json()["detail"]["reason"]
    assert reached == []  # the redirect was never followed to the refused address


@pytest.mark.kafka
async def test_bad_input_is_refused_with_where_and_why_and_nothing_is_sealed(
    api: RunningApi, tenant_key: str
) -> None:
    before = set(await read_table(SEALED_CREDENTIALS))
    good = recorder(GRANTED_HOST, 80)
    bad_bodies = [
        {**good, "port": "eighty"},
        {**good, "port": 70_000},
        {**good, "username": "admin:root"},
        {**good, "password": PLANTED * 10},
        {**good, "kind": "axis"},
        {**good, PLANTED: PLANTED},
        {key: value for key, value in good.items() if key != "password"},
    ]
    async with client(api, tenant_key) as http:
        answers = [await http.post("/tenant/recorders", json=body) for body in bad_bodies]
        malformed = await http.post(
            "/tenant/recorders",
            content=f'{{"password": "{PLANTED}',
            headers={"Content-Type": "application/json"},
        )
    assert [a.status_code for a in answers] == [422] * len(bad_bodies)
    assert all(a.json()["errors"] for a in answers)
    assert malformed.status_code == 400
    assert set(await read_table(SEALED_CREDENTIALS)) == before


@pytest.mark.kafka
async def test_a_tenant_asking_for_too_many_probes_is_answered_429(
    api: RunningApi, tenant_key: str
) -> None:
    limit = api.service.recorder_limit
    api.service.recorder_limit = RateLimiter(1)
    try:
        async with client(api, tenant_key) as http:
            first = await http.post("/tenant/recorders", json=recorder("127.0.0.1", 80))
            second = await http.post("/tenant/recorders", json=recorder("127.0.0.1", 80))
    finally:
        api.service.recorder_limit = limit
    assert first.status_code == 422
    assert second.status_code == 429 and int(second.headers["Retry-After"]) >= 1


@pytest.mark.kafka
async def test_zz_the_planted_password_is_in_no_answer_topic_payload_or_log_line(
    api: RunningApi, tenant_key: str, operator_key: str
) -> None:
    """Runs last in the module: every answer, the topics the service wrote, every log line."""
    async with client(api, tenant_key) as http:
        await http.get("/me")  # a last request: the access log has flushed what came before
    assert len(ANSWERS) > 15
    assert not [answer for answer in ANSWERS if PLANTED in answer]
    payloads = [
        received.value.model_dump_json() if received.value is not None else repr(received.raw)
        for spec in (AUDIT, SEALED_CREDENTIALS, DEAD_LETTERS, NETWORK_GRANTS)
        for received in await read_records(spec)
    ]
    assert any(TENANT in str(payload) for payload in payloads)
    assert not [p for p in payloads if PLANTED in str(p)]
    logged = LOGGED[0].text()
    assert "/tenant/recorders" in logged and "device not onboarded" in logged
    assert PLANTED not in logged
