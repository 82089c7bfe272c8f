"""The review policy: which DETECTED results ask for a human review, and why (lambdas/review/policy.py)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from lambdas.detect.models import BoundingBox, DetectionResult, ImageRef, Label
from lambdas.review.models import PendingReview, ReviewDecision, ReviewedLabel, ReviewPolicy, split_s3_output_uri
from lambdas.review.policy import audit_draw, review_reasons
from tests.support import ids

ARN = ids.version_arn(account=ids.SAMPLE_ACCOUNT)
FLOW_ARN = "arn:aws:sagemaker:us-east-1:111122223333:flow-definition/produce-review"
OUTPUT_URI = "s3://produce-a2i-output/reviews"
WHEN = datetime(2026, 11, 26, 2, 10, 3, 120000, tzinfo=UTC)


def _result(*labels: tuple[str, float], status: str = "DETECTED", key: str = "produce/a.jpg") -> DetectionResult:
    image = ImageRef(bucket="uploads", key=key, version_id="v1", etag="e", uploaded_at=WHEN)
    return DetectionResult.model_validate(
        {
            "image": image,
            "model_name": ids.MODEL,
            "project_version_arn": ARN,
            "status": status,
            "labels": [Label(name=name, confidence=confidence) for name, confidence in labels],
            "reason": "InvalidImageFormat" if status == "FAILED" else None,
            "detected_at": WHEN,
        }
    )


def test_a_disabled_policy_selects_nothing() -> None:
    # Given the default policy (review off) and a result that an enabled one would select for three reasons
    policy = ReviewPolicy(min_confidence=100, audit_fraction=1.0)
    # When it decides / Then no reason at all
    assert review_reasons(_result(), policy) == ()
    assert review_reasons(_result(("rotten", 10.0)), policy) == ()


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ((("rotten", 79.9),), ("LOW_CONFIDENCE",)),
        ((("rotten", 80.0),), ()),  # at the threshold is not below it
        ((("ripe", 99.0), ("rotten", 50.0)), ("LOW_CONFIDENCE",)),  # any label below its threshold
        ((), ("NO_LABEL",)),
    ],
)
def test_a_label_below_the_threshold_or_no_label_asks_for_review(
    labels: tuple[tuple[str, float], ...], expected: tuple[str, ...]
) -> None:
    # Given an enabled policy with an 80 threshold and no audit
    policy = ReviewPolicy(enabled=True, min_confidence=80.0)
    # When it decides on a result with these labels / Then these reasons
    assert review_reasons(_result(*labels), policy) == expected


def test_a_per_label_override_replaces_the_threshold_for_that_label_only() -> None:
    # Given rotten must reach 95, every other label 80
    policy = ReviewPolicy(enabled=True, min_confidence=80.0, label_min_confidence={"rotten": 95.0})
    # When it decides / Then rotten at 90 is reviewed, ripe at 90 is not, rotten at 95 is not
    assert review_reasons(_result(("rotten", 90.0)), policy) == ("LOW_CONFIDENCE",)
    assert review_reasons(_result(("ripe", 90.0)), policy) == ()
    assert review_reasons(_result(("rotten", 95.0)), policy) == ()
    # and an override may also lower the bar for a label
    lenient = ReviewPolicy(enabled=True, min_confidence=80.0, label_min_confidence={"raw": 50.0})
    assert review_reasons(_result(("raw", 60.0)), lenient) == ()


def test_no_label_can_be_switched_off() -> None:
    policy = ReviewPolicy(enabled=True, no_label=False)
    assert review_reasons(_result(), policy) == ()


def test_a_failed_result_is_never_reviewed() -> None:
    policy = ReviewPolicy(enabled=True, min_confidence=100.0, audit_fraction=1.0)
    assert review_reasons(_result(status="FAILED"), policy) == ()


def test_reasons_come_in_the_documented_order() -> None:
    # Given a policy auditing everything
    policy = ReviewPolicy(enabled=True, min_confidence=80.0, audit_fraction=1.0)
    # When it decides on a low-confidence result and on an empty one
    # Then the audit comes last, after the reason the labels give
    assert review_reasons(_result(("rotten", 10.0)), policy) == ("LOW_CONFIDENCE", "AUDIT")
    assert review_reasons(_result(), policy) == ("NO_LABEL", "AUDIT")


def test_the_audit_draw_is_the_documented_hash() -> None:
    # Given the spec's formula: sha256 of <bucket>/<key>#<object_version>#<model>, first 8 hex digits / 2**32
    expected = int(hashlib.sha256(b"uploads/produce/a.jpg#v1#produce-quality").hexdigest()[:8], 16) / 2**32
    # When the policy draws for that object version / Then it is exactly that number, the same every time
    assert audit_draw("uploads", "produce/a.jpg", "v1", "produce-quality") == expected
    assert audit_draw("uploads", "produce/a.jpg", "v1", "produce-quality") == expected
    # and another version of the same object draws anew
    assert audit_draw("uploads", "produce/a.jpg", "v2", "produce-quality") != expected


def test_the_audit_is_deterministic_per_object_version_and_roughly_honours_its_fraction() -> None:
    # Given a 10 % audit and results that no other reason selects
    policy = ReviewPolicy(enabled=True, min_confidence=0.0, audit_fraction=0.1)
    results = [_result(("ripe", 99.0), key=f"produce/{n:05d}.jpg") for n in range(4000)]
    # When the policy decides on each twice (a redelivery)
    first = [review_reasons(result, policy) for result in results]
    second = [review_reasons(result, policy) for result in results]
    # Then both decisions agree, and close to 10 % are audited (binomial sd ~0.5 %: 4 sd either side)
    assert first == second
    audited = sum(reasons == ("AUDIT",) for reasons in first) / len(results)
    assert 0.08 < audited < 0.12
    # and the boundaries hold: 0 audits nothing, 1 audits everything
    assert not any(review_reasons(r, policy.model_copy(update={"audit_fraction": 0.0})) for r in results[:200])
    assert all(review_reasons(r, policy.model_copy(update={"audit_fraction": 1.0})) for r in results[:200])


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"min_confidence": 100.5}, "min_confidence"),
        ({"min_confidence": -1}, "min_confidence"),
        ({"label_min_confidence": {"rotten": 101}}, "label_min_confidence.rotten"),
        ({"label_min_confidence": {"": 50}}, "label_min_confidence"),
        ({"label_min_confidence": {" rotten": 50}}, "label_min_confidence"),
        ({"audit_fraction": 1.01}, "audit_fraction"),
        ({"audit_fraction": -0.1}, "audit_fraction"),
        ({"a2i_flow_definition_arn": "arn:aws:sagemaker:us-east-1:111122223333:human-loop/x"}, "a2i_flow"),
        ({"a2i_flow_definition_arn": "arn:aws:sagemaker:us-east-1:1111:flow-definition/x"}, "a2i_flow"),
        ({"a2i_flow_definition_arn": "arn:aws:sagemaker:us-east-1:111122223333:flow-definition/Bad_Name"}, "a2i"),
        ({"a2i_flow_definition_arn": FLOW_ARN}, "a2i_output_s3_uri: the flow definition's OutputConfig.S3OutputPath"),
        ({"a2i_output_s3_uri": OUTPUT_URI}, "set a2i_flow_definition_arn"),
        ({"a2i_flow_definition_arn": FLOW_ARN, "a2i_output_s3_uri": "https://bucket/a2i"}, "a2i_output_s3_uri"),
        ({"threshold": 80}, "threshold"),
    ],
)
def test_an_invalid_policy_is_refused_naming_the_field(fields: dict[str, object], where: str) -> None:
    with pytest.raises(ValidationError) as error:
        ReviewPolicy.model_validate({"enabled": True, **fields})
    assert where in str(error.value)


def test_a_flow_definition_arn_of_any_partition_is_accepted() -> None:
    for arn in (
        "arn:aws:sagemaker:us-east-1:111122223333:flow-definition/produce-review",
        "arn:aws-cn:sagemaker:cn-north-1:111122223333:flow-definition/p-1",
    ):
        policy = ReviewPolicy(a2i_flow_definition_arn=arn, a2i_output_s3_uri=OUTPUT_URI)
        assert policy.a2i_flow_definition_arn == arn


@pytest.mark.parametrize(
    ("uri", "location"),
    [
        ("s3://produce-a2i-output", ("produce-a2i-output", "")),
        ("s3://produce-a2i-output/", ("produce-a2i-output", "")),
        ("s3://produce-a2i-output/reviews", ("produce-a2i-output", "reviews")),
        ("s3://produce-a2i-output/reviews/2026/", ("produce-a2i-output", "reviews/2026")),
        ("s3://my.output-bucket.1/a2i", ("my.output-bucket.1", "a2i")),
        ("s3://abc/" + "k" * (1024 - len("s3://abc/")), ("abc", "k" * (1024 - len("s3://abc/")))),
    ],
)
def test_an_a2i_output_location_is_read_as_bucket_and_prefix(uri: str, location: tuple[str, str]) -> None:
    # Given a flow definition's S3OutputPath in the s3:// form (botocore's sagemaker model, shape S3Uri:
    # '(https|s3)://([^/]+)/?(.*)', at most 1024 characters)
    policy = ReviewPolicy(enabled=True, a2i_flow_definition_arn=FLOW_ARN, a2i_output_s3_uri=uri)

    # Then the policy keeps it as written and reads it as (bucket, prefix without surrounding '/')
    assert policy.a2i_output_s3_uri == uri
    assert policy.a2i_output_location == location == split_s3_output_uri(uri)


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("https://produce-a2i-output/reviews", "must be an s3:// URI"),
        ("produce-a2i-output/reviews", "must be an s3:// URI"),
        ("s3:///reviews", "is not an S3 bucket name"),
        ("s3://ab/reviews", "is not an S3 bucket name"),  # under 3 characters
        ("s3://" + "b" * 64, "is not an S3 bucket name"),  # over 63
        ("s3://Produce-Output/reviews", "is not an S3 bucket name"),  # upper case
        ("s3://produce_output/reviews", "is not an S3 bucket name"),  # underscore
        ("s3://-produce/reviews", "is not an S3 bucket name"),  # must begin with a letter or digit
        ("s3://produce./reviews", "is not an S3 bucket name"),  # ... and end with one
        ("s3://produce..output/reviews", "no two adjacent periods"),
        ("s3://192.168.5.4/reviews", "not formatted as an IP address"),
        ("s3://produce-a2i-output//reviews", "no empty path segments"),
        ("s3://produce-a2i-output/reviews//2026", "no empty path segments"),
        ("s3://abc/" + "k" * (1025 - len("s3://abc/")), "at most 1024"),
    ],
)
def test_a_malformed_a2i_output_location_is_refused_saying_why(uri: str, problem: str) -> None:
    # Given an output location that is not an s3:// URI of a valid bucket (Amazon S3 User Guide, "General purpose
    # bucket naming rules"), or is longer than S3OutputPath allows
    # When the policy reads it / Then it is refused naming the field and the rule broken
    with pytest.raises(ValidationError) as error:
        ReviewPolicy(enabled=True, a2i_flow_definition_arn=FLOW_ARN, a2i_output_s3_uri=uri)
    assert "a2i_output_s3_uri" in str(error.value)
    assert problem in str(error.value)


def test_the_a2i_output_location_is_part_of_the_policys_identity() -> None:
    # Given two policies that differ only in the output location
    first = ReviewPolicy(enabled=True, a2i_flow_definition_arn=FLOW_ARN, a2i_output_s3_uri=OUTPUT_URI)
    second = first.model_copy(update={"a2i_output_s3_uri": OUTPUT_URI + "/other"})
    # Then they are different policies, and one round-trips through its JSON (the detect function's REVIEW_POLICY)
    assert first != second and hash(first) != hash(second)
    assert ReviewPolicy.model_validate_json(first.model_dump_json()) == first


def _pending(*labels: Label) -> PendingReview:
    return PendingReview(
        result_id="0" * 32,
        model_name=ids.MODEL,
        project_version_arn=ARN,
        bucket="uploads",
        key="produce/a.jpg",
        object_version="v1",
        labels=labels,
        reasons=("LOW_CONFIDENCE",),
        detected_at=WHEN,
    )


def test_a_decision_is_changed_only_when_names_differ_or_a_box_moves_beyond_the_tolerance() -> None:
    box = BoundingBox(width=0.4, height=0.3, left=0.1, top=0.2)
    pending = _pending(Label(name="rotten", confidence=70.0, bounding_box=box))

    def decided(*labels: ReviewedLabel) -> ReviewDecision:
        return ReviewDecision(
            result=pending, reviewed_labels=labels, reviewer="ann", reviewed_at=WHEN, source="a2i", task_id="loop-1"
        )

    nudged = box.model_copy(update={"left": 0.1 + 0.001})  # a percentage round trip
    moved = box.model_copy(update={"left": 0.2})
    assert not decided(ReviewedLabel(name="rotten", bounding_box=nudged)).changed
    assert decided(ReviewedLabel(name="rotten", bounding_box=moved)).changed
    assert decided(ReviewedLabel(name="ripe", bounding_box=box)).changed
    assert decided().changed
    with pytest.raises(ValidationError, match="ratios"):
        ReviewedLabel(name="rotten", bounding_box=box.model_copy(update={"width": 40.0}))
