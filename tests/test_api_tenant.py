"""A business (tenant) over ``tilik api``, against the real broker over real HTTP: its sites and
their site files, its cameras with health and confirmation, its choices written to the choices
topic and audited, and every way another tenant, another kind of key or bad input is refused
without changing anything. (The whole path with a hub worker and an edge agent at a simulated
site is tests/test_tenant_onboarding.py.)"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from api_server import RunningApi, api_settings, issue_key, keeping_client, running_api
from structlog.testing import capture_logs

from api.guards import MAX_BODY_BYTES
from api.ratelimit import RateLimiter
from api.sitefile import CLIENT_CONFIG_PLACEHOLDER
from connectors.edge.site import SiteFile
from topics.access.roles import api_role, tenant_role
from topics.catalog import AUDIT, CAMERA_CHOICES, CAMERA_REGISTRY, CAMERA_STATUS, tenant_topics
from topics.client import CatalogProducer, read_records, read_table
from topics.examples import camera_record
from topics.gazetteer import KECAMATAN
from topics.identity import tenant_scoped
from topics.models import (
    ApiKeyKind,
    AuditRecord,
    CameraChoice,
    CameraRecord,
    CameraState,
    CameraStatus,
    Owner,
    OwnerKind,
    SharingLevel,
    utcnow,
)

pytestmark = pytest.mark.kafka

RUN = uuid.uuid4().hex[:6]
TOKO = f"toko-{RUN}"  # the tenant under test
MALL = f"mall-{RUN}"  # another tenant, whose ids TOKO must never reach
NVR = "192.168.10.20:80"
PLANTED = f"Planted-{uuid.uuid4().hex}"
ANSWERS: list[str] = []


@pytest.fixture(scope="module")
def api(kafka_principals: Any) -> Iterator[RunningApi]:
    for tenant in (TOKO, MALL):
        kafka_principals.issue(tenant_role(tenant))  # topics, and the API's grants on them
    config = kafka_principals.issue(api_role())
    with capture_logs() as events, running_api(api_settings(config)) as running:
        running.service.failed_auth_limit = RateLimiter(100_000)
        yield running
    assert PLANTED not in repr(events)


@pytest.fixture(scope="module")
def toko_key(api: RunningApi) -> str:
    return issue_key(ApiKeyKind.TENANT, TOKO)


@pytest.fixture(scope="module")
def mall_key(api: RunningApi) -> str:
    return issue_key(ApiKeyKind.TENANT, MALL)


def client(api: RunningApi, key: str | None = None) -> httpx.Client:
    return keeping_client(api, key, ANSWERS)


def found_camera(tenant: str, seed: str, address: str = NVR) -> CameraRecord:
    """A camera of the tenant as the hub's ingest publishes it before confirmation."""
    site = camera_record(seed)
    return site.model_copy(
        update={
            "camera_id": tenant_scoped(tenant, site.camera_id),
            "owner": Owner(kind=OwnerKind.PRIVATE, id=tenant),
            "connector": "edge",
            "credential_ref": None,
            "connector_config": {},
            "address": address,
            "sharing": SharingLevel.REGISTRY_ONLY,
            "streams": [],
        }
    )


def publish(*records: CameraRecord, online: bool = True) -> None:
    async def send() -> None:
        async with CatalogProducer(client_id="test-hub-like") as producer:
            for record in records:
                await producer.send(CAMERA_REGISTRY, record)
                if online:
                    await producer.send(
                        CAMERA_STATUS,
                        CameraStatus(
                            camera_id=record.camera_id,
                            state=CameraState.ONLINE,
                            checked_at=utcnow(),
                        ),
                    )

    asyncio.run(send())


def wait_cameras(http: httpx.Client, ids: set[str], timeout: float = 30) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + timeout
    while True:
        listed = {c["camera_id"]: c for c in http.get("/tenant/cameras").json()["items"]}
        if ids <= set(listed) and all(listed[i]["status"] != "unknown" for i in ids):
            return listed
        assert time.monotonic() < deadline, f"never listed: {ids - set(listed)}"
        time.sleep(0.05)


def choices() -> dict[str, Any]:
    return asyncio.run(read_table(CAMERA_CHOICES, component="test.choices"))


