"""The command-center map in a real headless chromium (Debian's chromium and chromium-driver,
through selenium), on a real broker: an operator signs in (an agency's key is refused), sees every
camera as a dot coloured by its state and each kecamatan shaded by its coverage, sees an alert
appear while the page is open and disappear once resolved, and picks an area to list its cameras
and alerts. The public map, on a phone, shows only the public camera. The screenshot is
docs/map.png, checked for the colours of cameras, coverage and the alert."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
from browser import PHONE, chromium, navigate

from topics.examples import example
from topics.gazetteer import semarang
from topics.models import (
    AdminArea,
    AlertStatus,
    ApiKeyKind,
    CameraRecord,
    CameraState,
    Dispatch,
    GeoPoint,
    Location,
    SharingLevel,
    utcnow,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

AGENCY = f"command-{uuid.uuid4().hex[:6]}"
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "map.png"
# (kecamatan, state of each of its cameras); the first camera is shared publicly
CITY = [
    ("Tembalang", [CameraState.ONLINE, CameraState.ONLINE, CameraState.ONLINE]),
    ("Genuk", [CameraState.ONLINE, CameraState.OFFLINE]),
    ("Mijen", [CameraState.OFFLINE, CameraState.OFFLINE]),
    ("Semarang Tengah", [CameraState.ONLINE, CameraState.DEGRADED, CameraState.ONLINE]),
]
# The map's colours (api/templates/map.html) the screenshot must show.
ONLINE, OFFLINE, ALERT_MARK = (26, 150, 65), (215, 25, 28), (177, 0, 38)


def cameras() -> tuple[list[CameraRecord], dict[str, CameraState]]:
    city = semarang()
    records, states = [], {}
    for district_name, district_states in CITY:
        district = city.named(district_name)
        assert district is not None
        for n, state in enumerate(district_states):
            lat, lon = district.centre
            record = example(CameraRecord, f"{AGENCY}-{district_name}-{n}").model_copy(
                update={
                    "name": f"{district.kelurahan[n % 4]} {n + 1}",
                    "sharing": SharingLevel.PUBLIC if not records else SharingLevel.LIVE,
                    "location": Location(
                        area=AdminArea(kecamatan=district.name, kelurahan=district.kelurahan[0]),
                        point=GeoPoint(lat=lat + 0.004 * (n - 1), lon=lon + 0.006 * (n - 1)),
                    ),
                }
            )
            records.append(record)
            states[record.camera_id] = state
    return records, states


@pytest.fixture(scope="module")
def api(kafka_principals: Any) -> Iterator[RunningApi]:
    with running_api_for(kafka_principals, AGENCY) as running:
        yield running


def wait_for(browser: Any, script: str, timeout: float = 30) -> Any:
    """Until ``script`` (a JavaScript expression) is truthy in the page; its value."""
    from selenium.webdriver.support.wait import WebDriverWait

    return WebDriverWait(browser, timeout).until(lambda b: b.execute_script(f"return {script}"))


def bin_of(percent: float | None) -> str:
    if percent is None:
        return "none"
    return str(sum(percent >= edge for edge in (25, 50, 75, 90)))


def colours(png: Path) -> dict[tuple[int, int, int], int]:
    from PIL import Image

    with Image.open(png) as image:
        counted = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert counted is not None
    return {colour: count for count, colour in counted}


def test_an_operator_watches_cameras_coverage_and_a_live_alert_on_the_map(
    api: RunningApi,
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    records, states = cameras()
    publish_cameras(*records, states=states)
    operator = issue_key(ApiKeyKind.OPERATOR, None)
    agency = issue_key(ApiKeyKind.AGENCY, AGENCY)
    ours = {r.camera_id for r in records}
    with http_client(api, operator) as http:
        deadline = time.monotonic() + 30
        while not ours <= {c["camera_id"] for c in http.get("/map/view").json()["cameras"]}:
            assert time.monotonic() < deadline, "the cameras never reached the map's view"
            time.sleep(0.1)

    with chromium(window=(1280, 900)) as browser:
        browser.get(f"{api.url}/map?lang=id")
        assert browser.find_element(By.ID, "sign-in").text == "Masuk"
        browser.find_element(By.ID, "key").send_keys(agency)
        navigate(browser, browser.find_element(By.ID, "sign-in"))
        assert "bukan kunci operator" in browser.find_element(By.ID, "error").text
        browser.find_element(By.ID, "key").send_keys(operator)
        navigate(browser, browser.find_element(By.ID, "sign-in"))
        assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Peta pusat komando")

        # Every camera is a dot coloured by its state.
        for record in records:
            dot = f"document.querySelector('circle[data-camera-id=\"{record.camera_id}\"]')"
            wait_for(browser, dot)
            expected = states[record.camera_id].value
            kind = expected if expected in ("online", "offline") else "trouble"
            assert browser.execute_script(f"return {dot}.getAttribute('class')") == f"cam {kind}"

        # Each kecamatan is shaded by its coverage, as the view counts it, in the legend's colour.
        with http_client(api, operator) as http:
            coverage = {c["kecamatan"]: c for c in http.get("/map/view").json()["coverage"]}
        for district_name, district_states in CITY:
            assert coverage[district_name]["registered"] >= len(district_states)
            path = f"document.querySelector('path.area[data-name=\"{district_name}\"]')"
            shaded = wait_for(browser, f"{path}.getAttribute('class').includes('cov-') && {path}")
            percent = coverage[district_name]["percent"]
            assert f"cov-{bin_of(percent)}" in shaded.get_attribute("class")
            legend = browser.find_element(By.CSS_SELECTOR, f".swatch.cov-{bin_of(percent)}")
            assert shaded.value_of_css_property("fill") == legend.value_of_css_property(
                "background-color"
            ).replace("rgba", "rgb").replace(", 1)", ")")
        # The shading tells districts apart (other tests' cameras share the broker, so the exact
        # percentages are the view's, checked above, not this test's alone).
        assert len({bin_of(coverage[name]["percent"]) for name, _ in CITY}) >= 2

        # An alert produced while the page is open appears, with its agency and age.
        wait_for(browser, "document.body.dataset.streaming === 'yes'")
        genuk = next(r for r in records if r.location.area.kecamatan == "Genuk")
        opened_at = utcnow()

        def flood(**state: Any) -> Dispatch:
            return make_dispatch(
                AGENCY,
                f"{AGENCY}-flood",
                camera_id=genuk.camera_id,
                camera_name=genuk.name,
                location=genuk.location,
                title="Banjir di Genuk",
                opened_at=opened_at,
                **state,
            )

        opened = flood()
        publish(opened)
        alert_id = opened.alert.alert_id
        item = wait_for(browser, f"document.getElementById('alert-{alert_id}')")
        assert "Banjir di Genuk" in item.text and AGENCY in item.text and "lalu" in item.text
        wait_for(
            browser, f"document.querySelector('circle.alert-mark[data-alert-id=\"{alert_id}\"]')"
        )

        # A click on an area lists its cameras and open alerts.
        area = browser.find_element(By.CSS_SELECTOR, 'path.area[data-name="Genuk"]')
        ActionChains(browser).move_to_element(area).click().perform()
        wait_for(browser, "document.getElementById('panel-title').textContent === 'Genuk'")
        listed = {
            e.get_attribute("data-camera-id")
            for e in browser.find_elements(By.CSS_SELECTOR, "#panel-cameras li")
        }
        assert {r.camera_id for r in records if r.location.area.kecamatan == "Genuk"} <= listed
        assert not {r.camera_id for r in records if r.location.area.kecamatan == "Mijen"} & listed
        assert browser.find_elements(By.CSS_SELECTOR, f"#panel-alerts #alert-{alert_id}")

        SCREENSHOT.parent.mkdir(exist_ok=True)
        assert browser.save_screenshot(str(SCREENSHOT))
        shown = colours(SCREENSHOT)
        assert len([c for c, n in shown.items() if n >= 100]) >= 8, "the map looks blank"
        for colour in (ONLINE, OFFLINE, ALERT_MARK):
            assert shown.get(colour, 0) >= 10, f"no {colour} in the screenshot"

        # Once resolved, the alert leaves the map.
        resolved = flood(status=AlertStatus.RESOLVED, sequence=1)
        assert resolved.alert.alert_id == alert_id
        publish(resolved)
        wait_for(browser, f"document.getElementById('alert-{alert_id}') === null")
        assert not browser.find_elements(By.CSS_SELECTOR, "circle.alert-mark[data-alert-id]") or (
            alert_id
            not in {
                e.get_attribute("data-alert-id")
                for e in browser.find_elements(By.CSS_SELECTOR, "circle.alert-mark")
            }
        )
        assert operator not in browser.page_source


def test_the_public_map_on_a_phone_shows_only_public_cameras(api: RunningApi) -> None:
    from selenium.webdriver.common.by import By

    records, states = cameras()
    publish_cameras(*records, states=states)
    public = records[0]
    with chromium(phone=PHONE) as browser:
        browser.get(f"{api.url}/map/public?lang=en")
        assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Public camera map")
        wait_for(
            browser, f"document.querySelector('circle[data-camera-id=\"{public.camera_id}\"]')"
        )
        shown = {
            e.get_attribute("data-camera-id")
            for e in browser.find_elements(By.CSS_SELECTOR, "circle.cam")
        }
        assert not shown & {r.camera_id for r in records[1:]}
        assert not browser.find_elements(By.ID, "sign-out")
        # Fits a phone: nothing wider than the window.
        assert browser.execute_script("return document.documentElement.scrollWidth") <= PHONE[0]
