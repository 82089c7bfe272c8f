"""Fixtures of the operator commands: the "deployed" stack in moto (tests/support/deployed.py) around the
controller harness (a root-conftest plugin), and a user's account behind Stubbers for ``clp preflight``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from clp import render
from clp.commands import preflight as preflight_command
from tests.support.deployed import Deployed, deployed_stack
from tests.support.harnesses import ControllerHarness
from tests.support.ids import REGION
from tests.support.preflight import StubbedAccount


@pytest.fixture
def deployed(harness: ControllerHarness, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployed]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setattr(render.out, "width", 200)  # tables fold at the runner's 80 columns
    with deployed_stack(harness) as stack:
        yield stack


@pytest.fixture
def account(monkeypatch: pytest.MonkeyPatch) -> Iterator[StubbedAccount]:
    """Real clients behind Stubbers, handed to ``clp preflight`` in place of ``Clients``."""
    world = StubbedAccount()

    def clients(region: str | None) -> StubbedAccount:
        world.regions.append(region)
        return world

    monkeypatch.setattr(preflight_command, "Clients", clients)
    monkeypatch.setattr(render.out, "width", 250)  # tables fold at the runner's 80 columns
    for stub in world.stubs.values():
        stub.activate()
    yield world
    for stub in world.stubs.values():
        stub.deactivate()
