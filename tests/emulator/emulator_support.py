"""Moved to :mod:`tests.support.emulator` (constants, checks) and :mod:`tests.support.images` (the image factory).

Kept only for tests/emulator/conftest.py and tests/emulator/test_emulator_hook.py, which still import from
here: once they import from tests.support, delete this module.
"""

from __future__ import annotations

from typing import Any

from tests.support.emulator import (
    BUCKET as BUCKET,
    PROJECT_ARN as PROJECT_ARN,
    REGION as REGION,
    START_DELAY as START_DELAY,
    STOP_DELAY as STOP_DELAY,
    VERSION_ARN as VERSION_ARN,
    assert_valid_output as assert_valid_output,
    version_arn as version_arn,
)
from tests.support.images import RED, image


def image_bytes(fmt: str = "PNG", width: int = 64, height: int = 64, color: Any = RED, **save: Any) -> bytes:
    """:func:`tests.support.images.image` under its old name and signature."""
    return image(fmt, (width, height), color, **save)
