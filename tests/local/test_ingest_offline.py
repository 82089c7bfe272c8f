"""A deployment alone never starts a model: configuring ingest leaves every detect queue empty, so the backlog
alarm (visible messages or age of the oldest one) has nothing to fire on; only an upload puts a message on a
queue, exactly one, on its own model's queue, as the EventBridge event AWS documents."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from localrun.runtime import LOCAL_BUCKET, OfflineRuntime, RuntimeOptions
from tests.support.configs import pipeline_config

COUNTS = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"]


@pytest.fixture
def runtime() -> Iterator[OfflineRuntime]:
    # Three models on three prefixes: the ingest wiring exactly as the runtime builds it on entry
    with OfflineRuntime(pipeline_config(models=3), RuntimeOptions()) as built:
        yield built


def _counts(runtime: OfflineRuntime, queue_url: str) -> dict[str, int]:
    attributes = runtime.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=COUNTS)["Attributes"]
    return {name: int(attributes[name]) for name in COUNTS}


def _all_queues_empty(runtime: OfflineRuntime) -> dict[str, dict[str, int]]:
    empty = dict.fromkeys(COUNTS, 0)
    return {
        name: counts
        for name, resources in runtime.models.items()
        for counts in (_counts(runtime, resources.queue_url), _counts(runtime, resources.dlq_url))
        if counts != empty
    }


def _receive(runtime: OfflineRuntime, queue_url: str) -> list[dict[str, Any]]:
    messages = runtime.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


def test_configuring_ingest_puts_nothing_on_any_queue_even_when_rewritten(runtime: OfflineRuntime) -> None:
    # Given the runtime as deployed: bucket → EventBridge, one rule per model → its queue
    s3, events = runtime.client("s3"), runtime.client("events")
    assert "QueueConfigurations" not in s3.get_bucket_notification_configuration(Bucket=LOCAL_BUCKET)
    rules = [rule for rule in events.list_rules()["Rules"] if '"aws.s3"' in rule.get("EventPattern", "")]
    targets = [t["Arn"] for rule in rules for t in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]]
    assert sorted(targets) == sorted(resources.queue_arn for resources in runtime.models.values())

    # Then, before any upload, no detect queue or DLQ holds a message: visible, in flight or delayed
    assert _all_queues_empty(runtime) == {}

    # When the notification configuration is written again (every redeploy does this)
    s3.put_bucket_notification_configuration(
        Bucket=LOCAL_BUCKET, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )

    # Then still nothing: no test event, so no message can age into the backlog alarm
    assert _all_queues_empty(runtime) == {}


def test_one_upload_gives_exactly_one_message_on_its_own_models_queue(runtime: OfflineRuntime) -> None:
    # Given three models and an upload under the second one's prefix, with a key notifications would encode
    names = list(runtime.models)
    target = runtime.models[names[1]]
    key = f"{target.model.prefix}crate 1/10:47:07 a+b.jpg"

    # When it is uploaded
    put = runtime.client("s3").put_object(Bucket=LOCAL_BUCKET, Key=key, Body=b"not an image")

    # Then that model's queue holds exactly one message and every other queue (and every DLQ) none
    assert _counts(runtime, target.queue_url) == {COUNTS[0]: 1, COUNTS[1]: 0, COUNTS[2]: 0}
    others = [runtime.models[name] for name in names if name != names[1]]
    empty = dict.fromkeys(COUNTS, 0)
    assert all(_counts(runtime, r.queue_url) == empty for r in others)
    assert all(_counts(runtime, r.dlq_url) == empty for r in runtime.models.values())
    # ... and that message is the S3 "Object Created" event for that exact key (not URL-encoded)
    [event] = _receive(runtime, target.queue_url)
    assert (event["source"], event["detail-type"]) == ("aws.s3", "Object Created")
    assert event["detail"]["bucket"]["name"] == LOCAL_BUCKET
    assert event["detail"]["object"]["key"] == key
    # ... naming the object version, so offline results are keyed on the version id as on AWS
    assert event["detail"]["object"]["version-id"] == put["VersionId"]
