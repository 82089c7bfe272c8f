"""Detection logic: one SQS message (an S3 EventBridge event or notification) → results and events.

Outcomes per object version × model version:
- a bad image (format, size, unreadable, deleted) → a FAILED result and event, never retried;
- model not RUNNING → the record goes back on the queue as a new message (never dead-lettered);
- transient errors that outlived the SDK's retries → the message fails and SQS redelivers it;
- a duplicate delivery → nothing new is written or published: the result is written once (conditional
  transaction) together with a publish claim, so exactly one delivery at a time may publish its event;
- a DETECTED result the model's review policy selects is marked pending review in that same write, and its
  Review Requested event goes out with its Detected event, under the same claim.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from lambdas.common.observability import logger, metrics
from lambdas.detect.errors import MalformedMessageError, ModelNotReadyError, PermanentImageError
from lambdas.detect.mapping import event_detail
from lambdas.detect.models import DetectionResult, ImageRef, S3Event, S3EventBridgeEvent, S3Notification
from lambdas.detect.ports import (
    Detector,
    EventPublisher,
    ObjectInspector,
    PublishClaim,
    Requeuer,
    ResultsRepository,
)
from lambdas.review.events import review_requested_detail
from lambdas.review.models import ReviewPolicy
from lambdas.review.policy import review_reasons

Outcome = Literal["DETECTED", "FAILED", "DUPLICATE", "REQUEUED", "IGNORED"]


@dataclass(frozen=True)
class ModelSettings:
    """What the function knows about the model it serves (``review``: which results ask for a human review)."""

    model_name: str
    project_version_arn: str
    prefix: str
    review: ReviewPolicy = field(default_factory=ReviewPolicy)


@dataclass
class Dependencies:
    detector: Detector
    inspector: ObjectInspector
    repository: ResultsRepository
    publisher: EventPublisher
    requeuer: Requeuer
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


# Added to the invocation's remaining time: a publish claim outlives the invocation that holds it.
PUBLISH_CLAIM_MARGIN_SECONDS = 5.0


@dataclass
class BatchState:
    """Per-invocation memory.

    ``model_not_ready``: once the model answered 'not ready', stop calling it this batch.
    ``publish_lease_seconds``: how long a publish claim taken in this invocation stays exclusive; at least
    the invocation's remaining time, so no other delivery publishes while this one still may.
    """

    model_not_ready: bool = False
    publish_lease_seconds: float = 60.0 + PUBLISH_CLAIM_MARGIN_SECONDS


@dataclass(frozen=True)
class RawMessage:
    """The items of one SQS body: S3 notification records, or the one EventBridge event the body is."""

    items: tuple[Any, ...]
    eventbridge: bool = False

    def body_for(self, items: list[Any]) -> dict[str, Any]:
        """An SQS body carrying ``items`` again, in the shape this message came in."""
        if self.eventbridge:
            [event] = items
            return dict(event)
        return {"Records": items}


def parse_message(body: str) -> RawMessage:
    """The raw items of an SQS body; none for ``s3:TestEvent``. Raises MalformedMessageError.

    EventBridge puts the event itself in the body (no ``Records`` list); its keys are not URL-encoded.
    """
    try:
        document = json.loads(body)
    except json.JSONDecodeError as exc:
        raise MalformedMessageError(f"body is not JSON: {exc.msg} at position {exc.pos}") from exc
    if not isinstance(document, dict):
        raise MalformedMessageError("body is not a JSON object")
    if "detail-type" in document:
        return RawMessage(items=(document,), eventbridge=True)
    # Older messages only: S3 sends a test event to SQS destinations when notifications are configured.
    if document.get("Event") == "s3:TestEvent":
        return RawMessage(items=())
    records = document.get("Records")
    if not isinstance(records, list):
        raise MalformedMessageError(
            "body is neither an EventBridge event ('detail-type') nor an S3 event notification ('Records' list)"
        )
    return RawMessage(items=tuple(records))


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}"


def to_records(message: RawMessage) -> list[S3Event]:
    """Validate raw items into models. Raises MalformedMessageError naming the bad field."""
    if message.eventbridge:
        try:
            return [S3EventBridgeEvent.model_validate(message.items[0])]
        except ValidationError as exc:
            raise MalformedMessageError(f"not an S3 EventBridge event: {_first_error(exc)}") from exc
    try:
        return list(S3Notification.model_validate({"Records": list(message.items)}).records)
    except ValidationError as exc:
        raise MalformedMessageError(f"not an S3 event notification: {_first_error(exc)}") from exc


def image_of(record: S3Event) -> ImageRef:
    if isinstance(record, S3EventBridgeEvent):
        detail = record.detail
        etag = detail.object.any_etag
        return ImageRef(
            bucket=detail.bucket.name,
            key=detail.object.key,
            version_id=detail.object.version_id,
            etag=etag.strip('"') if etag else None,
            size=detail.object.size,
            uploaded_at=record.time,
        )
    obj = record.s3.object
    return ImageRef(
        bucket=record.s3.bucket.name,
        key=obj.key,
        version_id=obj.version_id,
        etag=obj.e_tag.strip('"') if obj.e_tag else None,
        size=obj.size,
        uploaded_at=record.event_time,
    )


def process_message(body: str, settings: ModelSettings, deps: Dependencies, state: BatchState) -> list[Outcome]:
    """Handle every record of one SQS message; returns one outcome per S3 record or event."""
    message = parse_message(body)
    records = to_records(message)
    outcomes: list[Outcome] = []
    not_ready: list[dict[str, Any]] = []
    for raw, record in zip(message.items, records, strict=True):
        image = image_of(record)
        logger.set_correlation_id(image.key)
        if not record.is_object_created or not image.key.startswith(settings.prefix) or image.key.endswith("/"):
            logger.info("ignored record", extra={"event_name": record.event_name, "key": image.key})
            outcomes.append("IGNORED")
            continue
        try:
            outcomes.append(process_image(image, settings, deps, state))
        except ModelNotReadyError:
            state.model_not_ready = True
            not_ready.append(raw)
            outcomes.append("REQUEUED")
    if not_ready:
        deps.requeuer.requeue(message.body_for(not_ready))
        logger.warning("model not running: records requeued", extra={"records": len(not_ready)})
        metrics.add_metric(name="RecordsRequeued", unit=MetricUnit.Count, value=len(not_ready))
    return outcomes


def _now_ms(deps: Dependencies) -> int:
    return int(deps.now().timestamp() * 1000)


def _new_claim(deps: Dependencies, state: BatchState) -> PublishClaim:
    return PublishClaim(token=uuid.uuid4().hex, expires_at_ms=_now_ms(deps) + int(state.publish_lease_seconds * 1000))


def _publish(
    details: tuple[dict[str, Any], dict[str, Any] | None],
    image: ImageRef,
    settings: ModelSettings,
    deps: Dependencies,
    claim: PublishClaim,
) -> None:
    """Publish the result's events (Detected or Failed, and Review Requested when selected) under ``claim``; on
    failure give the claim up so the redelivery can publish."""
    detail, review_detail = details
    try:
        deps.publisher.publish(detail, review_detail)
    except Exception:
        deps.repository.release_publish(image, settings.project_version_arn, claim)
        raise
    deps.repository.mark_published(image, settings.project_version_arn)


def process_image(image: ImageRef, settings: ModelSettings, deps: Dependencies, state: BatchState) -> Outcome:
    """Label one object version exactly once."""
    stored = deps.repository.get(image, settings.project_version_arn)
    if stored is not None:
        republished = False
        if not stored.published:
            # An earlier delivery wrote the result but its event has not gone out: publish it, unless that
            # delivery (or another duplicate) still holds the claim and is publishing right now.
            claim = _new_claim(deps, state)
            if deps.repository.claim_publish(image, settings.project_version_arn, claim, _now_ms(deps)):
                _publish((stored.detail, stored.review_detail), image, settings, deps, claim)
                republished = True
        logger.info("duplicate delivery", extra={"republished": republished})
        return "DUPLICATE"
    if state.model_not_ready:
        raise ModelNotReadyError("model reported not ready earlier in this batch")

    started = time.perf_counter()
    try:
        labels = deps.detector.detect(image)
    except PermanentImageError as exc:
        reason = exc.reason
        if reason == "InvalidS3Object" and not deps.inspector.exists(image):
            reason = "ObjectNotFound"
        result = DetectionResult(
            image=image,
            model_name=settings.model_name,
            project_version_arn=settings.project_version_arn,
            status="FAILED",
            reason=reason,
            message=exc.message,
            detected_at=deps.now(),
        )
    else:
        metrics.add_metric(
            name="DetectLatency", unit=MetricUnit.Milliseconds, value=(time.perf_counter() - started) * 1000
        )
        result = DetectionResult(
            image=image,
            model_name=settings.model_name,
            project_version_arn=settings.project_version_arn,
            status="DETECTED",
            labels=labels,
            detected_at=deps.now(),
        )

    detail = event_detail(result)
    # Decided here, once, and written with the result: a redelivery finds the result and decides nothing again.
    reasons = review_reasons(result, settings.review)
    review_detail = review_requested_detail(result, reasons) if reasons else None
    claim = _new_claim(deps, state)
    if not deps.repository.put(result, detail, claim, review_detail):
        # A concurrent delivery of the same object version won the conditional write.
        logger.info("result written concurrently by another delivery")
        return "DUPLICATE"
    _publish((detail, review_detail), image, settings, deps, claim)
    _report(result, reasons)
    return result.status


def _report(result: DetectionResult, reasons: tuple[str, ...]) -> None:
    """Metrics and a log line for a result this delivery wrote and published."""
    if result.status == "DETECTED":
        metrics.add_metric(name="ImagesDetected", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="LabelsPerImage", unit=MetricUnit.Count, value=len(result.labels))
        logger.info("image labelled", extra={"labels": [label.name for label in result.labels]})
    else:
        metrics.add_metric(name="ImagesFailed", unit=MetricUnit.Count, value=1)
        logger.warning("image failed", extra={"reason": result.reason, "detail_message": result.message})
    if reasons:
        metrics.add_metric(name="ReviewsRequested", unit=MetricUnit.Count, value=1)
        logger.info("review requested", extra={"reasons": list(reasons)})
