"""Error classification and the mapping of responses to results, items and event details."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from botocore.exceptions import ClientError

from lambdas.detect.adapters import classify_rekognition_error
from lambdas.detect.errors import ModelNotReadyError, PermanentImageError, RetryableError
from lambdas.detect.mapping import event_detail, label_items, labels_from_response, result_item
from lambdas.detect.models import DetectionResult, ImageRef
from lambdas.review.events import review_requested_detail
from tests.support import ids

ARN = ids.version_arn("p", account=ids.SAMPLE_ACCOUNT)


def _error(code: str, status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": f"{code} happened"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "DetectCustomLabels",
    )


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("InvalidImageFormatException", "InvalidImageFormat"),
        ("ImageTooLargeException", "ImageTooLarge"),
        ("InvalidS3ObjectException", "InvalidS3Object"),
        ("InvalidParameterException", "InvalidParameter"),
    ],
)
def test_permanent_errors_carry_the_reason_without_the_exception_suffix(code: str, reason: str) -> None:
    error = classify_rekognition_error(_error(code))

    assert isinstance(error, PermanentImageError)
    assert error.reason == reason
    assert error.message == f"{code} happened"


def test_model_not_running_is_not_ready_not_permanent() -> None:
    assert isinstance(classify_rekognition_error(_error("ResourceNotReadyException")), ModelNotReadyError)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ThrottlingException", 400),
        ("ProvisionedThroughputExceededException", 400),
        ("InternalServerError", 500),
        ("SomethingNew", 503),
        ("AccessDeniedException", 403),
    ],
)
def test_transient_and_unknown_errors_are_retried(code: str, status: int) -> None:
    assert isinstance(classify_rekognition_error(_error(code, status)), RetryableError)


def _result(labels_response: dict[str, object] | None = None) -> DetectionResult:
    labels = labels_from_response(labels_response or {})
    return DetectionResult(
        image=ImageRef(
            bucket="b",
            key="produce/x y.jpg",
            version_id="v1",
            etag="e",
            size=10,
            uploaded_at=datetime(2026, 11, 26, 1, 2, 3, tzinfo=UTC),
        ),
        model_name="produce-quality",
        project_version_arn=ARN,
        status="DETECTED",
        labels=labels,
        detected_at=datetime(2026, 11, 26, 1, 2, 4, 500000, tzinfo=UTC),
    )


RESPONSE = {
    "CustomLabels": [
        {"Name": "ripe", "Confidence": 71.25},
        {
            "Name": "rotten",
            "Confidence": 97.123456,
            "Geometry": {
                "BoundingBox": {"Width": 0.5, "Height": 0.25, "Left": 0.1, "Top": 0.2},
                "Polygon": [{"X": 0.1, "Y": 0.2}, {"X": 0.6, "Y": 0.2}, {"X": 0.6, "Y": 0.45}],
            },
        },
        {
            "Name": "rotten",
            "Confidence": 80.0,
            "Geometry": {"BoundingBox": {"Width": 1, "Height": 1, "Left": 0, "Top": 0}},
        },
    ]
}


def test_labels_are_sorted_by_confidence_with_geometry() -> None:
    labels = labels_from_response(RESPONSE)

    assert [(label.name, label.confidence) for label in labels] == [
        ("rotten", 97.123),
        ("rotten", 80.0),
        ("ripe", 71.25),
    ]
    assert labels[0].bounding_box is not None and labels[0].bounding_box.width == 0.5
    assert labels[0].polygon is not None and len(labels[0].polygon) == 3
    assert labels[2].bounding_box is None


def test_event_detail_has_the_documented_fields() -> None:
    detail = event_detail(_result(RESPONSE))

    assert detail["status"] == "DETECTED"
    assert detail["key"] == "produce/x y.jpg"
    assert detail["uploaded_at"] == "2026-11-26T01:02:03.000Z"
    assert detail["detected_at"] == "2026-11-26T01:02:04.500Z"
    assert detail["labels"][0]["bounding_box"] == {"width": 0.5, "height": 0.25, "left": 0.1, "top": 0.2}
    assert len(detail["result_id"]) == 32


def test_result_id_is_stable_per_object_version_and_model_version() -> None:
    first, second = _result(), _result(RESPONSE)

    assert first.result_id == second.result_id


def test_one_label_item_per_distinct_label_with_its_best_confidence() -> None:
    items = label_items(_result(RESPONSE))

    by_label = {item["label"]: item for item in items}
    assert set(by_label) == {"rotten", "ripe"}
    assert by_label["rotten"]["confidence_sort"] == Decimal("97.123")
    assert by_label["rotten"]["label_key"] == "produce-quality#rotten"
    assert by_label["ripe"]["detected_sort"].startswith("2026-11-26T01:02:04.500Z#b/")


def test_result_item_drops_nulls_and_uses_decimals() -> None:
    result = _result(RESPONSE)

    item = result_item(result, event_detail(result))

    assert item["pk"] == "OBJ#b/produce/x y.jpg"
    assert item["sk"] == f"RESULT#{ARN}#v1"
    assert "reason" not in item
    assert item["labels"][0]["confidence"] == Decimal("97.123")
    assert item["event_published"] is False


def test_a_result_the_policy_selected_carries_the_review_keys_and_others_none() -> None:
    # Given a result and the review request the detect function builds for it
    result = _result(RESPONSE)
    review = review_requested_detail(result, ("LOW_CONFIDENCE", "AUDIT"))

    # When its item is built with and without the request
    pending = result_item(result, event_detail(result), review)
    plain = result_item(result, event_detail(result))

    # Then only the first is pending review, in the by_review index under the model, sorted by detection time
    assert pending["review"] == "PENDING"
    assert pending["review_reasons"] == ["LOW_CONFIDENCE", "AUDIT"]
    assert pending["review_key"] == "produce-quality#PENDING"
    assert pending["review_sort"] == "2026-11-26T01:02:04.500Z#b/produce/x y.jpg"
    assert not {"review", "review_reasons", "review_key", "review_sort"} & plain.keys()
    # and the review request addresses the same result
    assert review["result_id"] == result.result_id
    assert review["object_version"] == "v1"
    assert review["detected_at"] == "2026-11-26T01:02:04.500Z"
    assert [label["name"] for label in review["labels"]] == ["rotten", "rotten", "ripe"]
