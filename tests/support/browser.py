"""Debian's headless chromium driven by Selenium, for the HTML case report tests.

Both binaries are passed by path (``/usr/bin/chromium``, ``/usr/bin/chromedriver``): Selenium Manager,
which would download a driver, is never asked. Each browser gets a fresh profile in a temporary directory
and logs every network event (``goog:loggingPrefs`` performance), so that a test can list the requests a
page made. Without chromium, chromedriver or selenium the tests skip (fail in CI: :mod:`tests.support.ci`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from tests.support.ci import skip_or_fail
from tests.support.paths import REPO

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = REPO / "test-artifacts" / "browser"
WINDOW = (1400, 1000)

T = TypeVar("T")


class Browser:
    """One chromium session: open a report, read its DOM, its network requests and its console."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    def open(self, path: Path, timeout: float = 10.0) -> float:
        """Open ``path`` (file://), wait for ``body[data-ready]``; return the page's own render ms."""
        self.drain()
        self.driver.get(path.resolve().as_uri())
        ready = self.wait(
            lambda: self.js("return document.body.dataset.ready || null"), timeout, "data-ready"
        )
        assert ready == "true", f"the page did not render: data-ready={ready!r}: {self.text('#app')}"
        return float(self.js("return Number(document.body.dataset.renderMs)"))

    def wait(self, probe: Callable[[], T | None], timeout: float = 5.0, what: str = "condition") -> T:
        """Poll ``probe`` until it returns something truthy; AssertionError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            found = probe()
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            time.sleep(0.05)

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def all(self, css: str) -> list[Any]:
        return list(self.driver.find_elements("css selector", css))

    def one(self, css: str) -> Any:
        return self.driver.find_element("css selector", css)

    def testids(self, name: str) -> list[Any]:
        return self.all(f'[data-testid="{name}"]')

    def testid(self, name: str) -> Any:
        return self.one(f'[data-testid="{name}"]')

    def text(self, css: str) -> str:
        """The text content of the first element matching ``css`` (also what is scrolled or clipped)."""
        return str(
            self.js("const e = document.querySelector(arguments[0]); return e ? e.textContent : ''", css)
        )

    def click(self, element: Any) -> None:
        """A real click, the element scrolled into view first."""
        self.js("arguments[0].scrollIntoView({block: 'center'})", element)
        element.click()

    def click_at(self, element: Any, dx: int, dy: int) -> None:
        """A real click ``dx``, ``dy`` CSS pixels from the element's centre."""
        from selenium.webdriver.common.action_chains import ActionChains

        ActionChains(self.driver).move_to_element_with_offset(element, dx, dy).click().perform()

    def type_into(self, element: Any, text: str) -> None:
        element.clear()
        element.send_keys(text)

    def screenshot(self, name: str) -> Path:
        """Save the viewport as test-artifacts/browser/NAME.png."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def full_page_screenshot(self, name: str) -> Path:
        """The whole page (window made as tall as the document), then the window size restored."""
        height = int(self.js("return document.documentElement.scrollHeight"))
        self.driver.set_window_size(WINDOW[0], height + 120)
        try:
            return self.screenshot(name)
        finally:
            self.driver.set_window_size(*WINDOW)

    def requests(self) -> list[str]:
        """URLs of every request the page started since the last call (Network.requestWillBeSent)."""
        urls = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                urls.append(str(message["params"]["request"]["url"]))
        return urls

    def console_errors(self) -> list[str]:
        """SEVERE entries of the browser console since the last call (JS errors, CSP violations)."""
        return [str(e["message"]) for e in self.driver.get_log("browser") if e.get("level") == "SEVERE"]

    def drain(self) -> None:
        """Forget the logs so far (the next page starts with empty ones)."""
        self.driver.get_log("performance")
        self.driver.get_log("browser")


def _options(profile: str) -> Any:
    from selenium.webdriver import ChromeOptions

    options = ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        f"--user-data-dir={profile}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--force-device-scale-factor=1",
        "--hide-scrollbars",
        "--remote-debugging-pipe",  # the driver talks to chromium over a pipe: no name or port to resolve
    ):
        options.add_argument(flag)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # chromium refuses to run as root with its sandbox
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    return options


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless chromium (skipped, or failed in CI, when it or selenium is missing); always quit."""
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        skip_or_fail("selenium is not installed (pip install selenium)")
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not os.access(binary, os.X_OK):
            skip_or_fail(f"{binary} is missing (apt-get install chromium chromium-driver)")
    profile = tempfile.mkdtemp(prefix="exectrail-chromium-")
    try:
        try:
            driver = webdriver.Chrome(
                options=_options(profile), service=_loopback(Service)(str(CHROMEDRIVER))
            )
        except WebDriverException as error:
            skip_or_fail(f"chromium did not start: {error.msg}")
        try:
            driver.set_window_size(*WINDOW)
            yield Browser(driver)
        finally:
            driver.quit()
            _wait_gone(profile)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def _loopback(service: type[Any]) -> type[Any]:
    """``service`` reached at 127.0.0.1, not at the name ``localhost``: a minimal Debian root (a
    debootstrap'd one, say) has no /etc/hosts, and Selenium would wait for the driver in vain."""

    class Loopback(service):  # type: ignore[misc]
        @property
        def service_url(self) -> str:
            return f"http://127.0.0.1:{self.port}"

        def is_connectable(self) -> bool:
            from selenium.webdriver.common import utils

            return bool(utils.is_connectable(self.port, "127.0.0.1"))

    return Loopback


def _wait_gone(profile: str, timeout: float = 10.0) -> None:
    """Wait until no process of this browser (its profile directory on the command line) is left."""
    marker = f"--user-data-dir={profile}".encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = False
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                alive = marker in cmdline.read_bytes()
            except OSError:
                continue
            if alive:
                break
        if not alive:
            return
        time.sleep(0.1)
    raise AssertionError(f"chromium processes with {profile} are still running {timeout} s after quit")
