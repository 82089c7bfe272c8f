"""The shapes A2I exchanges with the pipeline: the loop's input we send, the status event A2I sends, the output
document it writes, and the worker answer contract of the task template (docs/a2i.md).

Sources (none of them exercised against a live workforce):

* StartHumanLoop: botocore's ``sagemaker-a2i-runtime`` 2019-11-07 service model (HumanLoopName 1-63 characters,
  ``^[a-z0-9](-*[a-z0-9])*$``; HumanLoopInput.InputContent a JSON string of at most 3,145,728 characters).
* The status event: "Use Amazon CloudWatch Events in Amazon Augmented AI" (SageMaker Developer Guide,
  https://docs.aws.amazon.com/sagemaker/latest/dg/a2i-cloudwatch-events.html): source ``aws.sagemaker``,
  detail-type ``SageMaker A2I HumanLoop Status Change``, ``detail.humanLoopStatus`` Completed | Failed | Stopped,
  ``detail.humanLoopOutput.outputS3Uri``, ``detail.flowDefinitionArn``, ``detail.humanLoopName``; delivered at
  least once.
* The output document: "Amazon A2I Output Data" (https://docs.aws.amazon.com/sagemaker/latest/dg/a2i-output-data.html):
  ``humanAnswers[]`` with ``answerContent``, ``workerId``, ``submissionTime``; ``inputContent`` (what we sent);
  ``humanLoopName``; ``flowDefinitionArn``.
* The answer contract: the Crowd HTML Elements the template uses, ``crowd-bounding-box`` (output ``boundingBoxes``
  of ``{label, left, top, width, height}`` in pixels and ``inputImageProperties {width, height}``) and
  ``crowd-image-classifier-multi-select`` (output ``labels``, with an ``exclusion-category``), SageMaker Developer
  Guide, "Crowd HTML Elements Reference".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lambdas.a2i.errors import HumanLoopOutputError
from lambdas.detect.models import BoundingBox
from lambdas.review.models import PendingReview, ReviewedLabel

A2I_EVENT_SOURCE: Final = "aws.sagemaker"
DETAIL_TYPE_HUMAN_LOOP_STATUS: Final = "SageMaker A2I HumanLoop Status Change"
COMPLETED: Final = "Completed"

# The template's answer contract (docs/a2i.md): the element names whose output the ingest reads.
BOXES_ANSWER: Final = "annotatedResult"  # <crowd-bounding-box name="annotatedResult">
LABELS_ANSWER: Final = "labels"  # <crowd-image-classifier-multi-select name="labels">
NONE_OF_THE_ABOVE: Final = "None of the above"  # its exclusion-category text: the reviewer says "no label"


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


# -- what we send -------------------------------------------------------------------------------------------------


class TaskInput(_Lenient):
    """``HumanLoopInput.InputContent``: the template reads ``taskObject`` and ``predictions``; the ingest reads
    ``result`` back from the output's ``inputContent`` (so it needs no table read to know which result it is)."""

    task_object: str = Field(alias="taskObject", description="s3:// URI of the image (grant_read_access in Liquid)")
    predictions: tuple[dict[str, Any], ...] = Field(
        description="the model's labels: name, confidence 0-100, bounding_box as ratios of the image or null"
    )
    result: PendingReview

    @classmethod
    def of(cls, pending: PendingReview) -> TaskInput:
        return cls(
            task_object=f"s3://{pending.bucket}/{pending.key}",
            predictions=tuple(label.model_dump(mode="json", exclude={"polygon"}) for label in pending.labels),
            result=pending,
        )


# -- what A2I sends -----------------------------------------------------------------------------------------------


class HumanLoopOutputRef(_Lenient):
    output_s3_uri: str = Field(alias="outputS3Uri")


class HumanLoopStatusDetail(_Lenient):
    flow_definition_arn: str = Field(alias="flowDefinitionArn")
    human_loop_name: str = Field(alias="humanLoopName")
    human_loop_status: str = Field(alias="humanLoopStatus")
    human_loop_output: HumanLoopOutputRef | None = Field(default=None, alias="humanLoopOutput")
    failure_code: str | None = Field(default=None, alias="failureCode")
    failure_reason: str | None = Field(default=None, alias="failureReason")


