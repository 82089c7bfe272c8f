"""Headless Chromium from Debian's packages, driven by Selenium through Debian's chromedriver.

``make test`` installs both (``apt-get install chromium chromium-driver``, Makefile ``build/.chromium``). Both
paths are given explicitly, so Selenium Manager (which would download a browser or driver) never runs.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from pathlib import Path
from typing import Any

from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# What keeps a headless Chromium quiet and self-contained here: no sandbox (root in a container), no GPU, no
# background network traffic (updates, sync, QUIC probes), one pixel per CSS pixel for the screenshot arithmetic.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
)


class Browser:
    """One Chromium for the session, a fresh profile directory, removed on :meth:`close`."""

    def __init__(self, width: int = 1280, height: int = 1000) -> None:
        for binary in (CHROMIUM, CHROMEDRIVER):
            if not Path(binary).is_file():
                raise RuntimeError(
                    f"{binary} is missing: `make test` installs it (apt-get install chromium chromium-driver)"
                )
        self.profile = tempfile.mkdtemp(prefix="clp-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (*FLAGS, f"--user-data-dir={self.profile}", f"--window-size={width},{height}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))

    def open(self, page: Path) -> None:
        self.driver.get(page.resolve().as_uri())
        self.driver.get_log("browser")  # drop earlier pages' messages

    def console(self) -> list[dict[str, Any]]:
        return list(self.driver.get_log("browser"))

    def script(self, source: str, *args: Any) -> Any:
        return self.driver.execute_script(source, *args)

    def visible_keys(self) -> list[str]:
        """The keys of the cards the page shows now (hidden ones excluded), as the browser lays them out."""
        cards = self.driver.find_elements(By.CSS_SELECTOR, "article.card")
        return sorted(c.find_element(By.CSS_SELECTOR, ".key").text for c in cards if c.is_displayed())

    def select(self, element_id: str, value: str) -> None:
        from selenium.webdriver.support.ui import Select

        Select(self.driver.find_element(By.ID, element_id)).select_by_value(value)

    def type(self, element_id: str, text: str) -> None:
        field = self.driver.find_element(By.ID, element_id)
        field.clear()
        field.send_keys(text)

    def element_image(self, css: str) -> Image.Image:
        """A screenshot of the first element matching ``css``, scrolled into view, as an RGB image."""
        element = self.driver.find_element(By.CSS_SELECTOR, css)
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        self.wait_for_images()
        return Image.open(io.BytesIO(element.screenshot_as_png)).convert("RGB")

    def wait_for_images(self) -> None:
        """Until every image in the viewport has loaded (the page loads thumbnails lazily, as they come into view)."""
        self.driver.execute_script(
            "const inView = i => { const r = i.getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight; };"
            "return Promise.all(Array.from(document.images).filter(i => inView(i) && !i.complete)"
            ".map(i => new Promise(r => { i.onload = i.onerror = r; })))"
        )

    def close(self) -> None:
        self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)
