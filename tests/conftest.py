"""Fixtures shared by every test: offline AWS settings, the shared fixture plugins, a Lambda context."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from tests.support import ids
from tests.support.events import FakeLambdaContext

pytest_plugins = [
    # Records the JSONata the controller and backfill executions evaluate (tests/jsonata/test_engines_agree.py).
    "tests.jsonata.recording",
    # The session's synthesized stack (tests/infra, tests/security, tests/ops).
    "tests.support.fixtures.stack",
    # The controller world: clock, emulator options, model status, harness (tests/controller, tests/ops).
    "tests.support.fixtures.controller",
]

# No test may reach AWS: fake credentials and a fixed region before any client exists.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": ids.REGION,
        "AWS_REGION": ids.REGION,
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "POWERTOOLS_METRICS_NAMESPACE": "CustomLabelsPipeline",
        "POWERTOOLS_SERVICE_NAME": "custom-labels-pipeline",
        "POWERTOOLS_DEV": "false",
    }
)


# The property tests assert what parsing does, not how fast examples are drawn: make test runs them in a worker
# beside the rest of the suite on a shared machine, where one draw was seen to wait 10 s for the CPU (a
# FailedHealthCheck "input generation is slow", nothing about the code under test). Generation speed and
# per-example deadlines are therefore not checked; every property still runs all its examples.
settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("suite")


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()