SITE = {
    "site_id": "jalan-pemuda",
    "name": "Toko Sinar, Jl. Pemuda",
    "devices": [
        {"kind": "hikvision", "address": NVR, "credential": "NVR", "sharing": "live"},
        {
            "kind": "onvif",
            "address": "192.168.10.21:80",
            "username": "viewer",
            "credential": "DOME",
        },
    ],
}


# --- sites ----------------------------------------------------------------------------------


def test_a_tenant_registers_a_site_and_gets_a_site_file_with_references_only(
    api: RunningApi, toko_key: str, tmp_path: Path
) -> None:
    with client(api, toko_key) as http:
        made = http.post("/tenant/sites", json=SITE)
        assert made.status_code == 201, made.text
        body = made.json()
        assert body["command"] == "tilik edge run --config jalan-pemuda.yaml"
        assert body["secrets"] == ["TILIK_CAMERA_SECRET_DOME", "TILIK_CAMERA_SECRET_NVR"]
        # Read-your-writes: listed and served again at once, with the same file.
        assert [s["site_id"] for s in http.get("/tenant/sites").json()] == ["jalan-pemuda"]
        again = http.get("/tenant/sites/jalan-pemuda").json()
        assert again["site_yaml"] == body["site_yaml"]
        assert http.post("/tenant/sites", json=SITE).status_code == 409
    document = yaml.safe_load(body["site_yaml"])
    assert document["client_config"] == CLIENT_CONFIG_PLACEHOLDER.format(tenant=TOKO)
    assert [d["credential_ref"] for d in document["devices"]] == [
        "admin@env:TILIK_CAMERA_SECRET_NVR",
        "viewer@env:TILIK_CAMERA_SECRET_DOME",
    ]
    # The edge agent takes it as it is, once the tenant names its client config.
    path = tmp_path / "jalan-pemuda.yaml"
    path.write_text(body["site_yaml"].replace(document["client_config"], "toko.properties"))
    site = SiteFile.load(path)
    assert (site.tenant, site.site, len(site.devices)) == (TOKO, "jalan-pemuda", 2)
    assert site.devices[0].sharing is SharingLevel.LIVE
    # Stored for its edge agents on the tenant's own sites topic, audited.
    stored = asyncio.run(read_table(tenant_topics(TOKO).site_config, component="test.sites"))
    assert set(stored) == {"jalan-pemuda"}
    assert any(
        a.action == "api.site.register" and a.subject == "jalan-pemuda" and TOKO in a.actor
        for a in audits()
    )


def audits() -> list[AuditRecord]:
    return [
        r.value_as(AuditRecord)
        for r in asyncio.run(read_records(AUDIT, component="test.audit"))
        if r.value is not None
    ]


# --- cameras --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cameras(api: RunningApi, toko_key: str, mall_key: str) -> dict[str, CameraRecord]:
    with client(api, toko_key) as http:
        if http.get("/tenant/sites/jalan-pemuda").status_code == 404:
            assert http.post("/tenant/sites", json=SITE).status_code == 201
    made = {
        "toko-1": found_camera(TOKO, f"{RUN}-1"),
        "toko-2": found_camera(TOKO, f"{RUN}-2"),
        "toko-3": found_camera(TOKO, f"{RUN}-3", address="10.0.0.9:80"),  # no site of its own
        "mall-1": found_camera(MALL, f"{RUN}-4"),
    }
    publish(*made.values())
    with client(api, toko_key) as http:
        wait_cameras(http, {made[k].camera_id for k in ("toko-1", "toko-2", "toko-3")})
    with client(api, mall_key) as http:
        wait_cameras(http, {made["mall-1"].camera_id})
    return made


def test_a_tenant_lists_its_own_cameras_with_health_site_and_confirmation(
    api: RunningApi, toko_key: str, cameras: dict[str, CameraRecord]
) -> None:
    mine = {cameras[k].camera_id for k in ("toko-1", "toko-2", "toko-3")}
    with client(api, toko_key) as http:
        listed = wait_cameras(http, mine)
        assert set(listed) >= mine and cameras["mall-1"].camera_id not in listed
        one = listed[cameras["toko-1"].camera_id]
        assert (one["status"], one["confirmed"], one["sharing"], one["site_id"]) == (
            "online",
            False,
            "registry_only",
            "jalan-pemuda",
        )
        assert listed[cameras["toko-3"].camera_id]["site_id"] is None
        at_site = http.get("/tenant/cameras", params={"site": "jalan-pemuda"}).json()["items"]
        assert {c["camera_id"] for c in at_site} >= {
            cameras["toko-1"].camera_id,
            cameras["toko-2"].camera_id,
        }
        assert cameras["toko-3"].camera_id not in {c["camera_id"] for c in at_site}
        assert http.get("/tenant/cameras", params={"status": "offline"}).json()["items"] == []
        # Paged by camera id.
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 1, **({"after": cursor} if cursor else {})}
            page = http.get("/tenant/cameras", params=params).json()
            seen += [c["camera_id"] for c in page["items"]]
            if (cursor := page["next"]) is None:
                break
        assert seen == sorted(seen) and set(seen) >= mine


