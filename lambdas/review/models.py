"""The review's typed shapes: the policy (the runtime form of a model's ``review`` config), a result waiting for
review, a reviewer's decision and a reviewed result (docs/results.md "Review").

Standard library and pydantic only, like the rest of ``lambdas/``: the CDK app validates the ``review`` block of
``cdk.json`` with :class:`ReviewPolicy` itself (``infra/config.py``), and the detect function reads the same
model back from its environment, so the config and the runtime cannot disagree.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from lambdas.common import contract
from lambdas.detect.models import BoundingBox, Label

ReviewReason = Literal["LOW_CONFIDENCE", "NO_LABEL", "AUDIT"]
# The order reasons are listed in, wherever they are listed (item attribute, event).
REVIEW_REASONS: tuple[ReviewReason, ...] = ("LOW_CONFIDENCE", "NO_LABEL", "AUDIT")
ReviewSource = Literal["label-studio", "a2i"]

Confidence = Annotated[float, Field(ge=0, le=100)]
# A label name as Custom Labels returns it: non-empty, no surrounding blanks (a padded name never matches).
LabelName = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^\S(.*\S)?$")]
# When two boxes are "the same" for ``ReviewDecision.changed``: a reviewing tool's round trip (Label Studio keeps
# percentages) moves a box edge by far less than this fraction of the image.
BOX_TOLERANCE = 0.005

# The A2I flow definition's output location, FlowDefinitionOutputConfig.S3OutputPath: botocore's sagemaker
# 2017-07-24 model, shape S3Uri, pattern '(https|s3)://([^/]+)/?(.*)', at most 1024 characters. The config takes
# the s3:// form only (the IAM scoping of infra/constructs/review.py and the ingest's prefix check read it).
S3_OUTPUT_URI_MAX_LENGTH: Final = 1024
S3_OUTPUT_URI_SHAPE: Final = "s3://<bucket>[/<prefix>]"
# General purpose bucket naming rules (Amazon S3 User Guide, "General purpose bucket naming rules"): 3-63
# characters, lower-case letters, digits, '.' and '-', beginning and ending with a letter or digit, no two adjacent
# periods, not formatted as an IP address. The reserved prefixes and suffixes listed there (xn--, -s3alias, ...)
# are not checked: this guards against typos in the name of a bucket that already exists.
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def s3_bucket_name_problem(name: str) -> str | None:
    """Why ``name`` is not an S3 general purpose bucket name, or ``None`` when it is one."""
    if not _BUCKET_NAME.match(name):
        return "3-63 characters: lower-case letters, digits, '.' and '-', starting and ending with a letter or digit"
    if ".." in name:
        return "no two adjacent periods"
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return None
    return "not formatted as an IP address"


def split_s3_output_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket[/prefix]`` → ``(bucket, prefix)``, the prefix without surrounding ``/``; ``ValueError`` naming
    what is wrong otherwise. ``s3://b/a2i`` and ``s3://b/a2i/`` name the same location."""
    if not uri.startswith("s3://"):
        raise ValueError(f"must be an s3:// URI ({S3_OUTPUT_URI_SHAPE}), not {uri!r}")
    if len(uri) > S3_OUTPUT_URI_MAX_LENGTH:
        raise ValueError(f"is {len(uri)} characters; S3OutputPath takes at most {S3_OUTPUT_URI_MAX_LENGTH}")
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    problem = s3_bucket_name_problem(bucket)
    if problem is not None:
        raise ValueError(f"bucket {bucket!r} is not an S3 bucket name ({problem})")
    # An empty path segment ('s3://b//a2i', 's3://b/a2i//x') is a key that starts with or holds '//', which the
    # IAM scoping (<bucket>/<prefix>/<flow definition name>/*) would not match.
    if prefix.startswith("/") or "//" in prefix:
        raise ValueError(f"prefix {prefix!r}: no empty path segments ('//')")
    return bucket, prefix.strip("/")


