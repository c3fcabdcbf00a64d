"""The agency's inbox page in a real headless browser (Debian's chromium and chromium-driver,
through selenium), on a phone-sized window: sign in with the agency's key, read a dispatch,
acknowledge it in Indonesian, see it acknowledged in English; the acknowledgement is on the
agency's topic. Leaves a screenshot of the page. Then, with a real hub worker whose route
escalates: the agency acknowledges one of two alerts in the browser, and only the other escalates."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_server import RunningApi, issue_key, running_api_for
from browser import PHONE, chromium, navigate
from test_hub_pipeline import FIXTURES, device_event, dispatched, new_camera

from hub.testing import TopicWatch, WorkerProcess
from topics import identity
from topics.catalog import CAMERA_REGISTRY, DEVICE_EVENTS, ack_spec, dispatch_spec
from topics.client import CatalogProducer, read_records
from topics.examples import example
from topics.models import AlertAck, ApiKeyKind, Dispatch, EventKind, utcnow

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

AGENCY = f"desk-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def api(kafka_principals: Any) -> Iterator[RunningApi]:
    with running_api_for(kafka_principals, AGENCY) as running:
        yield running


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium(phone=PHONE) as driver:
        yield driver


def a_dispatch() -> Dispatch:
    base = example(Dispatch, uuid.uuid4().hex)
    return base.model_copy(
        update={
            "agency": AGENCY,
            "dispatch_id": identity.dispatch_id(
                alert_id=base.alert.alert_id, agency=AGENCY, sequence=0, escalation_level=0
            ),
            "routed_at": utcnow(),
        }
    )


def test_an_agency_signs_in_and_acknowledges_a_dispatch_on_a_phone(
    api: RunningApi, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    dispatch = a_dispatch()

    async def publish() -> None:
        async with CatalogProducer(client_id="test-dispatch") as producer:
            await producer.send(dispatch_spec(AGENCY), dispatch)

    asyncio.run(publish())
    key = issue_key(ApiKeyKind.AGENCY, AGENCY)
    with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {key}"}) as http:
        deadline = time.monotonic() + 30
        while http.get(f"/agency/dispatches/{dispatch.dispatch_id}").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)

    browser.get(f"{api.url}/inbox?lang=id")
    assert browser.find_element(By.ID, "sign-in").text == "Masuk"
    browser.find_element(By.ID, "key").send_keys("tk_0123456789abcdef_" + "A" * 43)
    navigate(browser, browser.find_element(By.ID, "sign-in"))
    assert "Kunci tidak berlaku" in browser.find_element(By.ID, "error").text
    browser.find_element(By.ID, "key").send_keys(key)
    navigate(browser, browser.find_element(By.ID, "sign-in"))

    card = browser.find_element(By.ID, dispatch.dispatch_id)
    assert dispatch.alert.title in card.text and "Baru" in card.text
    # Fits a phone: nothing wider than the window.
    assert browser.execute_script("return window.innerWidth") == PHONE[0]
    assert browser.execute_script("return document.documentElement.scrollWidth") <= PHONE[0]
    card.find_element(By.NAME, "acked_by").send_keys("Pak Budi")
    navigate(browser, card.find_element(By.CLASS_NAME, "acknowledge"))

    card = browser.find_element(By.ID, dispatch.dispatch_id)
    assert "Ditangani" in card.text and "Pak Budi" in card.text
    assert not card.find_elements(By.CLASS_NAME, "acknowledge")
    navigate(browser, browser.find_element(By.ID, "language"))
    card = browser.find_element(By.ID, dispatch.dispatch_id)
    assert "Acknowledged by: Pak Budi" in card.text
    shot = tmp_path / "inbox.png"
    assert browser.save_screenshot(str(shot)) and shot.read_bytes()[:4] == b"\x89PNG"
    # The key never reached the page, and the page is not readable by scripts as a cookie.
    assert key not in browser.page_source
    assert "tilik_key" not in browser.execute_script("return document.cookie")

    acks = [
        r.value_as(AlertAck)
        for r in asyncio.run(read_records(ack_spec(AGENCY), component="test.acks"))
    ]
    assert [(a.alert_id, a.agency, a.acked_by) for a in acks] == [
        (dispatch.alert.alert_id, AGENCY, "Pak Budi")
    ]
    navigate(browser, browser.find_element(By.ID, "sign-out"))
    assert browser.find_element(By.ID, "sign-in").text == "Sign in"


# --- an acknowledgement in the browser stops the hub's escalation ----------------------------

ESCALATING = "polisi"  # tamper alerts go here first ...
ESCALATED_TO = "satpol-pp"  # ... and here too when polisi has not acknowledged in time
# Long enough for a browser on a busy machine to acknowledge; the control waits it out.
ACK_WITHIN_S = 25
ROUTES = f"""\
version: 1
agencies:
  - {{id: {ESCALATING}, name: Polisi}}
  - {{id: {ESCALATED_TO}, name: Satpol PP}}
  - {{id: diskominfo, name: Diskominfo}}
