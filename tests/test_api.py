"""``tilik api`` against the real broker, over real HTTP: keys, agencies' inboxes, the public
camera catalog, and what it refuses (no key, another agency's ids, filters and stream, bad
input), with a planted secret absent from every response and log line."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from api_server import (
    STREAM_TEMPLATE,
    RunningApi,
    ServiceLogs,
    api_settings,
    issue_key,
    keeping_client,
    logs_collected,
    make_dispatch,
    publish,
    publish_cameras,
    running_api,
)

from api.guards import MAX_BODY_BYTES
from api.ratelimit import RateLimiter
from topics.access.roles import api_role
from topics.admin import apply_catalog
from topics.catalog import AUDIT, ack_spec, dispatch_spec
from topics.client import read_records
from topics.examples import example
from topics.models import (
    AlertAck,
    AlertCategory,
    ApiKeyKind,
    AuditRecord,
    CameraRecord,
    SharingLevel,
    StreamProfile,
    utcnow,
)

pytestmark = pytest.mark.kafka

RUN = uuid.uuid4().hex[:6]
ALPHA = f"alpha-{RUN}"  # the agency under test
BETA = f"beta-{RUN}"  # another agency, whose dispatches ALPHA must never see
PLANTED = f"planted-{uuid.uuid4().hex}"


#: every answer the tests received (bodies and headers), scanned for the planted secret at the end
ANSWERS: list[str] = []
#: every log line of the module's service: structlog events and the stdlib loggers' records
LOGGED: list[ServiceLogs] = []


@pytest.fixture(scope="module")
def api(kafka_principals: Any) -> Iterator[RunningApi]:
    apply_catalog(
        [dispatch_spec(a) for a in (ALPHA, BETA)] + [ack_spec(a) for a in (ALPHA, BETA)],
        replication_factor=1,
    )
    config = kafka_principals.issue(api_role())
    with logs_collected() as logs, running_api(api_settings(config)) as running:
        LOGGED.append(logs)
        # These tests present hundreds of wrong keys on purpose, all from 127.0.0.1.
        running.service.failed_auth_limit = RateLimiter(100_000)
        yield running


@pytest.fixture(scope="module")
def alpha_key(api: RunningApi) -> str:
    return issue_key(ApiKeyKind.AGENCY, ALPHA)


@pytest.fixture(scope="module")
def beta_key(api: RunningApi) -> str:
    return issue_key(ApiKeyKind.AGENCY, BETA)


@pytest.fixture(scope="module")
def operator_key(api: RunningApi) -> str:
    return issue_key(ApiKeyKind.OPERATOR, None)


def client(api: RunningApi, key: str | None = None) -> httpx.Client:
    return keeping_client(api, key, ANSWERS)


def wait_listed(api: RunningApi, key: str, dispatch_id: str, timeout: float = 30) -> None:
    """Until the inbox has the dispatch (the service follows the topic)."""
    deadline = time.monotonic() + timeout
    with client(api, key) as http:
        while http.get(f"/agency/dispatches/{dispatch_id}").status_code != 200:
            assert time.monotonic() < deadline, f"{dispatch_id} never reached the inbox"
            time.sleep(0.05)


# --- identity -----------------------------------------------------------------------------


def test_every_endpoint_but_the_public_catalog_refuses_a_request_without_a_valid_key(
    api: RunningApi, alpha_key: str
) -> None:
    protected = [
        ("GET", "/agency/dispatches"),
        ("GET", "/agency/dispatches/stream"),
        ("GET", "/agency/dispatches/dsp-" + "0" * 24),
        ("POST", "/agency/dispatches/dsp-" + "0" * 24 + "/ack"),
        ("GET", "/me"),
        ("POST", "/me/rotate"),
        ("GET", "/operator/keys"),
        ("POST", "/operator/keys"),
        ("GET", "/map/view"),
        ("GET", "/map/stream"),
    ]
    wrong = [
        "Basic dXNlcjpwYXNz",
        "Bearer tk_0123456789abcdef_" + "A" * 43,
        "Bearer " + alpha_key[:-1] + ("B" if alpha_key[-1] != "B" else "C"),
        "Bearer not-a-key",
    ]
    with client(api) as http:
        for method, path in protected:
            answer = http.request(method, path)
            assert answer.status_code == 401, (method, path)
            assert "API key" in answer.json()["detail"]
            assert answer.headers["www-authenticate"] == "Bearer"
            for header in wrong:
                refused = http.request(method, path, headers={"Authorization": header})
                assert refused.status_code == 401, (method, path, header)
        assert http.get("/public/cameras").status_code == 200


def test_a_key_made_by_the_cli_works_at_once_and_stops_working_when_revoked(
    api: RunningApi,
) -> None:
    made = subprocess.run(
        [sys.executable, "-m", "tilik", "keys", "add", "agency", ALPHA, "--label", "desk"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    token = next(line for line in made.stdout.splitlines() if line.startswith("key: "))[5:]
    key_id = "key-" + token.split("_")[1]
    assert token not in made.stderr
    with client(api, token) as http:
        assert http.get("/me").json()["subject"] == ALPHA
        rotated = http.post("/me/rotate")
        assert rotated.status_code == 200
        new_token = rotated.json()["token"]
        assert http.get("/me").status_code == 401  # the old secret, at once
    with client(api, new_token) as http:
        assert http.get("/me").json()["key_id"] == key_id
        subprocess.run(
            [sys.executable, "-m", "tilik", "keys", "revoke", key_id],
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        # The CLI's change is another writer's: the service reads it before refusing.
        assert http.get("/me").status_code == 401
    listed = subprocess.run(
        [sys.executable, "-m", "tilik", "keys", "list", "--all"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    assert key_id in listed and "revoked" in listed and new_token not in listed


def test_the_operator_manages_keys_over_http_and_every_change_is_audited(
    api: RunningApi, operator_key: str, alpha_key: str
) -> None:
    with client(api, operator_key) as http:
        made = http.post("/operator/keys", json={"kind": "tenant", "subject": f"toko-{RUN}"})
        assert made.status_code == 201, made.text
        key_id, token = made.json()["key"]["key_id"], made.json()["token"]
        # Read-your-writes: the key is listed and works on the next request.
        assert key_id in {k["key_id"] for k in http.get("/operator/keys").json()}
        assert "secret_hash" not in http.get("/operator/keys").text
        with client(api, token) as holder:
            assert holder.get("/me").json()["kind"] == "tenant"
            assert http.delete(f"/operator/keys/{key_id}").status_code == 200
            assert holder.get("/me").status_code == 401
        assert http.delete(f"/operator/keys/{key_id}").status_code == 404
        refused = http.post("/operator/keys", json={"kind": "operator", "subject": "x-y"})
        assert refused.status_code == 422 and "subject" in refused.json()["detail"]
    with client(api, alpha_key) as http:
        assert http.get("/operator/keys").status_code == 403
    audits = [
        r.value_as(AuditRecord)
        for r in asyncio.run(read_records(AUDIT, component="test.audit"))
        if r.value is not None and r.value_as(AuditRecord).subject == key_id
    ]
    assert [a.action for a in audits] == ["api.key.issue", "api.key.revoke"]
    assert all(a.actor.startswith("operator (key-") for a in audits)
    assert all(a.details["client"] == "127.0.0.1" for a in audits)


def test_a_restarted_service_serves_the_same_keys(api: RunningApi, alpha_key: str) -> None:
    async def authenticate() -> str | None:
        from api.keys import KeyStore

        async with KeyStore(component="test.restarted", settings=api.settings) as store:
            await store.ready.wait()
            found = await store.authenticate(alpha_key)
            return found.subject if found else None

    assert asyncio.run(authenticate()) == ALPHA


# --- agencies -----------------------------------------------------------------------------


def test_an_agency_lists_its_dispatches_paged_and_filtered(api: RunningApi, alpha_key: str) -> None:
    seed = uuid.uuid4().hex[:8]
    flood = make_dispatch(ALPHA, f"{seed}-flood", category=AlertCategory.FLOOD)
    crowds = [make_dispatch(ALPHA, f"{seed}-crowd-{n}") for n in range(4)]
    publish(flood, *crowds)
    wait_listed(api, alpha_key, crowds[-1].dispatch_id)
    wait_listed(api, alpha_key, flood.dispatch_id)
    mine = {flood.dispatch_id, *(d.dispatch_id for d in crowds)}
    since = min(d.routed_at for d in (flood, *crowds)).isoformat()
    with client(api, alpha_key) as http:
        seen: list[str] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 2, "since": since}
            if cursor:
                params["after"] = cursor
            answer = http.get("/agency/dispatches", params=params).json()
            assert len(answer["items"]) <= 2
            seen += [item["dispatch"]["dispatch_id"] for item in answer["items"]]
            cursor = answer["next"]
            if cursor is None:
                break
        assert mine <= set(seen) and len(seen) == len(set(seen))
        routed = [http.get(f"/agency/dispatches/{i}").json()["dispatch"]["routed_at"] for i in seen]
        assert routed == sorted(routed, reverse=True)
        floods = http.get("/agency/dispatches", params={"category": "flood", "since": since}).json()
        assert [i["dispatch"]["dispatch_id"] for i in floods["items"]] == [flood.dispatch_id]
        kecamatan = flood.alert.location.area.kecamatan
        assert kecamatan is not None
        there = http.get(
            "/agency/dispatches", params={"kecamatan": kecamatan.upper(), "since": since}
        ).json()
        assert mine <= {i["dispatch"]["dispatch_id"] for i in there["items"]}
        elsewhere = http.get(
            "/agency/dispatches", params={"kecamatan": "Nowhere", "since": since}
        ).json()
        assert elsewhere["items"] == []
        later = http.get(
            "/agency/dispatches", params={"since": (utcnow() + timedelta(hours=1)).isoformat()}
        ).json()
        assert later["items"] == []
        open_ = http.get("/agency/dispatches", params={"status": "open", "since": since}).json()
        assert mine <= {i["dispatch"]["dispatch_id"] for i in open_["items"]}


def test_an_acknowledgement_reaches_the_agencys_ack_topic_and_is_audited(
    api: RunningApi, alpha_key: str
) -> None:
    dispatch = make_dispatch(ALPHA, uuid.uuid4().hex[:8])
    publish(dispatch)
    wait_listed(api, alpha_key, dispatch.dispatch_id)
    with client(api, alpha_key) as http:
        path = f"/agency/dispatches/{dispatch.dispatch_id}/ack"
        answer = http.post(path, json={"acked_by": "Pak Budi", "note": "on the way"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "acknowledged"
        # Read-your-writes: the next list shows it acknowledged.
        acknowledged = http.get("/agency/dispatches", params={"status": "acknowledged"}).json()
        assert dispatch.dispatch_id in {i["dispatch"]["dispatch_id"] for i in acknowledged["items"]}
        again = http.post(path)
        assert (
            again.status_code == 200 and again.json()["acknowledgement"]["acked_by"] == "Pak Budi"
        )
    acks = [
        r.value_as(AlertAck)
        for r in asyncio.run(read_records(ack_spec(ALPHA), component="test.acks"))
        if r.value_as(AlertAck).alert_id == dispatch.alert.alert_id
    ]
    # Once, on the agency's own topic, naming the agency: what the hub needs to stop escalation.
    assert [(a.agency, a.acked_by, a.note) for a in acks] == [(ALPHA, "Pak Budi", "on the way")]
    audits = [
        r.value_as(AuditRecord)
        for r in asyncio.run(read_records(AUDIT, component="test.audit"))
        if r.value is not None and r.value_as(AuditRecord).subject == dispatch.alert.alert_id
    ]
    assert [(a.action, a.details["written"]) for a in audits] == [
        ("api.dispatch.ack", "true"),
        ("api.dispatch.ack", "false"),
    ]
    assert all(a.actor.startswith(f"agency:{ALPHA} (key-") for a in audits)
    assert all(a.details["client"] == "127.0.0.1" for a in audits)


def test_another_agencys_dispatches_are_refused_every_way(
    api: RunningApi, alpha_key: str, beta_key: str
) -> None:
    theirs = make_dispatch(BETA, uuid.uuid4().hex[:8])
    publish(theirs)
    wait_listed(api, beta_key, theirs.dispatch_id)
    missing = "dsp-" + "f" * 24
    with client(api, alpha_key) as http:
        for dispatch_id in (theirs.dispatch_id, missing):
            # Exactly like an id that does not exist.
            got = http.get(f"/agency/dispatches/{dispatch_id}")
            acked = http.post(f"/agency/dispatches/{dispatch_id}/ack")
            assert (got.status_code, got.json()) == (404, {"detail": "no such dispatch"})
            assert (acked.status_code, acked.json()) == (404, {"detail": "no such dispatch"})
        listed = http.get("/agency/dispatches", params={"limit": 200}).json()
        assert theirs.dispatch_id not in json.dumps(listed)
        for sneaky in ({"agency": BETA}, {"topic": f"tilik.dispatch.{BETA}.v2"}):
            refused = http.get("/agency/dispatches", params=sneaky)
            assert (
                refused.status_code == 400 and "unknown query parameter" in refused.json()["detail"]
            )
    # Their acknowledgement topic got nothing from us.
    acks = asyncio.run(read_records(ack_spec(BETA), component="test.acks"))
    assert all(r.value_as(AlertAck).alert_id != theirs.alert.alert_id for r in acks)


def test_an_agency_follows_only_its_own_new_dispatches_live(
    api: RunningApi, alpha_key: str
) -> None:
    seed = uuid.uuid4().hex[:8]
    ours = [make_dispatch(ALPHA, f"{seed}-{n}") for n in range(2)]
    theirs = make_dispatch(BETA, f"{seed}-beta")
    received: list[dict[str, Any]] = []
    connected = threading.Event()

    def follow() -> None:
        with (
            client(api, alpha_key) as http,
            http.stream("GET", "/agency/dispatches/stream", timeout=60) as stream,
        ):
            assert stream.headers["content-type"].startswith("text/event-stream")
            for line in stream.iter_lines():
                if line == ": following":
                    connected.set()
                elif line.startswith("data: "):
                    received.append(json.loads(line[6:]))
                    if received[-1]["dispatch"]["dispatch_id"] == ours[-1].dispatch_id:
                        return

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    assert connected.wait(30), "the stream never said it was following"
    publish(ours[0], theirs, ours[1])
    follower.join(60)
    assert not follower.is_alive(), "the stream never delivered the agency's dispatch"
    ids = [event["dispatch"]["dispatch_id"] for event in received]
    assert ids == [d.dispatch_id for d in ours]


# --- the public catalog -------------------------------------------------------------------


def camera(seed: str, sharing: SharingLevel) -> CameraRecord:
    """A camera whose private parts (address, stream, owner, credential reference) carry the
    planted secret."""
    record = example(CameraRecord, seed)
    return record.model_copy(
        update={
            "sharing": sharing,
            "address": f"{PLANTED}.example:554",
            "credential_ref": f"admin@env:TILIK_CAMERA_SECRET_{PLANTED[-8:].upper()}",
            "owner": record.owner.model_copy(update={"name": PLANTED}),
            "streams": [StreamProfile(token="main", rtsp_uri=f"rtsp://{PLANTED}.example/main")],
        }
    )


def public_ids(http: httpx.Client) -> dict[str, dict[str, Any]]:
    return {f["id"]: f for f in http.get("/public/cameras").json()["features"]}


def wait_public(http: httpx.Client, camera_id: str, *, present: bool, timeout: float = 30) -> float:
    """Seconds until the camera is (or is no longer) in the catalog."""
    began = time.monotonic()
    while (camera_id in public_ids(http)) is not present:
        assert time.monotonic() - began < timeout, f"{camera_id} present={not present} still"
        time.sleep(0.05)
    return time.monotonic() - began


def test_the_public_catalog_lists_only_public_cameras_with_only_what_citizens_may_see(
    api: RunningApi,
) -> None:
    seed = uuid.uuid4().hex[:8]
    public, live = (
        camera(f"{seed}-public", SharingLevel.PUBLIC),
        camera(f"{seed}-live", SharingLevel.LIVE),
    )
    publish_cameras(public, live)
    with client(api) as http:
        wait_public(http, public.camera_id, present=True)
        found = public_ids(http)
        assert live.camera_id not in found
        feature = found[public.camera_id]
        assert set(feature["properties"]) == {
            "camera_id", "name", "site_type", "kecamatan", "kelurahan", "status", "view_url"
        }  # fmt: skip
        assert feature["properties"]["view_url"] == STREAM_TEMPLATE.replace(
            "{camera_id}", public.camera_id
        )
        assert public.location.point is not None
        assert feature["geometry"] == {
            "type": "Point",
            "coordinates": [public.location.point.lon, public.location.point.lat],
        }
        assert feature["properties"]["status"] in {"online", "offline", "unauthorized", "degraded"}
        answer = http.get("/public/cameras")
        assert answer.headers["content-type"] == "application/geo+json"
        assert answer.headers["cache-control"].startswith("public, max-age=")
        etag = answer.headers["etag"]
        unchanged = http.get("/public/cameras", headers={"If-None-Match": etag})
        assert unchanged.status_code == 304 and unchanged.content == b""


def test_a_revoked_or_unshared_camera_leaves_the_public_catalog_within_seconds(
    api: RunningApi,
) -> None:
    seed = uuid.uuid4().hex[:8]
    revoked, unshared = (camera(f"{seed}-{n}", SharingLevel.PUBLIC) for n in ("r", "u"))
    publish_cameras(revoked, unshared)
    with client(api) as http:
        wait_public(http, revoked.camera_id, present=True)
        wait_public(http, unshared.camera_id, present=True)
        etag = http.get("/public/cameras").headers["etag"]
        began = time.monotonic()
        publish_cameras((revoked.camera_id, None))
        gone_after = wait_public(http, revoked.camera_id, present=False) + (
            time.monotonic() - began
        )
        assert gone_after < 10
        publish_cameras(unshared.model_copy(update={"sharing": SharingLevel.LIVE}))
        wait_public(http, unshared.camera_id, present=False)
        assert http.get("/public/cameras", headers={"If-None-Match": etag}).status_code == 200


def test_the_public_catalog_is_rate_limited_per_client(api: RunningApi) -> None:
    generous = api.service.public_limit
    api.service.public_limit = RateLimiter(3)
    try:
        with client(api) as http:
            codes = [http.get("/public/cameras").status_code for _ in range(4)]
            refused = http.get("/public/cameras")
    finally:
        api.service.public_limit = generous
    assert codes == [200, 200, 200, 429]
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert "too many requests" in refused.json()["detail"]


def test_a_client_presenting_wrong_keys_is_refused_before_any_key_is_checked(
    api: RunningApi, alpha_key: str
) -> None:
    generous = api.service.failed_auth_limit
    api.service.failed_auth_limit = RateLimiter(3)
    try:
        with (
            client(api, "tk_0123456789abcdef_" + "A" * 43) as wrong,
            client(api, alpha_key) as right,
        ):
            assert [wrong.get("/me").status_code for _ in range(2)] == [401, 401]
            assert right.get("/me").status_code == 200  # a good key spends nothing
            assert wrong.get("/me").status_code == 401
            refused = right.get("/me")  # the address is refused, whatever key it brings now
    finally:
        api.service.failed_auth_limit = generous
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert "too many invalid API keys" in refused.json()["detail"]


# --- bad input ------------------------------------------------------------------------------


def test_bad_input_gets_a_4xx_with_a_reason_and_changes_nothing(
    api: RunningApi, alpha_key: str
) -> None:
    dispatch = make_dispatch(ALPHA, uuid.uuid4().hex[:8])
    publish(dispatch)
    wait_listed(api, alpha_key, dispatch.dispatch_id)
    ack = f"/agency/dispatches/{dispatch.dispatch_id}/ack"
    json_type = {"Content-Type": "application/json"}
    with client(api, alpha_key) as http:
        malformed = http.post(ack, content=f'{{"note": "{PLANTED}', headers=json_type)
        assert malformed.status_code == 400
        assert malformed.json()["detail"] == "the body is not valid JSON"
        wrong_type = http.post(ack, json={"note": 5, "acked_by": ["x"]})
        assert wrong_type.status_code == 422
        assert {e["where"] for e in wrong_type.json()["errors"]} == {"body.note", "body.acked_by"}
        unknown = http.post(ack, json={"acked_by": "x", PLANTED: PLANTED})
        assert unknown.status_code == 422
        assert unknown.json()["errors"] == [
            {"where": "body", "reason": "an unknown field is not accepted here"}
        ]
        too_long = http.post(ack, json={"acked_by": "x" * 257})
        assert too_long.status_code == 422 and "256" in too_long.text
        oversized = http.post(ack, content=b"{" + b" " * MAX_BODY_BYTES + b"}", headers=json_type)
        assert oversized.status_code == 413 and str(MAX_BODY_BYTES) in oversized.json()["detail"]
        chunked = http.post(
            ack, content=iter([b'{"note": "', b"x" * MAX_BODY_BYTES, b'"}']), headers=json_type
        )
        assert chunked.status_code == 413
        for params in (
            {"status": "bogus"},
            {"limit": 0},
            {"limit": "many"},
            {"since": "yesterday"},
        ):
            answer = http.get("/agency/dispatches", params=params)
            assert answer.status_code == 422, params
            assert answer.json()["errors"][0]["where"].startswith("query.")
        assert http.get("/agency/dispatches", params={"after": PLANTED}).status_code == 400
        assert http.get("/agency/dispatches/not-a-dispatch").status_code == 422
        assert http.get("/me", headers={"Authorization": f"Bearer {PLANTED}"}).status_code == 401
        # Nothing changed: still open, nothing on the acknowledgement topic.
        assert http.get(f"/agency/dispatches/{dispatch.dispatch_id}").json()["status"] == "open"
    acks = asyncio.run(read_records(ack_spec(ALPHA), component="test.acks"))
    assert all(r.value_as(AlertAck).alert_id != dispatch.alert.alert_id for r in acks)


def test_the_openapi_document_describes_every_endpoint(api: RunningApi) -> None:
    with client(api) as http:
        document = http.get("/openapi.json").json()
        assert http.get("/docs").status_code == 200
    assert {
        "/public/cameras",
        "/agency/dispatches",
        "/agency/dispatches/stream",
        "/agency/dispatches/{dispatch_id}",
        "/agency/dispatches/{dispatch_id}/ack",
        "/me",
        "/me/rotate",
        "/operator/keys",
        "/operator/keys/{key_id}",
        "/operator/keys/{key_id}/rotate",
        "/map/view",
        "/map/stream",
        "/map/public/view",
        "/map/public/stream",
    } <= set(document["paths"])


def test_zz_the_planted_secret_is_in_no_answer_and_no_log_line(
    api: RunningApi, alpha_key: str, beta_key: str, operator_key: str
) -> None:
    """Runs last in the module: every answer the tests got and every log line the service wrote."""
    assert len(ANSWERS) > 50
    assert not [a for a in ANSWERS if PLANTED in a]
    with client(api) as http:
        http.get("/health")  # a last request, so the access log has flushed what came before
    logged = LOGGED[0].text()
    assert '"path": "/public/cameras"' in logged  # the access log is among what was scanned
    assert PLANTED not in logged
    for token in (alpha_key, beta_key, operator_key):
        assert token not in logged
        assert token.split("_")[2] not in logged


def test_tilik_api_serve_runs_the_service_as_its_own_principal(kafka_principals: Any) -> None:
    import os
    import signal
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = kafka_principals.issue(api_role())
    env = {**os.environ, "TILIK_CLIENT_CONFIG": str(config), "TILIK_LOG_FORMAT": "json"}
    server = subprocess.Popen(
        [sys.executable, "-m", "tilik", "api", "serve", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            while True:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                try:
                    if http.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "tilik api serve never answered"
                time.sleep(0.2)
            assert http.get("/openapi.json").json()["info"]["title"] == "Tilik API"
            assert http.get("/me").status_code == 401
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    # uvicorn shuts down cleanly, then ends by the signal it was sent.
    assert server.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    # It read the keys topic at start: the API's own grants were enough. One JSON line per
    # request, without a query string.
    assert '"path": "/me", "status": 401' in output
