"""DetectCustomLabels: image limits, S3 reads, TPS, transient faults and manifest replay."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localrun.clock import ManualClock
from localrun.emulator import CustomLabelsEmulator, Faults, Manifest
from tests.support.emulator import BUCKET, PROJECT_ARN, VERSION_ARN, assert_valid_output, version_arn
from tests.support.images import image, noise


def _detect_bytes(rek: Any, data: bytes, **kwargs: Any) -> dict[str, Any]:
    response: dict[str, Any] = rek.detect_custom_labels(ProjectVersionArn=VERSION_ARN, Image={"Bytes": data}, **kwargs)
    return response


def _detect_s3(rek: Any, key: str, version: str | None = None, **kwargs: Any) -> dict[str, Any]:
    s3_object = {"Bucket": BUCKET, "Name": key} | ({"Version": version} if version else {})
    response: dict[str, Any] = rek.detect_custom_labels(
        ProjectVersionArn=VERSION_ARN, Image={"S3Object": s3_object}, **kwargs
    )
    return response


def _error_code(rek: Any, call: Any) -> str:
    try:
        call()
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return "no error"


# -- image limits -----------------------------------------------------------------------------


def _truncated_jpeg() -> bytes:
    # Noise does not compress, so cutting the file in half really loses scan data.
    data = noise("JPEG", (128, 128), bytes(range(256)) * 192, quality=95)
    return data[: len(data) // 2]


INLINE_CASES = {
    "64px PNG": (image(size=(64, 64)), None),
    "4096x64 PNG": (image(size=(4096, 64)), None),
    "JPEG": (image("JPEG", (100, 80)), None),
    "32px PNG": (image(size=(32, 32)), "InvalidParameterException"),
    "5000px wide PNG": (image(size=(5000, 64)), "InvalidParameterException"),
    "63px tall JPEG": (image("JPEG", (100, 63)), "InvalidParameterException"),
    "truncated JPEG": (_truncated_jpeg(), "InvalidImageFormatException"),
    "GIF": (image("GIF"), "InvalidImageFormatException"),
    "BMP": (image("BMP"), "InvalidImageFormatException"),
    "WebP": (image("WEBP"), "InvalidImageFormatException"),
    "text": (b"just some notes\n", "InvalidImageFormatException"),
    "PNG magic only": (b"\x89PNG\r\n\x1a\n", "InvalidImageFormatException"),
}


@pytest.mark.parametrize("case", list(INLINE_CASES))
def test_inline_image_limits(rek: Any, start_running: Any, case: str) -> None:
    # Given a running model and an inline image
    start_running()
    data, expected = INLINE_CASES[case]
    # When detected, Then the documented limit decides the outcome
    if expected is None:
        assert_valid_output("DetectCustomLabels", _detect_bytes(rek, data))
    else:
        assert _error_code(rek, lambda: _detect_bytes(rek, data)) == expected


def test_inline_bytes_over_4_mib_are_too_large_and_over_5_mib_fail_validation(rek: Any, start_running: Any) -> None:
    start_running()
    big = image(size=(1300, 1200), compress_level=0)  # ~4.5 MiB
    assert 4 * 2**20 < len(big) < 5 * 2**20
    assert _error_code(rek, lambda: _detect_bytes(rek, big)) == "ImageTooLargeException"
    huge = b"\x89PNG\r\n\x1a\n" + bytes(5 * 2**20)
    assert _error_code(rek, lambda: _detect_bytes(rek, huge)) == "ValidationException"


def test_s3_limits_and_missing_objects(emu: CustomLabelsEmulator, rek: Any, s3: Any, start_running: Any) -> None:
    # Given a running model (with TPS to spare) and objects in a versioned bucket
    emu.set_tps(VERSION_ARN, 100.0)
    start_running()
    s3.put_object(Bucket=BUCKET, Key="ok.png", Body=image())
    s3.put_object(Bucket=BUCKET, Key="empty.png", Body=b"")
    s3.put_object(Bucket=BUCKET, Key="notes.txt", Body=b"hello")
    sixteen_mb = image(size=(2400, 2400), compress_level=0)
    assert len(sixteen_mb) > 15 * 2**20
    s3.put_object(Bucket=BUCKET, Key="big.png", Body=sixteen_mb)
    # When each is detected, Then
    assert _detect_s3(rek, "ok.png")["CustomLabels"] == []
    assert _error_code(rek, lambda: _detect_s3(rek, "empty.png")) == "InvalidImageFormatException"
    assert _error_code(rek, lambda: _detect_s3(rek, "notes.txt")) == "InvalidImageFormatException"
    assert _error_code(rek, lambda: _detect_s3(rek, "big.png")) == "ImageTooLargeException"
    assert _error_code(rek, lambda: _detect_s3(rek, "absent.png")) == "InvalidS3ObjectException"
    assert _error_code(rek, lambda: _detect_s3(rek, "ok.png", version="nosuchversion")) == "InvalidS3ObjectException"
    missing_bucket = rek.detect_custom_labels
    assert (
        _error_code(
            rek,
            lambda: missing_bucket(
                ProjectVersionArn=VERSION_ARN, Image={"S3Object": {"Bucket": "nobucket", "Name": "k"}}
            ),
        )
        == "InvalidS3ObjectException"
    )


def test_the_requested_s3_version_is_read(
    emu: CustomLabelsEmulator, rek: Any, s3: Any, start_running: Any, dataset: dict[str, Any]
) -> None:
    # Given a labelled image overwritten by an unknown one under the same key
    emu.add_model(
        project_arn=PROJECT_ARN, project_version_arn=version_arn(1), manifest=dataset["manifest"], status="RUNNING"
    )
    v1 = s3.put_object(Bucket=BUCKET, Key="a.png", Body=dataset["images"]["rotten"])["VersionId"]
    s3.put_object(Bucket=BUCKET, Key="a.png", Body=image(colour=(1, 2, 3)))

    def detect(version: str | None) -> list[str]:
        s3_object = {"Bucket": BUCKET, "Name": "a.png"} | ({"Version": version} if version else {})
        response = rek.detect_custom_labels(ProjectVersionArn=version_arn(1), Image={"S3Object": s3_object})
        return [label["Name"] for label in response["CustomLabels"]]

    # When detected with and without the version, Then the version decides which bytes are read
    assert detect(v1) == ["rotten"]
    assert detect(None) == []


def test_an_injected_s3_client_is_used(s3: Any, clock: ManualClock) -> None:
    # Given an emulator outside any context manager with an explicit S3 client
    s3.put_object(Bucket=BUCKET, Key="x.png", Body=image())
    calls: list[str] = []
    s3.meta.events.register("before-call.s3.GetObject", lambda **_: calls.append("get"))
    emu = CustomLabelsEmulator(clock=clock, s3_client=s3)
    emu.add_model(project_arn=PROJECT_ARN, project_version_arn=VERSION_ARN, status="RUNNING")
    # When detecting, Then that client fetched the object
    emu.detect_custom_labels(ProjectVersionArn=VERSION_ARN, Image={"S3Object": {"Bucket": BUCKET, "Name": "x.png"}})
    assert calls == ["get"]


# -- replaying the manifest -------------------------------------------------------------------


@pytest.fixture
def labelled(emu: CustomLabelsEmulator, dataset: dict[str, Any], clock: ManualClock) -> dict[str, bytes]:
    """A RUNNING model whose labels come from the dataset manifest."""
    emu.add_model(
        project_arn=PROJECT_ARN, project_version_arn=version_arn(1), manifest=dataset["manifest"], status="RUNNING"
    )
    images: dict[str, bytes] = dataset["images"]
    return images


def _labels(rek: Any, data: bytes, **kwargs: Any) -> list[tuple[str, float]]:
    response = rek.detect_custom_labels(ProjectVersionArn=version_arn(1), Image={"Bytes": data}, **kwargs)
    assert_valid_output("DetectCustomLabels", response)
    return [(label["Name"], label["Confidence"]) for label in response["CustomLabels"]]


def test_labels_are_matched_by_content_and_filtered_by_the_assumed_threshold(
    rek: Any, labelled: dict[str, bytes]
) -> None:
    # When a known image is detected without MinConfidence
    # Then labels below the assumed threshold (50) are dropped: "raw" (20) is not returned
    assert _labels(rek, labelled["mixed"]) == [("ripe", 90.0)]
    # And with MinConfidence 0 every label comes back, highest confidence first
    assert _labels(rek, labelled["mixed"], MinConfidence=0) == [("ripe", 90.0), ("raw", 20.0)]
    # And an unknown image has no labels
    assert _labels(rek, image(colour=(9, 9, 9))) == []


def test_min_confidence_and_max_results(rek: Any, labelled: dict[str, bytes]) -> None:
    assert _labels(rek, labelled["boxes"], MinConfidence=61) == [("apple", 95.0)]
    assert _labels(rek, labelled["boxes"], MinConfidence=10, MaxResults=1) == [("apple", 95.0)]
    assert _labels(rek, labelled["boxes"], MinConfidence=10) == [("apple", 95.0), ("pear", 60.0)]


def test_detection_labels_carry_bounding_boxes_as_ratios(rek: Any, labelled: dict[str, bytes]) -> None:
    response = rek.detect_custom_labels(ProjectVersionArn=version_arn(1), Image={"Bytes": labelled["boxes"]})
    apple, pear = response["CustomLabels"]
    assert apple["Geometry"]["BoundingBox"] == {"Width": 0.25, "Height": 0.4, "Left": 0.1, "Top": 0.1}
    assert pear["Geometry"]["BoundingBox"] == {"Width": 0.5, "Height": 0.5, "Left": 0.5, "Top": 0.5}


def test_same_content_under_another_key_gets_the_same_labels(
    rek: Any, s3: Any, labelled: dict[str, bytes], dataset: dict[str, Any]
) -> None:
    # Given the reference image uploaded under a new name, and the s3:// reference image
    s3.put_object(Bucket=BUCKET, Key="uploads/renamed.jpg", Body=labelled["rotten"])
    s3.put_object(Bucket=BUCKET, Key="reference/remote.jpg", Body=image(colour=(5, 5, 5)))

    def by_key(key: str) -> list[str]:
        response = rek.detect_custom_labels(
            ProjectVersionArn=version_arn(1), Image={"S3Object": {"Bucket": BUCKET, "Name": key}}
        )
        return [label["Name"] for label in response["CustomLabels"]]

    # Then content matching finds the local reference, and bucket/key matching the s3:// one
    assert by_key("uploads/renamed.jpg") == ["rotten"]
    assert by_key("reference/remote.jpg") == ["raw"]


def test_repeated_calls_give_identical_answers(rek: Any, labelled: dict[str, bytes]) -> None:
    assert _labels(rek, labelled["boxes"], MinConfidence=0) == _labels(rek, labelled["boxes"], MinConfidence=0)


def test_manifest_can_be_passed_parsed(clock: ManualClock, dataset: dict[str, Any]) -> None:
    emu = CustomLabelsEmulator(clock=clock)
    emu.add_model(
        project_arn=PROJECT_ARN,
        project_version_arn=VERSION_ARN,
        manifest=Manifest.load(dataset["manifest"]),
        status="RUNNING",
    )
    response = emu.detect_custom_labels(ProjectVersionArn=VERSION_ARN, Image={"Bytes": dataset["images"]["rotten"]})
    assert [label["Name"] for label in response["CustomLabels"]] == ["rotten"]


# -- throughput and transient faults ---------------------------------------------------------


def test_tps_limit_is_per_inference_unit_over_a_sliding_second(
    emu: CustomLabelsEmulator, rek: Any, clock: ManualClock, start_running: Any
) -> None:
    # Given 2 TPS per IU and 2 IUs: 4 calls per second
    emu.set_tps(VERSION_ARN, 2.0)
    start_running(units=2)
    png = image()
    # When 5 calls arrive within the same second, Then the 5th is over the limit
    for _ in range(4):
        _detect_bytes(rek, png)
    with pytest.raises(rek.exceptions.ProvisionedThroughputExceededException):
        _detect_bytes(rek, png)
    # When half a second passes, Then the window still holds 4 calls
    clock.advance(0.5)
    assert _error_code(rek, lambda: _detect_bytes(rek, png)) == "ProvisionedThroughputExceededException"
    # When the second has passed, Then calls are admitted again
    clock.advance(0.5)
    assert _detect_bytes(rek, png)["CustomLabels"] == []


def test_set_tps_changes_the_limit_at_run_time(
    emu: CustomLabelsEmulator, rek: Any, clock: ManualClock, start_running: Any
) -> None:
    start_running()
    emu.set_tps(VERSION_ARN, 1.0)
    png = image()
    _detect_bytes(rek, png)
    assert _error_code(rek, lambda: _detect_bytes(rek, png)) == "ProvisionedThroughputExceededException"
    emu.set_tps(VERSION_ARN, 10.0)
    assert _detect_bytes(rek, png)["CustomLabels"] == []


def test_transient_errors_hit_a_seeded_fraction_of_calls(clock: ManualClock) -> None:
    # Given a running model where 30% of DetectCustomLabels calls fail transiently
    def outcomes() -> Counter[str]:
        emu = CustomLabelsEmulator(clock=clock, faults=Faults(transient_error_rate=0.3, seed=7))
        emu.add_model(
            project_arn=PROJECT_ARN, project_version_arn=VERSION_ARN, status="RUNNING", tps_per_inference_unit=1e6
        )
        png = image()
        seen: Counter[str] = Counter()
        for _ in range(200):
            try:
                emu.detect_custom_labels(ProjectVersionArn=VERSION_ARN, Image={"Bytes": png})
                seen["ok"] += 1
            except ClientError as exc:
                seen[exc.response["Error"]["Code"]] += 1
        # Describe is not in transient_operations by default, so it never fails
        emu.describe_project_versions(ProjectArn=PROJECT_ARN)
        return seen

    first, second = outcomes(), outcomes()
    # Then both error codes appear, in roughly that fraction, identically for the same seed
    assert first == second
    assert set(first) == {"ok", "ThrottlingException", "InternalServerError"}
    assert 40 <= first["ThrottlingException"] + first["InternalServerError"] <= 80


def test_concurrent_detects_are_all_accounted_for(rek: Any, emu: CustomLabelsEmulator, start_running: Any) -> None:
    # Given a running model with room for every call
    emu.set_tps(VERSION_ARN, 1000.0)
    start_running()
    png = image()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(10):
                _detect_bytes(rek, png)
        except BaseException as exc:
            errors.append(exc)

    # When four threads share one client
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every call succeeded and was counted
    assert errors == []
    assert emu.calls["DetectCustomLabels"] == 40
