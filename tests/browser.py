"""Debian's headless chromium through chromium-driver and selenium, for the pages' tests: a phone's
viewport or a desktop window, and a click that waits for the page it leads to."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
PHONE = (390, 844)


@contextmanager
def chromium(
    *, phone: tuple[int, int] | None = None, window: tuple[int, int] = (1280, 900)
) -> Iterator[Any]:
    """A headless browser with a phone's viewport (``phone``: width, height) or a desktop
    ``window``; skips the test where chromium or its driver is missing."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("needs Debian's chromium and chromium-driver (.ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    if phone is not None:
        # A phone's viewport (a desktop window cannot be made this narrow).
        options.add_experimental_option(
            "mobileEmulation",
            {"deviceMetrics": {"width": phone[0], "height": phone[1], "pixelRatio": 2}},
        )
    else:
        options.add_argument(f"--window-size={window[0]},{window[1]}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(10)
    try:
        yield driver
    finally:
        driver.quit()


def navigate(browser: Any, clicked: Any) -> None:
    """Click, and wait until the browser shows the whole page that answered (a new document:
    the mark set on the old one is gone)."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.wait import WebDriverWait

    browser.execute_script("window.tilikBefore = true")
    clicked.click()
    WebDriverWait(browser, 15, ignored_exceptions=(WebDriverException,)).until(
        lambda b: b.execute_script(
            "return window.tilikBefore === undefined && document.readyState === 'complete'"
        )
    )