fallback_agency: diskominfo
routes:
  - id: security
    categories: [tamper]
    agency: {ESCALATING}
    escalation:
      - after_s: {ACK_WITHIN_S}
        to: {ESCALATED_TO}
"""


def sign_in(browser: Any, api: RunningApi, key: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{api.url}/inbox?lang=id")
    browser.find_element(By.ID, "key").send_keys(key)
    navigate(browser, browser.find_element(By.ID, "sign-in"))
    assert browser.find_elements(By.ID, "sign-out")


def acknowledge(browser: Any, dispatch: Dispatch, control: Dispatch) -> None:
    """Reloads the inbox until both dispatches show, then acknowledges ``dispatch``."""
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + 30
    while not all(
        browser.find_elements(By.ID, d.dispatch_id) for d in (dispatch, control)
    ):  # fmt: skip
        assert time.monotonic() < deadline, "the dispatches never showed in the inbox"
        time.sleep(0.2)
        browser.refresh()
    card = browser.find_element(By.ID, dispatch.dispatch_id)
    card.find_element(By.NAME, "acked_by").send_keys("Bu Ani")
    navigate(browser, card.find_element(By.CLASS_NAME, "acknowledge"))
    assert "Ditangani" in browser.find_element(By.ID, dispatch.dispatch_id).text
    assert "Baru" in browser.find_element(By.ID, control.dispatch_id).text


@pytest.mark.timeout(600)
async def test_an_acknowledgement_in_the_browser_stops_the_hubs_escalation(
    kafka_bootstrap: str, kafka_principals: Any, tmp_path: Path
) -> None:
    """Two alerts dispatched to the agency; it acknowledges one in the browser. Once the other
    (the control) has escalated, the acknowledged one has not: the escalation check that
    escalated the control had it due too (its deadline is earlier)."""
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES)
    worker = WorkerProcess(
        kafka_bootstrap,
        f"tilik-hub-ack-{uuid.uuid4().hex[:8]}",
        tmp_path / "worker.log",
        rules=FIXTURES / "rules.yaml",
        routes=routes,
        extra_args=["--escalation-check-every", "0.5", "--from-latest"],
        client_config=kafka_principals.hub,
    )
    acked, control = new_camera(), new_camera()
    worker.start()
    try:
        with running_api_for(kafka_principals, ESCALATING, ESCALATED_TO) as api:
            await worker.wait_ready(120)
            first = await TopicWatch(kafka_bootstrap, dispatch_spec(ESCALATING)).start()
            then = await TopicWatch(kafka_bootstrap, dispatch_spec(ESCALATED_TO)).start()
            key = await asyncio.to_thread(issue_key, ApiKeyKind.AGENCY, ESCALATING)
            with chromium(phone=PHONE) as browser:
                await asyncio.to_thread(sign_in, browser, api, key)
                sent = []
                async with CatalogProducer(kafka_bootstrap) as producer:
                    # The acknowledged alert first: its deadline comes before the control's.
                    for camera in (acked, control):
                        await producer.send(CAMERA_REGISTRY, camera)
                        await producer.send(
                            DEVICE_EVENTS, device_event(camera.camera_id, EventKind.TAMPER)
                        )
                        values = await first.wait_for(dispatched(camera.camera_id), 60)
                        sent.append(
                            next(d for d in values if d.alert.camera_id == camera.camera_id)
                        )
                await asyncio.to_thread(acknowledge, browser, *sent)
                acked_at = utcnow()
            assert sent[0].ack_deadline is not None and acked_at < sent[0].ack_deadline, (
                "acknowledged after the deadline: the machine was too slow to prove anything"
            )
            await then.wait_for(dispatched(control.camera_id, level=1), 90)
            assert not dispatched(acked.camera_id)(await then.caught_up())
            await first.stop()
            await then.stop()
        worker.check_alive()
    finally:
        worker.stop()
