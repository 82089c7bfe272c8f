"""Fixtures of the A2I suite (the world itself: tests/a2i/world.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from tests.a2i.world import A2iWorld


@pytest.fixture
def world() -> Iterator[A2iWorld]:
    with mock_aws():
        yield A2iWorld()
