"""The result events the pipeline actually delivered: an EventBridge rule on its bus → an SQS queue."""

from __future__ import annotations

import json
from typing import Any

from infra import constants

RESULT_DETAIL_TYPES = [constants.DETAIL_TYPE_DETECTED, constants.DETAIL_TYPE_FAILED]


def capture_result_events(
    sqs: Any, events: Any, bus: str, *, queue: str = "reliability-capture", rule: str = "capture-results"
) -> str:
    """Route every result event published on ``bus`` to a new queue; returns the queue's URL."""
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name=rule,
        EventBusName=bus,
        EventPattern=json.dumps({"source": [constants.EVENT_SOURCE], "detail-type": RESULT_DETAIL_TYPES}),
    )
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    return str(url)


def drain(sqs: Any, url: str) -> list[str]:
    """Every message body on the queue (each received once: the visibility timeout outlasts the test)."""
    bodies: list[str] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600).get("Messages", [])
        if not messages:
            return bodies
        bodies += [m["Body"] for m in messages]
