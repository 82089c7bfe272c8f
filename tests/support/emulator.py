"""Constants and checks of the Custom Labels emulator tests (their fixtures live in tests/emulator/conftest.py).

The emulator serves cdk.json's sample model: :data:`PROJECT_ARN` and :data:`VERSION_ARN`.
"""

from __future__ import annotations

from typing import Any

from botocore.validate import ParamValidator

from localrun.emulator.service import operation_model
from tests.support import ids

REGION = ids.REGION
PROJECT_ARN = ids.SAMPLE_PROJECT_ARN
VERSION_ARN = ids.SAMPLE_VERSION_ARN
BUCKET = ids.BUCKET
START_DELAY = 300.0
STOP_DELAY = 60.0
_DAY_MS = 86_400_000


def version_arn(n: int) -> str:
    """A version ARN of PROJECT_ARN created ``n`` days after 2026-01-01."""
    timestamp = str(int(ids.TIMESTAMP) + n * _DAY_MS)
    return ids.version_arn(ids.MODEL, f"{ids.MODEL}.v{n}", account=ids.SAMPLE_ACCOUNT, timestamp=timestamp)


def assert_valid_output(operation: str, response: dict[str, Any]) -> None:
    """Check a response against the operation's output shape in botocore's service model."""
    body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    shape = operation_model(operation).output_shape
    assert shape is not None
    report = ParamValidator().validate(body, shape)
    assert not report.has_errors(), report.generate_report()
    assert set(body) <= set(shape.members), f"unexpected keys {set(body) - set(shape.members)}"
