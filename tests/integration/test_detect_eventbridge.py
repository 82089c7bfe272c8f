"""The detect handler fed S3 "Object Created" events as EventBridge delivers them to the queue: the SQS body
is the event itself, keys are not URL-encoded. moto for AWS, botocore's Stubber for Rekognition."""

from __future__ import annotations

import json
from typing import Any

from lambdas.detect.handler import handler
from tests.support.detect import ARN, BUCKET, PREFIX, Pipeline
from tests.support.events import eventbridge_object_created, sqs_event


def _object_created(pipeline: Pipeline, key: str, body: bytes = b"\xff\xd8\xff fake jpeg") -> dict[str, Any]:
    """Put an object and return the EventBridge event S3 would emit for it (AWS's documented shape)."""
    response = pipeline.s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    event = eventbridge_object_created(
        key=key, size=len(body), etag=response["ETag"].strip('"'), **{"version-id": response["VersionId"]}
    )
    event["resources"] = [f"arn:aws:s3:::{BUCKET}"]
    event["detail"]["bucket"]["name"] = BUCKET
    return event


def _expect_detect(pipeline: Pipeline, event: dict[str, Any], labels: list[dict[str, Any]]) -> None:
    obj = event["detail"]["object"]
    pipeline.stubber.add_response(
        "detect_custom_labels",
        {"CustomLabels": labels},
        {
            "ProjectVersionArn": ARN,
            # The key exactly as the event carried it: decoding it would name another object.
            "Image": {"S3Object": {"Bucket": BUCKET, "Name": obj["key"], "Version": obj["version-id"]}},
            "MinConfidence": 50.0,
            "MaxResults": 10,
        },
    )


def failures(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def test_an_eventbridge_upload_with_an_unusual_key_is_labelled_under_that_exact_key(
    pipeline: Pipeline, lambda_context: Any
) -> None:
    # Given an upload whose key has a colon, a plus, a space and a literal %20
    key = f"{PREFIX}2026-11-26T01:58:12 a+b%20c.jpg"
    event = _object_created(pipeline, key)
    _expect_detect(pipeline, event, [{"Name": "ripe", "Confidence": 91.0}])

    # When the handler receives the EventBridge event as the SQS body
    response = handler(sqs_event(event), lambda_context)

    # Then DetectCustomLabels read that very object and one result and one event carry that key
    assert failures(response) == []
    pipeline.stubber.assert_no_pending_responses()
    [result] = pipeline.results()
    assert result["key"]["S"] == key
    assert result["status"]["S"] == "DETECTED"
    assert result["version_id"]["S"] == event["detail"]["object"]["version-id"]
    [published] = pipeline.captured_events()
    assert published["detail"]["key"] == key


def test_an_eventbridge_event_outside_the_model_prefix_is_ignored(pipeline: Pipeline, lambda_context: Any) -> None:
    # Given an object created under another prefix (a rule should not send it, but a redrive could)
    event = _object_created(pipeline, "elsewhere/a.jpg")

    # When the handler receives it
    response = handler(sqs_event(event), lambda_context)

    # Then it succeeds without calling the model, storing or publishing anything
    assert failures(response) == []
    pipeline.stubber.assert_no_pending_responses()
    assert pipeline.results() == []
    assert pipeline.captured_events() == []


def test_model_not_running_puts_the_eventbridge_event_back_in_its_own_shape(
    pipeline: Pipeline, lambda_context: Any
) -> None:
    # Given an EventBridge upload event and a model that is not running
    event = _object_created(pipeline, f"{PREFIX}not:ready yet.jpg")
    pipeline.stubber.add_client_error("detect_custom_labels", service_error_code="ResourceNotReadyException")

    # When the handler receives it
    response = handler(sqs_event(event), lambda_context)

    # Then the message does not fail, and the queue holds the same event again (not a 'Records' wrapper)
    assert failures(response) == []
    assert pipeline.results() == []
    [requeued] = pipeline.queued()
    assert requeued == event


def test_a_malformed_eventbridge_body_fails_only_its_own_message(pipeline: Pipeline, lambda_context: Any) -> None:
    # Given a good event and an EventBridge body whose detail lost the object key
    good = _object_created(pipeline, f"{PREFIX}good.jpg")
    _expect_detect(pipeline, good, [])
    bad = json.loads(json.dumps(good))
    del bad["detail"]["object"]["key"]
    batch = sqs_event(good, bad)

    # When the handler receives both
    response = handler(batch, lambda_context)

    # Then only the bad message is reported as failed (so SQS dead-letters it after maxReceiveCount)
    assert failures(response) == [batch["Records"][1]["messageId"]]
    assert [item["key"]["S"] for item in pipeline.results()] == [f"{PREFIX}good.jpg"]
