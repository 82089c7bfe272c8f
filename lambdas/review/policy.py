"""Which results ask for a human review: one pure function, applied by the detect function where the result is
written (so a redelivery of the same object version decides the same)."""

from __future__ import annotations

import hashlib

from lambdas.detect.models import DetectionResult
from lambdas.review.models import ReviewPolicy, ReviewReason

# The audit draws the first 8 hex digits (32 bits) of a SHA-256 as a number in [0, 1).
_AUDIT_DIGITS = 8
_AUDIT_SPACE: int = 16**_AUDIT_DIGITS


def audit_draw(bucket: str, key: str, object_version: str, model_name: str) -> float:
    """A number in [0, 1), uniform over object versions and fixed for each (no randomness at run time)."""
    seed = f"{bucket}/{key}#{object_version}#{model_name}".encode()
    drawn: int = int(hashlib.sha256(seed).hexdigest()[:_AUDIT_DIGITS], 16)
    return drawn / _AUDIT_SPACE


def review_reasons(result: DetectionResult, policy: ReviewPolicy) -> tuple[ReviewReason, ...]:
    """Why ``result`` asks for review, in the order LOW_CONFIDENCE, NO_LABEL, AUDIT; empty when it does not.

    Only DETECTED results of an enabled policy are reviewed: a FAILED result has nothing to review.
    """
    if not policy.enabled or result.status != "DETECTED":
        return ()
    reasons: list[ReviewReason] = []
    if any(label.confidence < policy.threshold(label.name) for label in result.labels):
        reasons.append("LOW_CONFIDENCE")
    if not result.labels and policy.no_label:
        reasons.append("NO_LABEL")
    image = result.image
    if audit_draw(image.bucket, image.key, image.object_version, result.model_name) < policy.audit_fraction:
        reasons.append("AUDIT")
    return tuple(reasons)
