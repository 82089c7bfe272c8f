"""Constants and helpers shared by the emulator tests (fixtures live in conftest.py)."""

from __future__ import annotations

import io
from typing import Any

from botocore.validate import ParamValidator
from PIL import Image

from localrun.emulator.service import operation_model

REGION = "us-east-1"
PROJECT_ARN = "arn:aws:rekognition:us-east-1:111122223333:project/produce-quality/1767225600000"
VERSION_ARN = (
    "arn:aws:rekognition:us-east-1:111122223333:project/produce-quality/version/"
    "produce-quality.2026-01-01T00.00.00/1767225600000"
)
BUCKET = "clp-uploads-test"
START_DELAY = 300.0
STOP_DELAY = 60.0


def version_arn(n: int) -> str:
    """A version ARN of PROJECT_ARN created ``n`` days after 2026-01-01."""
    ms = 1767225600000 + n * 86_400_000
    return f"arn:aws:rekognition:us-east-1:111122223333:project/produce-quality/version/produce-quality.v{n}/{ms}"


def image_bytes(fmt: str = "PNG", width: int = 64, height: int = 64, color: Any = (200, 30, 30), **save: Any) -> bytes:
    """Encode a solid-colour image; different colours give different bytes (and SHA-256)."""
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, fmt, **save)
    return buf.getvalue()


def assert_valid_output(operation: str, response: dict[str, Any]) -> None:
    """Check a response against the operation's output shape in botocore's service model."""
    body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    shape = operation_model(operation).output_shape
    assert shape is not None
    report = ParamValidator().validate(body, shape)
    assert not report.has_errors(), report.generate_report()
    assert set(body) <= set(shape.members), f"unexpected keys {set(body) - set(shape.members)}"