def test_confirming_placing_and_sharing_a_camera_writes_one_choice_and_an_audit_record(
    api: RunningApi, toko_key: str, cameras: dict[str, CameraRecord]
) -> None:
    camera_id = cameras["toko-1"].camera_id
    with client(api, toko_key) as http:
        answer = http.patch(
            f"/tenant/cameras/{camera_id}",
            json={
                "confirmed": True,
                "name": "Kasir depan",
                "placement": {"kecamatan": "semarang tengah", "rw": "3", "rt": "7",
                              "lat": -6.98, "lon": 110.41},
                "sharing": "public",
            },
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        shown = answer.json()
        assert (shown["confirmed"], shown["sharing"], shown["name"]) == (
            True,
            "public",
            "Kasir depan",
        )
        assert shown["location"]["area"]["kecamatan"] == "Semarang Tengah"
        # Read-your-writes: listed as chosen before the hub republished anything.
        listed = {c["camera_id"]: c for c in http.get("/tenant/cameras").json()["items"]}
        assert listed[camera_id]["sharing"] == "public" and listed[camera_id]["confirmed"]
        # Confirming another without a level: its device's default from the site (live).
        other = cameras["toko-2"].camera_id
        assert (
            http.patch(f"/tenant/cameras/{other}", json={"confirmed": True}).json()["sharing"]
            == "live"
        )
    choice = choices()[camera_id]
    assert isinstance(choice, CameraChoice)
    assert (choice.tenant_id, choice.site_id, choice.confirmed, choice.sharing) == (
        TOKO,
        "jalan-pemuda",
        True,
        SharingLevel.PUBLIC,
    )
    assert choice.location is not None and choice.location.point is not None
    updates = [a for a in audits() if a.subject == camera_id and a.action == "api.camera.update"]
    assert updates and updates[0].details["sharing"] == "public"
    assert updates[0].details["client"] == "127.0.0.1"


def test_another_tenants_ids_answer_exactly_like_missing_ones_and_change_nothing(
    api: RunningApi, toko_key: str, mall_key: str, cameras: dict[str, CameraRecord]
) -> None:
    theirs = cameras["mall-1"].camera_id
    missing = "cam-" + "0" * 20
    before = choices()
    with client(api, toko_key) as http:
        for method, path, body in [
            ("GET", "/tenant/cameras/{}", None),
            ("PATCH", "/tenant/cameras/{}", {"confirmed": True, "sharing": "public"}),
            ("DELETE", "/tenant/cameras/{}", None),
        ]:
            refused = http.request(method, path.format(theirs), json=body)
            absent = http.request(method, path.format(missing), json=body)
            assert (refused.status_code, refused.json()) == (absent.status_code, absent.json())
            assert refused.status_code == 404, (method, refused.text)
        assert theirs not in {c["camera_id"] for c in http.get("/tenant/cameras").json()["items"]}
        # Filters reach only the caller's own: another tenant's site is just no site.
        assert http.get("/tenant/cameras", params={"site": "mall-lobby"}).json()["items"] == []
        # A query naming a tenant is not a filter here.
        assert http.get("/tenant/cameras", params={"tenant": MALL}).status_code == 400
    with client(api, mall_key) as http:
        # The other way: TOKO's site is not MALL's to read or remove.
        for method in ("GET", "DELETE"):
            refused = http.request(method, "/tenant/sites/jalan-pemuda")
            absent = http.request(method, "/tenant/sites/no-such-site")
            assert (refused.status_code, refused.json()) == (absent.status_code, absent.json())
            assert refused.status_code == 404
        assert http.get("/tenant/sites").json() == []
        toko_camera = cameras["toko-2"].camera_id
        assert http.patch(f"/tenant/cameras/{toko_camera}", json={"name": "x"}).status_code == 404
    assert choices() == before
    with client(api, toko_key) as http:
        assert http.get("/tenant/sites/jalan-pemuda").status_code == 200


def test_keys_of_other_kinds_are_refused_on_tenant_routes_and_a_tenant_key_elsewhere(
    api: RunningApi, toko_key: str
) -> None:
    agency = issue_key(ApiKeyKind.AGENCY, f"dinas-{RUN}")
    operator = issue_key(ApiKeyKind.OPERATOR, None)
    for key in (agency, operator):
        with client(api, key) as http:
            for method, path in [
                ("GET", "/tenant/cameras"),
                ("GET", "/tenant/sites"),
                ("POST", "/tenant/sites"),
                ("DELETE", "/tenant/sites/jalan-pemuda"),
                ("PATCH", "/tenant/cameras/cam-" + "0" * 20),
            ]:
                refused = http.request(method, path, json=SITE if method == "POST" else None)
                assert refused.status_code in (403, 422), (method, path, refused.text)
                if method in ("GET", "DELETE"):
                    assert refused.status_code == 403
    with client(api, toko_key) as http:
        assert http.get("/agency/dispatches").status_code == 403
        assert http.get("/operator/keys").status_code == 403
        assert http.post("/operator/keys", json={"kind": "operator"}).status_code == 403
    with client(api) as http:
        assert http.get("/tenant/cameras").status_code == 401


def test_bad_input_gets_a_clear_4xx_with_a_reason_and_changes_nothing(
    api: RunningApi, toko_key: str, cameras: dict[str, CameraRecord]
) -> None:
    camera_id = cameras["toko-3"].camera_id
    path = f"/tenant/cameras/{camera_id}"
    before = choices()
    with client(api, toko_key) as http:
        sites_before = http.get("/tenant/sites").json()
        cases: list[tuple[str, str, Any, int, str]] = [
            ("PATCH", path, b"{not json", 400, "not valid JSON"),
            ("PATCH", path, {"confirmed": "very"}, 422, "boolean"),
            ("PATCH", path, {"sharing": "everyone"}, 422, "registry_only"),
            ("PATCH", path, {"colour": "red"}, 422, "unknown field"),
            ("PATCH", path, {}, 422, "nothing to change"),
            ("PATCH", path, {"placement": {"kecamatan": "Atlantis"}}, 422, "Semarang Tengah"),
            ("PATCH", path, {"placement": {"lat": -6.9}}, 422, "lat and lon together"),
            ("PATCH", path, {"placement": {"rt": "seven"}}, 422, "pattern"),
            ("PATCH", path, {"name": "x" * (MAX_BODY_BYTES + 1)}, 413, "larger than"),
            ("POST", "/tenant/sites", {**SITE, "site_id": "Bad Id"}, 422, "pattern"),
            ("POST", "/tenant/sites", {**SITE, "devices": []}, 422, "at least 1"),
            ("POST", "/tenant/sites", {"site_id": "a", "devices": [{"kind": "onvif"}]}, 422,
             "Field required"),
            # A password pasted where its name belongs: refused without repeating it.
            ("POST", "/tenant/sites", {"site_id": "kios", "devices": [
                {"kind": "onvif", "address": "10.1.1.1:80", "credential": PLANTED}]}, 422,
             "pattern"),
            ("POST", "/tenant/sites", {"site_id": "kios", "devices": [
                {"kind": "onvif", "address": "10.1.1.1:80"},
                {"kind": "onvif", "address": "10.1.1.1:80"}]}, 422, "same address"),
        ]  # fmt: skip
        for method, url, body, code, reason in cases:
            if isinstance(body, bytes):
                answer = http.request(
                    method, url, content=body, headers={"content-type": "application/json"}
                )
            else:
                answer = http.request(method, url, json=body)
            assert answer.status_code == code, (body if code != 413 else "big", answer.text)
            assert reason in answer.text, (reason, answer.text)
        assert http.get("/tenant/sites").json() == sites_before
    assert choices() == before
    assert not any(PLANTED in answer for answer in ANSWERS)
    listed = json.dumps(ANSWERS)
    assert ", ".join(["Banyumanik", "Candisari"]) in listed  # the valid names were listed
    assert len(KECAMATAN) == 16


def test_revoking_a_camera_and_a_site_takes_their_cameras_out_at_once(
    api: RunningApi, toko_key: str, cameras: dict[str, CameraRecord]
) -> None:
    lone = cameras["toko-3"].camera_id
    with client(api, toko_key) as http:
        assert http.delete(f"/tenant/cameras/{lone}").json() == {"revoked": [lone]}
        listed = {c["camera_id"] for c in http.get("/tenant/cameras").json()["items"]}
        assert lone not in listed
        assert http.get(f"/tenant/cameras/{lone}").status_code == 404
        assert http.delete(f"/tenant/cameras/{lone}").status_code == 404
        # Taken back only by confirming it again.
        assert http.patch(f"/tenant/cameras/{lone}", json={"name": "back"}).status_code == 409
        # (No hub runs here: the registry still holds it, so it is shown back at once.)
        back = http.patch(f"/tenant/cameras/{lone}", json={"confirmed": True})
        assert back.status_code == 200 and back.json()["confirmed"] is True
        assert http.delete("/tenant/cameras/" + lone).status_code == 200
        # The site: every camera of it revoked, the site gone.
        removed = http.delete("/tenant/sites/jalan-pemuda").json()["revoked"]
        assert set(removed) == {cameras["toko-1"].camera_id, cameras["toko-2"].camera_id}
        assert http.get("/tenant/cameras").json()["items"] == []
        assert http.get("/tenant/sites/jalan-pemuda").status_code == 404
    table = choices()
    assert all(table[c].revoked for c in (*removed, lone))  # type: ignore[attr-defined]
    # The choice keeps what was chosen before: confirming it again brings it back as it was.
    assert table[cameras["toko-1"].camera_id].sharing is SharingLevel.PUBLIC  # type: ignore[attr-defined]
    actions = {(a.action, a.subject) for a in audits()}
    assert ("api.site.remove", "jalan-pemuda") in actions
    assert ("api.camera.revoke", lone) in actions


def test_a_restarted_service_serves_the_same_sites_and_choices(
    api: RunningApi, toko_key: str, cameras: dict[str, CameraRecord]
) -> None:
    with client(api, toko_key) as http:
        if http.get("/tenant/sites/kios-baru").status_code == 404:
            made = http.post("/tenant/sites", json={**SITE, "site_id": "kios-baru"})
            assert made.status_code == 201
        served = http.get("/tenant/sites").json()
    with running_api(api.settings) as again, client(again, toko_key) as http:
        assert http.get("/tenant/sites").json() == served
        assert again.service.tenants.choices.of(TOKO, cameras["toko-1"].camera_id) is not None


def test_the_operator_adds_lists_and_removes_a_tenant_with_tilik_tenants(
    api: RunningApi, tmp_path: Path
) -> None:
    tenant = f"kios-{uuid.uuid4().hex[:6]}"

    def tilik(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tilik", *args],
            capture_output=True, text=True, timeout=180, check=True,
        )  # fmt: skip

    config = tmp_path / "kios.properties"
    added = tilik("tenants", "add", tenant, "--out", str(config), "--label", "Kios")
    token = next(line for line in added.stdout.splitlines() if line.startswith("key: "))[5:]
    assert f"User:tenant-{tenant}" in added.stdout and str(config) in added.stdout
    assert config.exists() and oct(config.stat().st_mode)[-3:] == "600"
    with client(api, token) as http:
        assert http.get("/me").json()["subject"] == tenant
        made = http.post("/tenant/sites", json={**SITE, "site_id": "kios-satu"})
        assert made.status_code == 201, made.text  # its sites topic exists and the API may write it
    listed = tilik("tenants", "list").stdout
    row = next(line for line in listed.splitlines() if tenant in line)
    assert row.split()[1:] == ["yes", "1", "0"], listed
    removed = tilik("tenants", "remove", tenant, "--yes").stdout
    assert "1 site(s), 1 API key(s)" in removed
    with client(api, token) as http:
        assert http.get("/me").status_code == 401
    assert tenant not in tilik("tenants", "list").stdout
    actions = {(a.action, a.subject) for a in audits()}
    assert {
        ("access.add", f"User:tenant-{tenant}"),
        ("access.revoke", f"User:tenant-{tenant}"),
        ("tenant.remove", f"tenant:{tenant}"),
    } <= actions
    assert any(action == "api.key.revoke" for action, _ in actions)