class HumanLoopStatusChange(_Lenient):
    """The EventBridge event A2I sends when a loop ends (Completed, Failed or Stopped)."""

    source: Literal["aws.sagemaker"]
    detail_type: Literal["SageMaker A2I HumanLoop Status Change"] = Field(alias="detail-type")
    time: datetime
    detail: HumanLoopStatusDetail


class HumanAnswer(_Lenient):
    answer_content: dict[str, Any] = Field(alias="answerContent")
    worker_id: str = Field(alias="workerId", min_length=1)
    submission_time: datetime | None = Field(default=None, alias="submissionTime")


class HumanLoopOutput(_Lenient):
    """``output.json`` of a finished loop."""

    flow_definition_arn: str | None = Field(default=None, alias="flowDefinitionArn")
    human_loop_name: str = Field(alias="humanLoopName")
    human_answers: tuple[HumanAnswer, ...] = Field(alias="humanAnswers")
    input_content: TaskInput = Field(alias="inputContent")


def parse_output(document: Mapping[str, Any]) -> HumanLoopOutput:
    """The output document as a model; ``HumanLoopOutputError`` naming the first problem otherwise."""
    try:
        return HumanLoopOutput.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise HumanLoopOutputError(f"output.json: {where}: {first['msg']}") from exc


# -- the answer contract ------------------------------------------------------------------------------------------


def _ratio(value: float) -> float:
    return min(max(value, 0.0), 1.0)


def _box(raw: Mapping[str, Any], width: float, height: float) -> BoundingBox:
    """A crowd-bounding-box box (pixels) as ratios of the image, clamped to it (ReviewedLabel needs 0..1)."""
    left, top = _ratio(float(raw["left"]) / width), _ratio(float(raw["top"]) / height)
    return BoundingBox(
        left=left,
        top=top,
        width=min(_ratio(float(raw["width"]) / width), 1.0 - left),
        height=min(_ratio(float(raw["height"]) / height), 1.0 - top),
    )


def _boxed_labels(answer: Mapping[str, Any]) -> tuple[ReviewedLabel, ...]:
    size = answer.get("inputImageProperties") or {}
    width, height = float(size.get("width") or 0), float(size.get("height") or 0)
    if width <= 0 or height <= 0:
        raise HumanLoopOutputError(f"{BOXES_ANSWER}.inputImageProperties needs a positive width and height")
    boxes: Sequence[Mapping[str, Any]] = answer.get("boundingBoxes") or []
    return tuple(ReviewedLabel(name=raw["label"], bounding_box=_box(raw, width, height)) for raw in boxes)


def _chosen_labels(answer: Mapping[str, Any]) -> tuple[ReviewedLabel, ...]:
    names = [name for name in answer.get("labels") or [] if name != NONE_OF_THE_ABOVE]
    return tuple(ReviewedLabel(name=name) for name in dict.fromkeys(names))


def reviewed_labels(answer_content: Mapping[str, Any]) -> tuple[ReviewedLabel, ...]:
    """The reviewer's labels from one worker's ``answerContent`` (docs/a2i.md, "Task template contract")."""
    try:
        if BOXES_ANSWER in answer_content:
            return _boxed_labels(answer_content[BOXES_ANSWER])
        if LABELS_ANSWER in answer_content:
            return _chosen_labels(answer_content[LABELS_ANSWER])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # pydantic's ValidationError is a ValueError: a label name it refuses lands here too.
        raise HumanLoopOutputError(f"answerContent does not follow the template contract: {exc}") from exc
    raise HumanLoopOutputError(
        f"answerContent has neither {BOXES_ANSWER!r} (crowd-bounding-box) nor {LABELS_ANSWER!r} "
        f"(crowd-image-classifier-multi-select): keys {sorted(answer_content)}"
    )
