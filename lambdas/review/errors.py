"""Domain errors of the review package."""

from __future__ import annotations


class ReviewError(Exception):
    """Base class of every error the review package raises on purpose."""


class ReviewStoreError(ReviewError):
    """The results table could not be read or written (after the SDK's own retries)."""


class ReviewPublishError(ReviewError):
    """EventBridge rejected the Reviewed event after retries; the decision is recorded, its event not sent."""
