"""The business's pages (``/business``) over real HTTP against the real broker: each form goes
through the tenant API's own functions (the same site file, audit records and choices), redirects
back, and a form that does not validate says which field is wrong in the page's language and
changes nothing; another tenant's ids, a form from another site and a pasted password are refused
without a trace. (The whole path in a browser, with a hub worker and an edge agent, is
tests/test_business_browser.py.)"""

from __future__ import annotations

import html
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from api_server import RunningApi, api_settings, issue_key, running_api
from test_api_tenant import audits, choices, found_camera, publish, wait_cameras

from api.ratelimit import RateLimiter
from topics.access.roles import api_role, tenant_role
from topics.models import ApiKeyKind, CameraRecord

pytestmark = pytest.mark.kafka

RUN = uuid.uuid4().hex[:6]
WARUNG = f"warung-{RUN}"  # the business under test
BANK = f"bank-{RUN}"  # another, whose ids WARUNG must never reach
PLANTED = f"Planted-{uuid.uuid4().hex}"
SITE_FORM = {
    "site_id": "pasar-johar",
    "name": "Warung Bu Sri",
    "kind-0": "hikvision",
    "address-0": "192.168.20.30:80",
    "credential-0": "NVR",
    "sharing-0": "live",
    "kind-1": "onvif",
    "address-1": "192.168.20.31:80",
    "username-1": "viewer",
    "credential-1": "DOME",
    "sharing-1": "registry_only",
}


@pytest.fixture(scope="module")
def api(kafka_principals: Any) -> Iterator[RunningApi]:
    for tenant in (WARUNG, BANK):
        kafka_principals.issue(tenant_role(tenant))
    with running_api(api_settings(kafka_principals.issue(api_role()))) as running:
        running.service.failed_auth_limit = RateLimiter(100_000)
        yield running


@pytest.fixture(scope="module")
def keys(api: RunningApi) -> dict[str, str]:
    return {tenant: issue_key(ApiKeyKind.TENANT, tenant) for tenant in (WARUNG, BANK)}


@pytest.fixture(scope="module")
def cameras(api: RunningApi, keys: dict[str, str]) -> dict[str, CameraRecord]:
    made = {
        "warung": found_camera(WARUNG, f"{RUN}-w", address=SITE_FORM["address-0"]),
        "bank": found_camera(BANK, f"{RUN}-b"),
    }
    publish(*made.values())
    for tenant, name in ((WARUNG, "warung"), (BANK, "bank")):
        with api_client(api, keys[tenant]) as http:
            wait_cameras(http, {made[name].camera_id})
    return made


@pytest.fixture
def site_registered(api: RunningApi, keys: dict[str, str]) -> None:
    """WARUNG's site (the page's test registers it; a test run alone gets it over the API)."""
    with signed_in(api, keys[WARUNG]) as page, api_client(api, keys[WARUNG]) as http:
        if http.get(f"/tenant/sites/{SITE_FORM['site_id']}").status_code == 404:
            assert page.post("/business/sites", data=SITE_FORM).status_code == 303


def api_client(api: RunningApi, key: str) -> httpx.Client:
    return httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


@contextmanager
def signed_in(api: RunningApi, key: str, lang: str = "id") -> Iterator[httpx.Client]:
    """A browser-like client signed in to the page (its cookie), in ``lang``."""
    with httpx.Client(base_url=api.url, timeout=30, cookies={"tilik_lang": lang}) as page:
        answer = page.post("/business/sign-in", data={"key": key})
        assert answer.status_code == 303 and answer.headers["location"] == "/business"
        yield page


