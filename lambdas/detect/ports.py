"""What detection logic needs from the outside world, as Protocols; boto3 implementations live in ``adapters``.

Logic (``lambdas.detect.logic``) depends on this module only, so it can be exercised with in-memory
implementations (the benchmarks, the fault-injection wrappers) and reviewed without reading boto3 code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from lambdas.detect.models import DetectionResult, ImageRef, Label


class Detector(Protocol):
    """The model: labels of one image, or PermanentImageError / ModelNotReadyError / RetryableError."""

    def detect(self, image: ImageRef) -> tuple[Label, ...]: ...


class ObjectInspector(Protocol):
    """Whether the object version still exists (a deleted one is ``ObjectNotFound``, not a bad image)."""

    def exists(self, image: ImageRef) -> bool: ...


class StoredResult:
    """A result already in the table: its event detail (and its review request's, when the review policy selected
    it) and whether the events went out."""

    def __init__(self, detail: dict[str, Any], published: bool, review_detail: dict[str, Any] | None = None) -> None:
        self.detail = detail
        self.published = published
        self.review_detail = review_detail


@dataclass(frozen=True)
class PublishClaim:
    """The right to publish a stored result's event, held by one delivery until ``expires_at_ms``.

    Written with the result, so a concurrent duplicate delivery that finds the result not yet published
    leaves the event to the delivery that wrote it. It expires once that invocation can no longer be
    running, so a redelivery after a crash between the write and the publish still publishes.
    """

    token: str
    expires_at_ms: int


class ResultsRepository(Protocol):
    """One result per object version × model version, written once; its event published under a claim."""

    def get(self, image: ImageRef, project_version_arn: str) -> StoredResult | None: ...
    def put(
        self,
        result: DetectionResult,
        detail: dict[str, Any],
        claim: PublishClaim,
        review_detail: dict[str, Any] | None = None,
    ) -> bool: ...
    def claim_publish(self, image: ImageRef, project_version_arn: str, claim: PublishClaim, now_ms: int) -> bool: ...
    def release_publish(self, image: ImageRef, project_version_arn: str, claim: PublishClaim) -> None: ...
    def mark_published(self, image: ImageRef, project_version_arn: str) -> None: ...


class EventPublisher(Protocol):
    """Publishes a result's event detail, and its review request's when given, in one call; raises PublishError
    when it cannot."""

    def publish(self, detail: dict[str, Any], review_detail: dict[str, Any] | None = None) -> None: ...


class Requeuer(Protocol):
    """Puts a record back on the detect queue as a new message (the model was not ready for it)."""

    def requeue(self, body: dict[str, Any]) -> None: ...
