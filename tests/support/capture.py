"""The result events the pipeline actually delivered (``World.capture_events`` routes them to a queue)."""

from __future__ import annotations

from typing import Any

from infra import constants

RESULT_DETAIL_TYPES = [constants.DETAIL_TYPE_DETECTED, constants.DETAIL_TYPE_FAILED]


def drain(sqs: Any, url: str) -> list[str]:
    """Every message body on the queue (each received once: the visibility timeout outlasts the test)."""
    bodies: list[str] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600).get("Messages", [])
        if not messages:
            return bodies
        bodies += [m["Body"] for m in messages]