def test_a_business_signs_in_with_its_key_and_a_wrong_or_foreign_key_is_refused(
    api: RunningApi, keys: dict[str, str]
) -> None:
    agency_key = issue_key(ApiKeyKind.AGENCY, f"dishub-{RUN}")
    with httpx.Client(base_url=api.url, timeout=30) as page:
        assert 'id="sign-in"' in page.get("/business?lang=id").text
        for wrong in ("tk_0123456789abcdef_" + "A" * 43, agency_key):
            refused = page.post("/business/sign-in", data={"key": wrong})
            assert refused.status_code == 401
            assert "Kunci tidak berlaku" in refused.text and wrong not in refused.text
        assert "tilik_key" not in page.cookies
    with signed_in(api, keys[WARUNG]) as page:
        shown = page.get("/business")
        assert shown.status_code == 200 and WARUNG in shown.text
        assert keys[WARUNG] not in shown.text
        out = page.post("/business/sign-out")
        assert out.status_code == 303
        assert 'id="sign-in"' in page.get("/business").text


def test_registering_a_site_on_the_page_shows_the_site_file_and_command_the_api_answers(
    api: RunningApi, keys: dict[str, str]
) -> None:
    with signed_in(api, keys[WARUNG]) as page, api_client(api, keys[WARUNG]) as http:
        if http.get(f"/tenant/sites/{SITE_FORM['site_id']}").status_code == 200:
            http.delete(f"/tenant/sites/{SITE_FORM['site_id']}")
        made = page.post("/business/sites", data=SITE_FORM)
        assert made.status_code == 303, made.text
        assert made.headers["location"] == "/business/sites/pasar-johar"
        shown = page.get(made.headers["location"]).text
        same = http.get("/tenant/sites/pasar-johar").json()
        assert html.escape(same["site_yaml"]) in shown
        assert html.escape(same["command"]) in shown
        assert "TILIK_CAMERA_SECRET_NVR" in shown and "TILIK_CAMERA_SECRET_DOME" in shown
        assert [d["credential_ref"] for d in same["site"]["devices"]] == [
            "admin@env:TILIK_CAMERA_SECRET_NVR",
            "viewer@env:TILIK_CAMERA_SECRET_DOME",
        ]
        # Listed on the page; registering it again is refused in the page's language.
        assert 'id="site-pasar-johar"' in page.get("/business").text
        again = page.post("/business/sites", data=SITE_FORM)
        assert again.status_code == 409 and "Lokasi dengan ID ini sudah ada" in again.text
    assert ("api.site.register", "pasar-johar") in {(a.action, a.subject) for a in audits()}


@pytest.mark.parametrize(
    ("lang", "form", "said"),
    [
        ("id", {"sharing": "everyone"}, "Berbagi bukan pilihan yang tersedia."),
        ("en", {"sharing": "everyone"}, "Sharing is not one of the choices."),
        ("id", {"kecamatan": "Atlantis"}, "Kecamatan bukan kecamatan di Kota Semarang."),
        ("en", {"name": "x" * 300}, "Name is too long."),
        ("id", {"rt": "tujuh"}, "RT formatnya tidak sesuai."),
    ],
)
def test_a_camera_form_that_does_not_validate_says_why_in_the_page_language_and_changes_nothing(
    api: RunningApi,
    keys: dict[str, str],
    cameras: dict[str, CameraRecord],
    lang: str,
    form: dict[str, str],
    said: str,
) -> None:
    camera_id = cameras["warung"].camera_id
    before = choices().get(camera_id)
    with signed_in(api, keys[WARUNG], lang) as page, api_client(api, keys[WARUNG]) as http:
        shown_before = http.get(f"/tenant/cameras/{camera_id}").json()
        answer = page.post(f"/business/cameras/{camera_id}", data=form)
        assert answer.status_code == 422
        assert said in answer.text and 'id="error"' in answer.text
        assert "x" * 300 not in answer.text and "Atlantis" not in answer.text
        assert http.get(f"/tenant/cameras/{camera_id}").json() == shown_before
    assert choices().get(camera_id) == before


