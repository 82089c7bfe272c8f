"""The browser of the gallery tests: one headless Chromium for the session (starting one takes about 2 s)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.gallery.browser import Browser


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    chromium = Browser()
    yield chromium
    chromium.close()
