"""Fixtures shared by every test: offline AWS settings, sample events, a Lambda context."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

EVENTS = Path(__file__).parent / "events"

# Records the JSONata the controller and backfill executions evaluate (tests/jsonata/test_engines_agree.py).
pytest_plugins = ["tests.jsonata.recording"]

# No test may reach AWS: fake credentials and a fixed region before any client exists.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "POWERTOOLS_METRICS_NAMESPACE": "CustomLabelsPipeline",
        "POWERTOOLS_SERVICE_NAME": "custom-labels-pipeline",
        "POWERTOOLS_DEV": "false",
    }
)


def load_event(name: str) -> dict[str, Any]:
    """A sample event from tests/events/ (real shapes of S3-in-SQS and EventBridge events)."""
    data: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return data


@dataclass
class FakeLambdaContext:
    function_name: str = "clp-detect-test"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:111122223333:function:clp-detect-test"
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"
    log_group_name: str = "/aws/lambda/clp-detect-test"
    log_stream_name: str = "2026/11/26/[$LATEST]abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()