def test_a_camera_is_confirmed_named_placed_shared_and_revoked_through_the_api_functions(
    api: RunningApi, keys: dict[str, str], cameras: dict[str, CameraRecord], site_registered: None
) -> None:
    camera_id = cameras["warung"].camera_id
    with signed_in(api, keys[WARUNG]) as page, api_client(api, keys[WARUNG]) as http:
        # Not confirmed: its sharing is offered unchanged, so naming it leaves the level to
        # confirmation, which shares its device's (live, from the site registration).
        unchanged = '<option value="" selected>Berbagi (tetap)</option>'
        assert unchanged in page.get("/business").text
        named = page.post(f"/business/cameras/{camera_id}", data={"name": "Kasir", "sharing": ""})
        assert named.status_code == 303
        assert page.post(f"/business/cameras/{camera_id}/confirm").status_code == 303
        assert http.get(f"/tenant/cameras/{camera_id}").json()["sharing"] == "live"
        assert unchanged not in page.get("/business").text
        chosen = page.post(
            f"/business/cameras/{camera_id}",
            data={"name": "Kasir", "sharing": "public", "kecamatan": "Semarang Utara",
                  "kelurahan": "Bandarharjo", "rw": "2", "rt": "5"},
        )  # fmt: skip
        assert chosen.status_code == 303 and chosen.headers["location"] == "/business"
        # Read-your-writes: the API and the page show it as chosen at once.
        shown = http.get(f"/tenant/cameras/{camera_id}").json()
        assert (shown["confirmed"], shown["name"], shown["sharing"]) == (True, "Kasir", "public")
        area = shown["location"]["area"]
        assert (area["kecamatan"], area["kelurahan"], area["rw"], area["rt"]) == (
            "Semarang Utara",
            "Bandarharjo",
            "2",
            "5",
        )
        card = page.get("/business").text
        assert "Kasir" in card and "Publik" in card and "Dikonfirmasi" in card
        assert page.post(f"/business/cameras/{camera_id}/revoke").status_code == 303
        assert http.get(f"/tenant/cameras/{camera_id}").status_code == 404
        assert camera_id not in page.get("/business").text
    updates = [a for a in audits() if a.subject == camera_id]
    assert [a.action for a in updates] == ["api.camera.update"] * 3 + ["api.camera.revoke"]
    assert all(a.actor.startswith(f"tenant:{WARUNG} ") for a in updates)


def test_another_businesss_ids_answer_like_missing_ones_and_change_nothing(
    api: RunningApi, keys: dict[str, str], cameras: dict[str, CameraRecord]
) -> None:
    theirs, missing = cameras["bank"].camera_id, "cam-" + "0" * 20
    before = choices()
    with signed_in(api, keys[WARUNG], "en") as page:
        for camera_id in (theirs, missing):
            for action, form in (("", {"name": "Mine"}), ("/confirm", {}), ("/revoke", {})):
                answer = page.post(f"/business/cameras/{camera_id}{action}", data=form)
                assert answer.status_code == 404 and "No such camera." in answer.text
                assert theirs not in answer.text
        for site_id in ("pasar-johar-bank", "nowhere"):
            assert page.post(f"/business/sites/{site_id}/delete").status_code == 404
            assert page.get(f"/business/sites/{site_id}").status_code == 404
    assert choices() == before


def test_a_form_from_another_site_or_with_a_pasted_password_is_refused_without_a_trace(
    api: RunningApi, keys: dict[str, str], cameras: dict[str, CameraRecord]
) -> None:
    camera_id = cameras["warung"].camera_id
    with signed_in(api, keys[WARUNG]) as page:
        foreign = page.post(
            f"/business/cameras/{camera_id}/revoke", headers={"origin": "https://evil.example"}
        )
        assert foreign.status_code == 403
        pasted = page.post(
            "/business/sites", data={**SITE_FORM, "site_id": "kios", "credential-0": PLANTED}
        )
        assert pasted.status_code == 422 and "Perangkat 1: Nama kata sandi" in pasted.text
        assert PLANTED not in pasted.text
    with api_client(api, keys[WARUNG]) as http:
        assert http.get("/tenant/sites/kios").status_code == 404
    assert all(PLANTED not in repr(a) for a in audits())
