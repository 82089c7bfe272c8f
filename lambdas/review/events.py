"""The review's events (schemas in docs/events/): ``Custom Labels Review Requested`` (sent by the detect function
beside ``Custom Labels Detected``) and ``Custom Labels Reviewed`` (sent once a decision is recorded)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lambdas.common.contract import DETAIL_TYPE_REVIEWED
from lambdas.common.eventbridge import EventBridgeSender, PutEventsError
from lambdas.detect.models import DetectionResult
from lambdas.review.errors import ReviewPublishError
from lambdas.review.models import ReviewDecision, ReviewReason, iso_utc

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

    from lambdas.review.store import ReviewStore


def review_requested_detail(result: DetectionResult, reasons: tuple[ReviewReason, ...]) -> dict[str, Any]:
    """The ``detail`` of ``Custom Labels Review Requested`` for a result the policy selected."""
    image = result.image
    return {
        "result_id": result.result_id,
        "model_name": result.model_name,
        "project_version_arn": result.project_version_arn,
        "bucket": image.bucket,
        "key": image.key,
        "version_id": image.version_id,
        "object_version": image.object_version,
        "labels": [label.model_dump(mode="json") for label in result.labels],
        "reasons": list(reasons),
        "detected_at": iso_utc(result.detected_at),
    }


def reviewed_detail(decision: ReviewDecision) -> dict[str, Any]:
    """The ``detail`` of ``Custom Labels Reviewed``: the prediction, the reviewer's labels and who decided."""
    result = decision.result
    return {
        "result_id": result.result_id,
        "model_name": result.model_name,
        "project_version_arn": result.project_version_arn,
        "bucket": result.bucket,
        "key": result.key,
        "object_version": result.object_version,
        "predicted_labels": [label.model_dump(mode="json") for label in result.labels],
        "reviewed_labels": [label.model_dump(mode="json") for label in decision.reviewed_labels],
        "changed": decision.changed,
        "reviewer": decision.reviewer,
        "reviewed_at": decision.reviewed_at_iso,
        "source": decision.source,
    }


class ReviewedPublisher:
    """Publishes ``Custom Labels Reviewed`` on the pipeline's bus (the detect function's retry of failed entries)."""

    def __init__(
        self, client: EventBridgeClient, bus_name: str, attempts: int = 4, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._sender = EventBridgeSender(client, bus_name, attempts, sleep)

    def publish(self, decision: ReviewDecision) -> None:
        """Raises ReviewPublishError when EventBridge keeps rejecting the event."""
        try:
            self._sender.send([(DETAIL_TYPE_REVIEWED, reviewed_detail(decision))])
        except PutEventsError as exc:
            raise ReviewPublishError(str(exc)) from exc


def record_and_publish(decision: ReviewDecision, store: ReviewStore, publisher: ReviewedPublisher) -> bool:
    """Record ``decision`` and publish its Reviewed event; ``False`` when the result was already decided.

    The event goes out only after the conditional write succeeded, so a second identical decision publishes
    nothing. If the publish failed after an earlier write, the same decision (same tool and task) publishes it
    now: the event is sent at least once, like the detect function's.
    """
    recorded = store.record(decision)
    if not recorded and not store.unpublished(decision):
        return False
    publisher.publish(decision)
    store.mark_published(decision)
    return recorded
