"""The agency's inbox page in a real headless browser (Debian's chromium and chromium-driver,
through selenium), on a phone-sized window: sign in with the agency's key, read a dispatch,
acknowledge it in Indonesian, see it acknowledged in English; the acknowledgement is on the
agency's topic. Leaves a screenshot of the page."""

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

from topics import identity
from topics.catalog import ack_spec, dispatch_spec
from topics.client import CatalogProducer, read_records
from topics.examples import example
from topics.models import AlertAck, ApiKeyKind, Dispatch, utcnow

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
