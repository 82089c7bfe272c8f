"""Domain errors of the detect function."""

from __future__ import annotations


class DetectError(Exception):
    """Base class of every error the detect function raises on purpose."""


class MalformedMessageError(DetectError):
    """The SQS body is neither an S3 EventBridge event nor an S3 event notification; it fails until it is
    dead-lettered."""


class PermanentImageError(DetectError):
    """The image can never be labelled (bad format, too large, gone): record FAILED, never retry."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class ModelNotReadyError(DetectError):
    """The model is not RUNNING; the record is put back on the queue, never dead-lettered."""


class RetryableError(DetectError):
    """A transient failure that survived the SDK's own retries; the message is redelivered later."""


class PublishError(RetryableError):
    """EventBridge rejected events after retries; the stored result remembers it is unpublished."""
