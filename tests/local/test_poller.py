"""The local event source poller honours the mapping's state and SQS's answer to each batch, in simulated time:
each test drives a VirtualClock as the only other actor, so every timing below is exact."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from localrun.clock import VirtualClock
from localrun.moto_time import virtual_time
from localrun.poller import EventSourcePoller


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return {}\n")
    return buffer.getvalue()


@pytest.fixture
def clock() -> Iterator[VirtualClock]:
    """The simulation's clock; the test's thread is an actor, so time moves only when the test waits."""
    clock = VirtualClock()
    with virtual_time(clock), clock.acting():
        yield clock
        clock.halt()


@pytest.fixture
def queue(clock: VirtualClock) -> Iterator[dict[str, Any]]:
    with mock_aws():
        sqs = boto3.client("sqs")
        lam = boto3.client("lambda")
        iam = boto3.client("iam")
        role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        url = sqs.create_queue(QueueName="work", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
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


def _poller(queue: dict[str, Any], clock: VirtualClock, handler: Any) -> EventSourcePoller:
    return EventSourcePoller(
        sqs=queue["sqs"],
        lambda_client=queue["lambda"],
        mapping_uuid=queue["uuid"],
        queue_url=queue["url"],
        queue_arn=queue["arn"],
        region="us-east-1",
        handler=handler,
        clock=clock,
    )


def _depth(queue: dict[str, Any]) -> tuple[int, int]:
    attributes = queue["sqs"].get_queue_attributes(
        QueueUrl=queue["url"], AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def _send(queue: dict[str, Any], *numbers: int) -> None:
    for n in numbers:
        queue["sqs"].send_message(QueueUrl=queue["url"], MessageBody=json.dumps({"n": n}))


def _enable(queue: dict[str, Any]) -> None:
    queue["lambda"].update_event_source_mapping(UUID=queue["uuid"], Enabled=True)


def _ok(calls: list[list[dict[str, Any]]]) -> Any:
    def handler(event: dict[str, Any]) -> dict[str, Any]:
        calls.append(event["Records"])
        return {"batchItemFailures": []}

    return handler


def test_nothing_is_consumed_while_the_mapping_is_disabled(queue: dict[str, Any], clock: VirtualClock) -> None:
    calls: list[list[dict[str, Any]]] = []
    _send(queue, 0)
    poller = _poller(queue, clock, _ok(calls))

    poller.start()
    clock.sleep(3600)

    assert calls == []
    assert _depth(queue) == (1, 0)


def test_enabling_the_mapping_wakes_the_pollers_at_that_instant(queue: dict[str, Any], clock: VirtualClock) -> None:
    # Given pollers waiting on a disabled mapping for a while
    calls: list[list[dict[str, Any]]] = []
    _send(queue, 0, 1)
    _poller(queue, clock, _ok(calls)).start()
    clock.sleep(100)
    enabled_at = clock.now()

    # When the controller enables the mapping, and no time passes
    _enable(queue)
    clock.sleep(0.001)

    # Then the backlog was consumed at that instant (not at the next recheck)
    assert sum(len(batch) for batch in calls) == 2
    assert clock.now() == pytest.approx(enabled_at + 0.001)
    assert _depth(queue) == (0, 0)


def test_a_message_sent_to_an_empty_queue_is_consumed_when_it_arrives(
    queue: dict[str, Any], clock: VirtualClock
) -> None:
    # Given enabled pollers long-polling an empty queue
    calls: list[list[dict[str, Any]]] = []
    _enable(queue)
    _poller(queue, clock, _ok(calls)).start()
    clock.sleep(7)

    # When a message arrives
    _send(queue, 0)
    clock.sleep(0.001)

    # Then it was consumed at once, not at the end of the 20-second long poll
    assert [json.loads(batch[0]["body"]) for batch in calls] == [{"n": 0}]


def test_batches_respect_the_mapping_and_a_failed_item_comes_back_after_the_visibility_timeout(
    queue: dict[str, Any], clock: VirtualClock
) -> None:
    # Given seven messages, one of which the handler reports as failed the first time
    _send(queue, *range(7))
    batches: list[list[dict[str, Any]]] = []
    seen_three: list[float] = []

    def handler(event: dict[str, Any]) -> dict[str, Any]:
        batches.append(event["Records"])
        failed = []
        for record in event["Records"]:
            if json.loads(record["body"])["n"] == 3:
                seen_three.append(clock.now())
                if len(seen_three) == 1:
                    failed.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failed}

    poller = _poller(queue, clock, handler)
    poller.start()

    # When the controller enables the mapping
    _enable(queue)
    clock.sleep(1)

    # Then batches never exceed the mapping's size, successes are deleted, the failure waits invisible
    assert all(len(batch) <= 3 for batch in batches)
    assert batches[0][0]["eventSource"] == "aws:sqs"
    assert batches[0][0]["eventSourceARN"] == queue["arn"]
    assert _depth(queue) == (0, 1)
    assert poller.stats.item_failures == 1

    # ... and it is received again once the queue's 30-second visibility timeout is over (seen at the next
    # long poll, within 20 s), then succeeds
    clock.sleep(60)
    assert len(seen_three) == 2
    assert 30 <= seen_three[1] - seen_three[0] <= 30 + 20
    assert _depth(queue) == (0, 0)


def test_a_crashing_handler_fails_its_whole_batch(queue: dict[str, Any], clock: VirtualClock) -> None:
    _send(queue, 0, 1)

    def handler(event: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("boom")

    poller = _poller(queue, clock, handler)
    _enable(queue)
    poller.start()
    clock.sleep(1)

    assert poller.errors[0] == "RuntimeError: boom"
    assert poller.stats.handler_errors == 1
    assert _depth(queue) == (0, 2)


def test_a_failed_poll_is_recorded_and_polling_goes_on(queue: dict[str, Any], clock: VirtualClock) -> None:
    # Given an SQS client whose first ReceiveMessage fails (as moto's can under concurrent receives)
    _send(queue, *range(4))
    real_receive = queue["sqs"].receive_message
    failures = [RuntimeError("list.remove(x): x not in list")]

    def flaky_receive(**kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return real_receive(**kwargs)

    queue["sqs"].receive_message = flaky_receive
    calls: list[list[dict[str, Any]]] = []
    poller = _poller(queue, clock, _ok(calls))
    _enable(queue)

    # When it polls
    poller.start()
    clock.sleep(5)

    # Then the failure is recorded and every message is still consumed, once
    assert poller.stats.poll_errors == 1
    assert poller.errors == ["poll: RuntimeError: list.remove(x): x not in list"]
    assert sorted(r["body"] for batch in calls for r in batch) == sorted(json.dumps({"n": n}) for n in range(4))
    assert _depth(queue) == (0, 0)


def test_instances_beyond_the_maximum_concurrency_never_poll(queue: dict[str, Any], clock: VirtualClock) -> None:
    # Given a mapping of maximum concurrency 2 and a handler that takes 10 simulated seconds per batch
    _send(queue, *range(12))
    running: list[int] = []
    peak: list[int] = []

    def handler(event: dict[str, Any]) -> dict[str, Any]:
        running.append(1)
        peak.append(len(running))
        clock.sleep(10)
        running.pop()
        return {"batchItemFailures": []}

    poller = _poller(queue, clock, handler)
    _enable(queue)
    poller.start()
    clock.sleep(100)

    # Then never more than two batches ran at once, and the four batches took two rounds of 10 s
    assert max(peak) == 2
    assert poller.stats.batches == 4
    assert _depth(queue) == (0, 0)


def _counting(client: Any, operation: str) -> list[str]:
    """Every ``operation`` request ``client`` makes (botocore's own event, before moto answers)."""
    made: list[str] = []
    client.meta.events.register(f"before-call.*.{operation}", lambda **_: made.append(operation))
    return made


def test_the_mapping_is_read_again_only_after_it_was_updated(queue: dict[str, Any], clock: VirtualClock) -> None:
    # Given pollers on an enabled mapping and a queue that gets a message now and then for an hour
    calls: list[list[dict[str, Any]]] = []
    reads = _counting(queue["lambda"], "GetEventSourceMapping")
    _enable(queue)
    _poller(queue, clock, _ok(calls)).start()
    for n in range(6):
        _send(queue, n)
        clock.sleep(600)
    reads_while_enabled = len(reads)

    # When the mapping is disabled, then a message arrives
    queue["lambda"].update_event_source_mapping(UUID=queue["uuid"], Enabled=False)
    clock.sleep(1)
    _send(queue, 99)
    clock.sleep(3600)

    # Then the hour of polling read the mapping once (at start), the update once more, and the disabled
    # mapping's pollers took nothing
    assert sum(len(batch) for batch in calls) == 6
    assert reads_while_enabled == 1
    assert len(reads) == 2
    assert _depth(queue) == (1, 0)


def test_an_idle_queue_is_not_polled_every_long_poll(queue: dict[str, Any], clock: VirtualClock) -> None:
    # Given enabled pollers on a queue with nothing in it, nothing in flight and nothing delayed
    calls: list[list[dict[str, Any]]] = []
    receives = _counting(queue["sqs"], "ReceiveMessage")
    _enable(queue)
    _poller(queue, clock, _ok(calls)).start()

    # When an hour passes, then a message arrives
    clock.sleep(3600)
    idle_receives = len(receives)
    _send(queue, 0)
    clock.sleep(0.001)

    # Then each of the two instances looked about once per 300-s recheck, not every 20 s (360 receives), and
    # the message was still taken the instant it arrived
    assert idle_receives <= 2 * (3600 // 300 + 1)
    assert [json.loads(batch[0]["body"]) for batch in calls] == [{"n": 0}]


def test_a_message_in_flight_is_still_seen_when_it_becomes_visible_again(
    queue: dict[str, Any], clock: VirtualClock
) -> None:
    # Given a message received elsewhere (in flight for the queue's 30-s visibility timeout) and nothing else
    queue["sqs"].send_message(QueueUrl=queue["url"], MessageBody=json.dumps({"n": 7}))
    assert queue["sqs"].receive_message(QueueUrl=queue["url"])["Messages"]
    taken_at: list[float] = []

    def handler(event: dict[str, Any]) -> dict[str, Any]:
        taken_at.append(clock.now())
        return {"batchItemFailures": []}

    _enable(queue)
    _poller(queue, clock, handler).start()
    started = clock.now()

    # When a minute passes
    clock.sleep(60)

    # Then the pollers kept long-polling (20 s) while it was in flight, so it was taken within one long poll
    # of becoming visible again, not at a 300-s idle recheck
    assert len(taken_at) == 1
    assert 30 <= taken_at[0] - started <= 30 + 20
    assert _depth(queue) == (0, 0)
