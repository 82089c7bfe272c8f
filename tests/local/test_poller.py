"""The local event source poller honours the mapping's state and SQS's answer to each batch."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from localrun.poller import EventSourcePoller


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return {}\n")
    return buffer.getvalue()


@pytest.fixture
def queue() -> Iterator[dict[str, Any]]:
    with mock_aws():
        sqs = boto3.client("sqs")
        lam = boto3.client("lambda")
        iam = boto3.client("iam")
        role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        url = sqs.create_queue(QueueName="work")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        shadow = sqs.create_queue(QueueName="shadow")["QueueUrl"]
        shadow_arn = sqs.get_queue_attributes(QueueUrl=shadow, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        lam.create_function(
            FunctionName="f", Runtime="python3.13", Role=role, Handler="index.handler", Code={"ZipFile": _zip()}
        )
        uuid = lam.create_event_source_mapping(
            EventSourceArn=shadow_arn,
            FunctionName="f",
            BatchSize=3,
            Enabled=False,
            ScalingConfig={"MaximumConcurrency": 2},
        )["UUID"]
        yield {"sqs": sqs, "lambda": lam, "url": url, "arn": arn, "uuid": uuid}


def _poller(queue: dict[str, Any], handler: Any, visibility_timeout_real_seconds: float = 30) -> EventSourcePoller:
    return EventSourcePoller(
        sqs=queue["sqs"],
        lambda_client=queue["lambda"],
        mapping_uuid=queue["uuid"],
        queue_url=queue["url"],
        queue_arn=queue["arn"],
        region="us-east-1",
        handler=handler,
        visibility_timeout_real_seconds=visibility_timeout_real_seconds,
        idle_sleep_seconds=0.01,
    )


def _depth(queue: dict[str, Any]) -> tuple[int, int]:
    attributes = queue["sqs"].get_queue_attributes(
        QueueUrl=queue["url"], AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def _wait(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_nothing_is_consumed_while_the_mapping_is_disabled(queue: dict[str, Any]) -> None:
    calls: list[dict[str, Any]] = []
    queue["sqs"].send_message(QueueUrl=queue["url"], MessageBody="{}")
    poller = _poller(queue, lambda event: calls.append(event) or {"batchItemFailures": []})

    poller.start()
    time.sleep(0.3)
    poller.stop()

    assert calls == []
    assert _depth(queue) == (1, 0)


def test_batches_respect_the_mapping_and_failed_items_stay_on_the_queue(queue: dict[str, Any]) -> None:
    # Given seven messages, one of which the handler reports as failed
    for index in range(7):
        queue["sqs"].send_message(QueueUrl=queue["url"], MessageBody=json.dumps({"n": index}))
    batches: list[list[dict[str, Any]]] = []

    def handler(event: dict[str, Any]) -> dict[str, Any]:
        batches.append(event["Records"])
        failed = [r["messageId"] for r in event["Records"] if json.loads(r["body"])["n"] == 3]
        return {"batchItemFailures": [{"itemIdentifier": m} for m in failed]}

    poller = _poller(queue, handler)
    poller.start()
    # When the controller enables the mapping
    queue["lambda"].update_event_source_mapping(UUID=queue["uuid"], Enabled=True)
    _wait(lambda: poller.stats.messages >= 7)
    poller.stop()

    # Then batches never exceed the mapping's size, successes are deleted, the failure waits invisible
    assert all(len(batch) <= 3 for batch in batches)
    assert batches[0][0]["eventSource"] == "aws:sqs"
    assert batches[0][0]["eventSourceARN"] == queue["arn"]
    assert _depth(queue) == (0, 1)
    assert poller.stats.item_failures == 1


def test_a_crashing_handler_fails_its_whole_batch(queue: dict[str, Any]) -> None:
    for index in range(2):
        queue["sqs"].send_message(QueueUrl=queue["url"], MessageBody=json.dumps({"n": index}))

    def handler(event: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("boom")

    poller = _poller(queue, handler)
    queue["lambda"].update_event_source_mapping(UUID=queue["uuid"], Enabled=True)
    poller.start()
    _wait(lambda: poller.stats.handler_errors >= 1)
    poller.stop()

    assert poller.errors[0] == "RuntimeError: boom"
    assert _depth(queue) == (0, 2)


def test_a_failed_poll_is_recorded_and_polling_goes_on(queue: dict[str, Any]) -> None:
    # Given an SQS client whose first ReceiveMessage fails (as moto's can under concurrent receives)
    for index in range(4):
        queue["sqs"].send_message(QueueUrl=queue["url"], MessageBody=json.dumps({"n": index}))
    real_receive = queue["sqs"].receive_message
    failures = [RuntimeError("list.remove(x): x not in list")]

    def flaky_receive(**kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return real_receive(**kwargs)

    queue["sqs"].receive_message = flaky_receive
    consumed: list[str] = []

    def handler(event: dict[str, Any]) -> dict[str, Any]:
        consumed.extend(r["body"] for r in event["Records"])
        return {"batchItemFailures": []}

    poller = _poller(queue, handler)
    queue["lambda"].update_event_source_mapping(UUID=queue["uuid"], Enabled=True)

    # When it polls
    poller.start()
    _wait(lambda: len(consumed) >= 4)
    poller.stop()

    # Then the failure is recorded and every message is still consumed, once
    assert poller.stats.poll_errors == 1
    assert poller.errors == ["poll: RuntimeError: list.remove(x): x not in list"]
    assert sorted(consumed) == sorted(json.dumps({"n": n}) for n in range(4))
    assert _depth(queue) == (0, 0)


def test_a_slow_batch_is_not_received_twice_and_failures_come_back_after_the_scaled_timeout(
    queue: dict[str, Any],
) -> None:
    # Given a scaled visibility timeout of 1 real second and a handler slower than that on its first batch
    queue["sqs"].send_message(QueueUrl=queue["url"], MessageBody=json.dumps({"n": 0}))
    calls: list[str] = []

    def handler(event: dict[str, Any]) -> dict[str, Any]:
        calls.append(event["Records"][0]["messageId"])
        if len(calls) == 1:
            time.sleep(2.0)  # longer than the scaled visibility timeout
            return {"batchItemFailures": [{"itemIdentifier": calls[0]}]}
        return {"batchItemFailures": []}

    poller = _poller(queue, handler, visibility_timeout_real_seconds=1)
    queue["lambda"].update_event_source_mapping(UUID=queue["uuid"], Enabled=True)
    sqs = queue["sqs"]
    received_with: list[int] = []
    changed_to: list[int] = []
    real_receive, real_change = sqs.receive_message, sqs.change_message_visibility_batch

    def receive(**kwargs: Any) -> Any:
        received_with.append(kwargs["VisibilityTimeout"])
        return real_receive(**kwargs)

    def change(**kwargs: Any) -> Any:
        changed_to.extend(entry["VisibilityTimeout"] for entry in kwargs["Entries"])
        return real_change(**kwargs)

    sqs.receive_message, sqs.change_message_visibility_batch = receive, change

    # When it polls
    poller.start()
    _wait(lambda: poller.stats.messages >= 2, timeout=10)
    poller.stop()

    # Then messages are received with the in-flight visibility (the function timeout), and only the
    # failed one is given the scaled timeout
    assert set(received_with) == {60}
    assert changed_to == [1]

    # Then the message was not handed out again while the first invocation held it (the second delivery
    # is the retry of its reported failure, one scaled timeout after it), and the retry succeeded
    assert len(calls) == 2 and calls[0] == calls[1]
    assert poller.stats.item_failures == 1
    assert _depth(queue) == (0, 0)