class ReviewPolicy(BaseModel):
    """Which DETECTED results ask for a human review (``lambdas.review.policy.review_reasons`` decides).

    Disabled by default: a model without a ``review`` block writes and publishes exactly what it did before.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    min_confidence: Confidence = Field(default=80.0, description="a label below this asks for review")
    label_min_confidence: Mapping[LabelName, Confidence] = Field(
        default_factory=dict, description="per-label thresholds replacing min_confidence for those labels"
    )
    no_label: bool = Field(default=True, description="a DETECTED result with no label asks for review")
    audit_fraction: float = Field(
        default=0.0, ge=0, le=1, description="share of results reviewed at random (deterministic per object version)"
    )
    a2i_flow_definition_arn: str | None = Field(
        default=None, description="an Amazon A2I flow definition: review-needed images also start a human loop"
    )
    a2i_output_s3_uri: str | None = Field(
        default=None,
        description="the flow definition's OutputConfig.S3OutputPath (s3://bucket[/prefix]); required with "
        "a2i_flow_definition_arn: it scopes the ingest function's S3 read",
    )

    @field_validator("a2i_flow_definition_arn")
    @classmethod
    def _flow_definition_shape(cls, value: str | None) -> str | None:
        if value is not None and not contract.is_flow_definition_arn(value):
            raise ValueError(f"must look like {contract.FLOW_DEFINITION_ARN_SHAPE}")
        return value

    @field_validator("a2i_output_s3_uri")
    @classmethod
    def _output_uri_shape(cls, value: str | None) -> str | None:
        if value is not None:
            split_s3_output_uri(value)
        return value

    @model_validator(mode="after")
    def _output_with_the_flow_definition(self) -> Self:
        # The flow definition is the user's, made outside the stack, and synthesis asks AWS nothing: its output
        # location comes from the config. Without it the ingest function's S3 read could not be scoped; without a
        # flow definition it means nothing. `clp preflight` checks that the two agree (DescribeFlowDefinition).
        if self.a2i_flow_definition_arn is not None and self.a2i_output_s3_uri is None:
            raise ValueError(
                "a2i_flow_definition_arn needs a2i_output_s3_uri: the flow definition's OutputConfig.S3OutputPath"
            )
        if self.a2i_output_s3_uri is not None and self.a2i_flow_definition_arn is None:
            raise ValueError("a2i_output_s3_uri is the output of an A2I flow definition: set a2i_flow_definition_arn")
        return self

    @property
    def starts_a2i_loops(self) -> bool:
        """Whether results this policy marks PENDING also start an A2I human loop: the stack then deploys the A2I
        functions (infra/constructs/review.py) and ``clp preflight`` checks the flow definition."""
        return self.enabled and self.a2i_flow_definition_arn is not None

    @property
    def a2i_output_location(self) -> tuple[str, str] | None:
        """The A2I output location as ``(bucket, prefix)`` (prefix without surrounding ``/``), or ``None``."""
        return None if self.a2i_output_s3_uri is None else split_s3_output_uri(self.a2i_output_s3_uri)

    def __hash__(self) -> int:
        # Frozen like the rest of the config (whose models hash); the overrides are a dict, hashed as its items.
        overrides = tuple(sorted(self.label_min_confidence.items()))
        fields = (self.enabled, self.min_confidence, overrides, self.no_label, self.audit_fraction)
        return hash((*fields, self.a2i_flow_definition_arn, self.a2i_output_s3_uri))

    def threshold(self, label_name: str) -> float:
        """The confidence below which ``label_name`` asks for review."""
        return self.label_min_confidence.get(label_name, self.min_confidence)


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class PendingReview(_Record):
    """A DETECTED result the policy selected, as the by_review index returns it."""

    result_id: str
    model_name: str
    project_version_arn: str
    bucket: str
    key: str
    version_id: str | None = None
    object_version: str
    labels: tuple[Label, ...] = ()
    reasons: tuple[ReviewReason, ...] = ()
    detected_at: datetime

    @property
    def detected_at_iso(self) -> str:
        """``detected_at`` as the table and the events spell it (ISO 8601 UTC, milliseconds, ``Z``)."""
        return iso_utc(self.detected_at)


class ReviewedLabel(_Record):
    """One label as the reviewer left it (a box for object detection models, none for classification)."""

    name: LabelName
    bounding_box: BoundingBox | None = None

    @field_validator("bounding_box")
    @classmethod
    def _ratios(cls, box: BoundingBox | None) -> BoundingBox | None:
        # Same shape and meaning as the predicted labels' boxes: ratios of the image's width and height.
        if box is not None and not all(0 <= value <= 1 for value in (box.width, box.height, box.left, box.top)):
            raise ValueError("bounding_box values are ratios of the image size: 0..1")
        return box


def _box_key(box: BoundingBox | None) -> tuple[float, float]:
    return (-1.0, -1.0) if box is None else (box.left, box.top)


def _same_box(first: BoundingBox | None, second: BoundingBox | None) -> bool:
    if first is None or second is None:
        return first is second
    pairs = zip(
        (first.width, first.height, first.left, first.top),
        (second.width, second.height, second.left, second.top),
        strict=True,
    )
    return all(abs(a - b) <= BOX_TOLERANCE for a, b in pairs)


class ReviewDecision(_Record):
    """What a reviewer decided about one pending result, and where (tool and task)."""

    result: PendingReview
    reviewed_labels: tuple[ReviewedLabel, ...]
    reviewer: str = Field(min_length=1)
    reviewed_at: datetime
    source: ReviewSource
    task_id: str = Field(min_length=1, description="Label Studio annotation id or A2I human loop name")

    @model_validator(mode="after")
    def _aware(self) -> Self:
        if self.reviewed_at.tzinfo is None:
            raise ValueError("reviewed_at must carry a time zone")
        return self

    @property
    def reviewed_at_iso(self) -> str:
        return iso_utc(self.reviewed_at)

    @property
    def changed(self) -> bool:
        """Whether the reviewer's labels differ from the prediction: other names, or a box moved by more than
        ``BOX_TOLERANCE`` of the image."""
        predicted = sorted(self.result.labels, key=lambda label: (label.name, *_box_key(label.bounding_box)))
        reviewed = sorted(self.reviewed_labels, key=lambda label: (label.name, *_box_key(label.bounding_box)))
        if [label.name for label in predicted] != [label.name for label in reviewed]:
            return True
        return not all(_same_box(p.bounding_box, r.bounding_box) for p, r in zip(predicted, reviewed, strict=True))


class ReviewedResult(PendingReview):
    """A result after review: the prediction and what the reviewer decided (for export and the gallery)."""

    reviewed_labels: tuple[ReviewedLabel, ...]
    reviewer: str
    reviewed_at: datetime
    source: ReviewSource
    task_id: str


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z``: the spelling of every time the pipeline stores."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
