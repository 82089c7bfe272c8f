"""A finished A2I human loop → a review decision in the results table and a ``Custom Labels Reviewed`` event.

The same REVIEWED state, conditional write and event as a Label Studio pull (``lambdas.review``): a loop whose
result was already reviewed (by Label Studio, or an earlier delivery of the same event) changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from lambdas.a2i.errors import HumanLoopOutputError
from lambdas.a2i.models import (
    COMPLETED,
    HumanAnswer,
    HumanLoopOutput,
    HumanLoopStatusChange,
    parse_output,
    reviewed_labels,
)
from lambdas.a2i.starter import human_loop_name
from lambdas.common.observability import logger, metrics
from lambdas.review.events import ReviewedPublisher, record_and_publish
from lambdas.review.models import ReviewDecision

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from lambdas.review.store import ReviewStore


class Outcome(StrEnum):
    RECORDED = "recorded"  # the decision was written and its event published
    ALREADY_REVIEWED = "already-reviewed"  # the result was not pending any more: nothing changed
    NOT_COMPLETED = "not-completed"  # Failed or Stopped: the result stays PENDING
    REJECTED = "rejected"  # the output is not a decision we can record (logged); the result stays PENDING
    IGNORED = "ignored"  # another flow definition's loop


class OutputReader(Protocol):
    def read(self, uri: str) -> dict[str, Any]: ...


def _split_s3_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket or not key:
        raise HumanLoopOutputError(f"not an s3:// object URI: {uri!r}")
    return bucket, key


class S3OutputReader:
    """Reads ``output.json`` of a loop, only under the flow definition's output prefix (``s3://bucket/prefix``)."""

    def __init__(self, s3: S3Client, output_prefix: str) -> None:
        self._s3 = s3
        self._prefix = output_prefix.rstrip("/") + "/"

    def read(self, uri: str) -> dict[str, Any]:
        if not uri.startswith(self._prefix):
            raise HumanLoopOutputError(f"{uri} is outside the flow definition's output {self._prefix}")
        bucket, key = _split_s3_uri(uri)
        try:
            body = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchKey":
                raise HumanLoopOutputError(f"{uri} does not exist") from exc
            raise  # access, throttling, service errors: the invocation is retried
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HumanLoopOutputError(f"{uri} is not JSON") from exc
        if not isinstance(document, dict):
            raise HumanLoopOutputError(f"{uri} is not a JSON object")
        return document


@dataclass(frozen=True)
class IngestDependencies:
    outputs: OutputReader
    store: ReviewStore
    publisher: ReviewedPublisher
    model_name: str
    flow_definition_arn: str


def _first_answer(output: HumanLoopOutput) -> HumanAnswer:
    """The earliest submitted answer: with several workers per task, the first one decides (docs/a2i.md)."""
    if not output.human_answers:
        raise HumanLoopOutputError("output.json has no human answer")
    far_future = datetime.max.replace(tzinfo=UTC)
    return min(output.human_answers, key=lambda answer: _aware(answer.submission_time) or far_future)


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def decision_from_output(output: HumanLoopOutput, loop_name: str, ended_at: datetime) -> ReviewDecision:
    """The decision a finished loop holds; ``HumanLoopOutputError`` when it is not one of our loops' outputs."""
    result = output.input_content.result
    if output.human_loop_name != loop_name or human_loop_name(result.result_id) != loop_name:
        raise HumanLoopOutputError(f"loop {loop_name} is not the loop this pipeline started for {result.result_id}")
    answer = _first_answer(output)
    try:
        return ReviewDecision(
            result=result,
            reviewed_labels=reviewed_labels(answer.answer_content),
            reviewer=answer.worker_id,
            reviewed_at=_aware(answer.submission_time) or _aware(ended_at) or ended_at,
            source="a2i",
            task_id=loop_name,
        )
    except ValueError as exc:  # pydantic's ValidationError
        raise HumanLoopOutputError(f"the answer is not a valid decision: {exc}") from exc


def _count(name: str) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def ingest(change: HumanLoopStatusChange, deps: IngestDependencies) -> Outcome:
    """Record the decision of a Completed loop; log and count the others (their results stay PENDING)."""
    detail = change.detail
    context = {"human_loop": detail.human_loop_name, "status": detail.human_loop_status}
    if detail.flow_definition_arn != deps.flow_definition_arn:
        logger.warning("loop of another flow definition", extra={**context, "flow": detail.flow_definition_arn})
        return Outcome.IGNORED
    if detail.human_loop_status != COMPLETED:
        logger.warning(
            "human loop ended without a decision",
            extra={**context, "failure_code": detail.failure_code, "failure_reason": detail.failure_reason},
        )
        _count("A2iHumanLoopsNotCompleted")
        return Outcome.NOT_COMPLETED
    try:
        if detail.human_loop_output is None:
            raise HumanLoopOutputError("a Completed loop without humanLoopOutput")
        output = parse_output(deps.outputs.read(detail.human_loop_output.output_s3_uri))
        if output.input_content.result.model_name != deps.model_name:
            raise HumanLoopOutputError(f"the loop's result belongs to {output.input_content.result.model_name}")
        decision = decision_from_output(output, detail.human_loop_name, change.time)
    except HumanLoopOutputError as exc:
        logger.error("human loop output rejected", extra={**context, "reason": str(exc)})
        _count("A2iOutputsRejected")
        return Outcome.REJECTED
    recorded = record_and_publish(decision, deps.store, deps.publisher)
    logger.info("human loop ingested", extra={**context, "recorded": recorded, "changed": decision.changed})
    _count("A2iReviewsRecorded" if recorded else "A2iReviewsAlreadyRecorded")
    return Outcome.RECORDED if recorded else Outcome.ALREADY_REVIEWED
