"""A business onboards through its pages in a real headless browser (Debian's chromium and
chromium-driver, through selenium), on a phone's viewport: it signs in with its key, registers a
site whose devices are a simulated ONVIF camera and a simulated Hikvision NVR, the edge agent runs
the site file the page showed, the page (reloaded) shows the cameras online; the business confirms
one, makes it public, sees it in ``/public/cameras``, revokes it and sees it gone. The hub's
ingest worker is real; the cameras' passwords appear in no page. Leaves docs/business.png."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from api_server import RunningApi, api_settings, running_api
from browser import PHONE, chromium, navigate
from conftest import Principals
from edge_site import (
    DOME_CREDENTIAL,
    NVR_CREDENTIAL,
    SITE_CAMERAS,
    Devices,
    edge_agent,
    ingest_worker,
    new_business,
    simulated_devices,
    site_passwords,
)
from test_edge_agent import running

from topics.access.roles import api_role

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "business.png"
SITE = "jalan-pemuda"


def wait_page(browser: Any, shows: Callable[[Any], Any], what: str, timeout_s: float = 90) -> Any:
    """Reloads the page until ``shows`` finds what it looks for in it."""
    deadline = time.monotonic() + timeout_s
    while not (found := shows(browser)):
        assert time.monotonic() < deadline, f"the page never showed {what}"
        time.sleep(0.3)
        browser.refresh()
    return found


def fits_a_phone(browser: Any) -> bool:
    width = browser.execute_script("return document.documentElement.scrollWidth")
    return bool(browser.execute_script("return window.innerWidth") == PHONE[0] >= width)


def register_site(browser: Any, api: RunningApi, key: str, devices: Devices) -> tuple[str, str]:
    """Signs in and registers the site on the page; the site file and command the page shows."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select

    browser.get(f"{api.url}/business?lang=id")
    browser.find_element(By.ID, "key").send_keys(key)
    navigate(browser, browser.find_element(By.ID, "sign-in"))
    assert browser.find_element(By.ID, "no-cameras")
    assert fits_a_phone(browser)
    form = browser.find_element(By.ID, "register")
    form.find_element(By.NAME, "site_id").send_keys(SITE)
    form.find_element(By.NAME, "name").send_keys("Toko Sinar")
    rows = (("hikvision", devices.nvr, NVR_CREDENTIAL), ("onvif", devices.dome, DOME_CREDENTIAL))
    for n, (kind, address, credential) in enumerate(rows):
        Select(form.find_element(By.NAME, f"kind-{n}")).select_by_value(kind)
        form.find_element(By.NAME, f"address-{n}").send_keys(address)
        form.find_element(By.NAME, f"credential-{n}").send_keys(credential)
    navigate(browser, browser.find_element(By.ID, "register-site"))
    assert browser.current_url.endswith(f"/business/sites/{SITE}")
    assert fits_a_phone(browser)
    text = "return document.getElementById(arguments[0]).textContent"
    return browser.execute_script(text, "site-file"), browser.execute_script(text, "command")


def online_cameras(browser: Any) -> list[str] | None:
    """The ids of the cameras the page lists, once all the site's are online."""
    from selenium.webdriver.common.by import By

    cards = browser.find_elements(By.CSS_SELECTOR, ".camera")
    online = browser.find_elements(By.CSS_SELECTOR, ".camera .status.online")
    if len(cards) == len(online) == SITE_CAMERAS:
        return [card.get_attribute("id") for card in cards]
    return None


def share_publicly(browser: Any, api: RunningApi, camera_id: str) -> None:
    """Confirms the camera and makes it public on the page, until ``/public/cameras`` has it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select

    card = browser.find_element(By.ID, camera_id)
    assert "Belum dikonfirmasi" in card.text
    navigate(browser, card.find_element(By.CLASS_NAME, "confirm"))
    card = browser.find_element(By.ID, camera_id)
    assert "Dikonfirmasi" in card.text and not card.find_elements(By.CLASS_NAME, "confirm")
    Select(card.find_element(By.NAME, "sharing")).select_by_value("public")
    Select(card.find_element(By.NAME, "kecamatan")).select_by_value("Semarang Tengah")
    name = card.find_element(By.NAME, "name")
    name.clear()
    name.send_keys("Pintu depan")
    navigate(browser, card.find_element(By.CLASS_NAME, "save"))
    card = browser.find_element(By.ID, camera_id)
    assert "Pintu depan" in card.text and "Publik" in card.text and "Semarang Tengah" in card.text
    assert fits_a_phone(browser)
    assert browser.save_screenshot(str(SCREENSHOT))
    browser.get(f"{api.url}/public/cameras")
    wait_page(browser, lambda b: camera_id in b.page_source, "the camera in the public catalog")


def revoke(browser: Any, api: RunningApi, camera_id: str) -> None:
    """Revokes the camera on the page, until ``/public/cameras`` no longer has it."""
    from selenium.webdriver.common.by import By

    browser.get(f"{api.url}/business")
    navigate(browser, browser.find_element(By.ID, camera_id).find_element(By.CLASS_NAME, "revoke"))
    assert not browser.find_elements(By.ID, camera_id)
    assert len(browser.find_elements(By.CSS_SELECTOR, ".camera")) == SITE_CAMERAS - 1
    browser.get(f"{api.url}/public/cameras")
    wait_page(browser, lambda b: camera_id not in b.page_source, "the camera gone from the catalog")


@pytest.mark.timeout(600)
async def test_a_business_onboards_on_a_phone_shares_a_camera_publicly_and_revokes_it(
    kafka_bootstrap: str,
    kafka_principals: Principals,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    business = await new_business(kafka_bootstrap, tmp_path / "tenant.properties")
    passwords = site_passwords(monkeypatch)
    worker = ingest_worker(kafka_bootstrap, kafka_principals, tmp_path)
    pages: list[str] = []
    worker.start()
    try:
        await worker.wait_ready(120)
        settings = api_settings(kafka_principals.issue(api_role()))
        with running_api(settings) as api, chromium(phone=PHONE) as browser:
            # The browser blocks: it runs in a thread, the site's devices and agent here.
            async def in_browser(step: Callable[..., Any], *args: Any) -> Any:
                done = await asyncio.to_thread(step, browser, *args)
                pages.append(browser.page_source)
                return done

            async with simulated_devices(passwords) as devices:
                site_file, command = await in_browser(register_site, api, business.key, devices)
                assert command == f"tilik edge run --config {SITE}.yaml"
                assert "credential_ref: admin@env:TILIK_CAMERA_SECRET_E2E_NVR" in site_file
                agent = edge_agent(site_file, business, tmp_path, lambda _: None)
                async with running(agent):
                    await asyncio.to_thread(browser.get, f"{api.url}/business")
                    found = await in_browser(wait_page, online_cameras, "the site's cameras online")
                    await in_browser(share_publicly, api, found[0])
                    await in_browser(revoke, api, found[0])
            worker.check_alive()
    finally:
        worker.stop()
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for password in passwords.values():
        assert all(password not in page for page in pages)
    assert all(business.key not in page for page in pages)
