"""Fixtures of the detect handler suite: the world of tests/support/detect.py, with the handler's
environment set and its dependencies replaced by that world's wiring."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lambdas.detect import handler as handler_module
from tests.support.detect import Pipeline, detect_world, handler_environment


@pytest.fixture
def pipeline(monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    with detect_world() as world:
        for name, value in handler_environment(world.queue_url).items():
            monkeypatch.setenv(name, value)
        handler_module.settings.cache_clear()
        monkeypatch.setattr(handler_module, "dependencies", lambda: world.deps)
        yield world
        handler_module.settings.cache_clear()
