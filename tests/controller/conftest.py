"""Fixtures of the controller suite; the harness fixtures come from the root conftest's plugins
(tests/support/fixtures/controller.py), the world from tests/support/harnesses.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.support.controller_stack import SynthesizedController


@pytest.fixture(scope="session")
def synthesized_controller() -> SynthesizedController:
    """Synthesized once per session: the first synth takes seconds, reading the template milliseconds."""
    from tests.support.controller_stack import synthesize_controller

    return synthesize_controller()
