"""Domain errors of the A2I package."""

from __future__ import annotations


class A2iError(Exception):
    """Base class of every error the A2I package raises on purpose."""


class HumanLoopStartError(A2iError):
    """StartHumanLoop refused the loop (after the SDK's own retries); the message carries the error code."""


class HumanLoopOutputError(A2iError):
    """A finished loop's output cannot become a review decision: unreadable, or not the answer contract of
    docs/a2i.md. Retrying does not help; the result stays PENDING."""
