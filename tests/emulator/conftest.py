"""Fixtures for the Custom Labels emulator tests: clock, moto, emulator, clients, images."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import handlers as botocore_handlers
from moto import mock_aws

from localrun import intercept
from localrun.clock import ManualClock
from localrun.emulator import CustomLabelsEmulator, hook as emulator_hook
from tests.support.emulator import BUCKET, PROJECT_ARN, REGION, START_DELAY, STOP_DELAY, VERSION_ARN
from tests.support.images import image


@pytest.fixture(autouse=True)
def _no_emulator_leaks() -> Iterator[None]:
    """Every test must leave no active emulator and no handler in botocore's BUILTIN_HANDLERS."""
    yield
    assert emulator_hook.active_responder() is None
    ours = [interception.spec for interception in emulator_hook._INTERCEPTIONS]
    assert not [spec for spec in botocore_handlers.BUILTIN_HANDLERS if spec in ours]
    assert intercept.installed() == []


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto for S3 (and anything else); the emulator answers rekognition."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


@pytest.fixture
def emu(aws: None, clock: ManualClock) -> Iterator[CustomLabelsEmulator]:
    """An active emulator with one STOPPED model (no manifest) on a manual clock."""
    with CustomLabelsEmulator(clock=clock, start_delay_seconds=START_DELAY, stop_delay_seconds=STOP_DELAY) as emulator:
        emulator.add_model(project_arn=PROJECT_ARN, project_version_arn=VERSION_ARN)
        yield emulator


@pytest.fixture
def rek(emu: CustomLabelsEmulator) -> Any:
    """A plain boto3 rekognition client, created the way product code creates one."""
    return boto3.client("rekognition", region_name=REGION)


@pytest.fixture
def s3(aws: None) -> Any:
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET)
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return client


@pytest.fixture
def start_running(rek: Any, clock: ManualClock) -> Callable[..., None]:
    """Start a model through the API and move the clock until it is RUNNING."""

    def _start(arn: str = VERSION_ARN, units: int = 1) -> None:
        rek.start_project_version(ProjectVersionArn=arn, MinInferenceUnits=units)
        clock.advance(START_DELAY)

    return _start


@pytest.fixture
def dataset(tmp_path: Path) -> dict[str, Any]:
    """Reference images on disk and a manifest with all three label types.

    - ``rotten``: image classification (metadata confidence 0.87);
    - ``mixed``: multi-label (ripe + raw, confidence-map 0.9 / 0.2);
    - ``boxes``: object detection, two boxes on a 200x100 image (confidences 0.95 / 0.6);
    - ``remote``: an s3:// source-ref, matched by bucket/key.
    """
    images = {
        "rotten": image("PNG", colour=(120, 80, 10)),
        "mixed": image("JPEG", colour=(30, 160, 30), quality=90),
        "boxes": image("PNG", (200, 100), (10, 10, 200)),
    }
    (tmp_path / "imgs").mkdir()
    for name, data in images.items():
        (tmp_path / "imgs" / f"{name}.img").write_bytes(data)
    lines = [
        {
            "source-ref": "imgs/rotten.img",
            "quality": 1,
            "quality-metadata": {
                "class-name": "rotten",
                "confidence": 0.87,
                "type": "groundtruth/image-classification",
                "human-annotated": "yes",
            },
        },
        {
            "source-ref": "imgs/mixed.img",
            "produce": [0, 2],
            "produce-metadata": {
                "class-map": {"0": "ripe", "1": "rotten", "2": "raw"},
                "confidence-map": {"0": 0.9, "2": 0.2},
                "type": "groundtruth/image-classification-multilabel",
            },
        },
        {
            "source-ref": "imgs/boxes.img",
            "bounding-box": {
                "image_size": [{"width": 200, "height": 100, "depth": 3}],
                "annotations": [
                    {"class_id": 0, "left": 20, "top": 10, "width": 50, "height": 40},
                    {"class_id": 1, "left": 100, "top": 50, "width": 100, "height": 50},
                ],
            },
            "bounding-box-metadata": {
                "class-map": {"0": "apple", "1": "pear"},
                "objects": [{"confidence": 0.95}, {"confidence": 0.6}],
                "type": "groundtruth/object-detection",
            },
        },
        {
            "source-ref": f"s3://{BUCKET}/reference/remote.jpg",
            "quality": 0,
            "quality-metadata": {"class-name": "raw", "confidence": 0.75, "type": "groundtruth/image-classification"},
        },
    ]
    manifest = tmp_path / "output.manifest"
    manifest.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return {"manifest": manifest, "images": images, "dir": tmp_path}
