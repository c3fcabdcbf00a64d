"""The command-center map's data over real HTTP, against the real broker: what the operator sees,
what the public map may never show (a camera not shared publicly, its owner or address, an alert
on it), and who is refused (no key, an agency's or a tenant's key)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from api_server import (
    RunningApi,
    http_client,
    issue_key,
    make_dispatch,
    publish,
    publish_cameras,
    running_api_for,
)

from topics.examples import example
from topics.models import ApiKeyKind, CameraRecord, CameraState, SharingLevel, StreamProfile

pytestmark = pytest.mark.kafka

RUN = uuid.uuid4().hex[:6]
AGENCY = f"map-{RUN}"
PRIVATE_MARK = f"private-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def api(kafka_principals: Any) -> Iterator[RunningApi]:
    with running_api_for(kafka_principals, AGENCY) as running:
        yield running


@pytest.fixture(scope="module")
def operator_key(api: RunningApi) -> str:
    return issue_key(ApiKeyKind.OPERATOR, None)


def camera(seed: str, sharing: SharingLevel) -> CameraRecord:
    """A camera whose address, streams and owner's name are marked: none may reach a map."""
    record = example(CameraRecord, f"{RUN}-{seed}")
    return record.model_copy(
        update={
            "sharing": sharing,
            "address": f"{PRIVATE_MARK}.example:554",
            "owner": record.owner.model_copy(update={"name": PRIVATE_MARK}),
            "streams": [StreamProfile(token="main", rtsp_uri=f"rtsp://{PRIVATE_MARK}.example/")],
        }
    )


PUBLIC = camera("public", SharingLevel.PUBLIC)
PRIVATE = [camera(level.value, level) for level in SharingLevel if level is not SharingLevel.PUBLIC]


def wait_view(http: httpx.Client, path: str, camera_ids: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        answer = http.get(path)
        assert answer.status_code == 200, answer.text
        view = answer.json()
        if camera_ids <= {c["camera_id"] for c in view["cameras"]}:
            return view
        assert time.monotonic() < deadline, f"{camera_ids} never reached {path}"
        time.sleep(0.1)


def test_the_operator_sees_every_camera_and_the_public_map_only_public_ones(
    api: RunningApi, operator_key: str
) -> None:
    publish_cameras(PUBLIC, *PRIVATE, states={PRIVATE[0].camera_id: CameraState.OFFLINE})
    with http_client(api, operator_key) as http:
        view = wait_view(http, "/map/view", {PUBLIC.camera_id, *(p.camera_id for p in PRIVATE)})
    shown = {c["camera_id"]: c for c in view["cameras"]}
    assert shown[PRIVATE[0].camera_id]["status"] == "offline"
    assert shown[PRIVATE[0].camera_id]["sharing"] == PRIVATE[0].sharing.value
    assert shown[PUBLIC.camera_id]["owner_id"] == PUBLIC.owner.id
    assert len(view["coverage"]) == 16

    with http_client(api) as http:
        public = wait_view(http, "/map/public/view", {PUBLIC.camera_id})
    ids = {c["camera_id"] for c in public["cameras"]}
    assert PUBLIC.camera_id in ids and not ids & {p.camera_id for p in PRIVATE}
    assert all(c["owner_id"] is None and c["sharing"] is None for c in public["cameras"])
    assert PRIVATE_MARK not in json.dumps(view) + json.dumps(public)


def events(stream: httpx.Response) -> Iterator[tuple[str, Any]]:
    """(event, data) of each Server-Sent Event."""
    name = None
    for line in stream.iter_lines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: ") and name is not None:
            yield name, json.loads(line[6:])
            name = None


def test_the_public_stream_carries_alerts_on_public_cameras_only(
    api: RunningApi, operator_key: str
) -> None:
    publish_cameras(PUBLIC, *PRIVATE)
    on_private = make_dispatch(
        AGENCY, f"{RUN}-private", camera_id=PRIVATE[0].camera_id, location=PRIVATE[0].location
    )
    on_public = make_dispatch(
        AGENCY, f"{RUN}-public", camera_id=PUBLIC.camera_id, location=PUBLIC.location
    )
    seen: list[tuple[str, Any]] = []
    following = threading.Event()

    def follow() -> None:
        with http_client(api) as http, http.stream("GET", "/map/public/stream") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            for name, data in events(stream):
                seen.append((name, data))
                following.set()
                if name == "alert" and data["alert_id"] == on_public.alert.alert_id:
                    return

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    assert following.wait(60), "the public stream never listed the open alerts"
    publish(on_private)
    # The service holds the private camera's alert before the public one is even written.
    with http_client(api, operator_key) as http:
        deadline = time.monotonic() + 30
        while on_private.alert.alert_id not in {
            a["alert_id"] for a in http.get("/map/view").json()["alerts"]
        }:
            assert time.monotonic() < deadline, "the operator's map never showed the alert"
            time.sleep(0.1)
    publish(on_public)
    follower.join(60)
    assert not follower.is_alive(), "the public stream never carried the public camera's alert"
    carried = json.dumps(seen)
    assert on_private.alert.alert_id not in carried and PRIVATE[0].camera_id not in carried
    with http_client(api) as http:
        public_alerts = http.get("/map/public/view").json()["alerts"]
    assert on_public.alert.alert_id in {a["alert_id"] for a in public_alerts}
    assert on_private.alert.alert_id not in json.dumps(public_alerts)
    [listed] = [a for a in public_alerts if a["alert_id"] == on_public.alert.alert_id]
    assert listed["agencies"] == [AGENCY]


def test_only_an_operator_opens_the_operator_map(api: RunningApi) -> None:
    agency = issue_key(ApiKeyKind.AGENCY, AGENCY)
    tenant = issue_key(ApiKeyKind.TENANT, f"mall-{RUN}")
    for path in ("/map/view", "/map/stream"):
        with http_client(api) as http:
            assert http.get(path).status_code == 401
        for key in (agency, tenant):
            with http_client(api, key) as http:
                refused = http.get(path)
            assert refused.status_code == 403, (path, refused.text)
            assert "operator keys only" in refused.json()["detail"]
    with http_client(api) as http:
        assert "sign-in" in http.get("/map").text
        for key in (agency, tenant):
            page = http.post("/map/sign-in", data={"key": key}, follow_redirects=False)
            assert page.status_code == 401 and "tilik_key" not in page.headers.get("set-cookie", "")
        # Someone else's page posting a form with the browser is refused.
        assert (
            http.post(
                "/map/sign-in", data={"key": agency}, headers={"Origin": "https://evil.example"}
            ).status_code
            == 403
        )
