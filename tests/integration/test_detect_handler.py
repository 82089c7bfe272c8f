"""The detect handler called directly: moto for AWS, botocore's Stubber for Rekognition."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.stub import Stubber

from infra.constants import GSI_LABEL_BY_CONFIDENCE, GSI_LABEL_BY_TIME
from lambdas.detect.adapters import EventBridgePublisher
from lambdas.detect.handler import handler
from tests.support.detect import BUCKET, BUS, TABLE, Pipeline
from tests.support.events import s3_test_event, sqs_event

ROTTEN = [
    {
        "Name": "rotten",
        "Confidence": 97.1,
        "Geometry": {"BoundingBox": {"Width": 0.4, "Height": 0.3, "Left": 0.1, "Top": 0.2}},
    },
    {"Name": "ripe", "Confidence": 61.5},
]


def failures(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def test_an_uploaded_image_is_labelled_stored_and_published(pipeline: Pipeline, lambda_context: Any) -> None:
    # Given an uploaded image whose notification is on the queue
    record = pipeline.upload("produce/crate 7/apple+pear (1).JPG")
    pipeline.expect_detect(record, ROTTEN)

    # When the handler receives it
    response = handler(sqs_event({"Records": [record]}), lambda_context)

    # Then one result holds the labels, queryable by image and by label, and one event went out
    assert failures(response) == []
    pipeline.stubber.assert_no_pending_responses()
    [result] = pipeline.results()
    assert result["status"]["S"] == "DETECTED"
    assert result["key"]["S"] == "produce/crate 7/apple+pear (1).JPG"
    assert result["event_published"]["BOOL"] is True
    by_image = pipeline.dynamodb.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :result)",
        ExpressionAttributeValues={
            ":pk": {"S": f"OBJ#{BUCKET}/produce/crate 7/apple+pear (1).JPG"},
            ":result": {"S": "RESULT#"},
        },
    )["Items"]
    assert len(by_image) == 1
    by_label = pipeline.dynamodb.query(
        TableName=TABLE,
        IndexName=GSI_LABEL_BY_CONFIDENCE,
        KeyConditionExpression="label_key = :l AND confidence_sort >= :c",
        ExpressionAttributeValues={":l": {"S": "produce-quality#rotten"}, ":c": {"N": "90"}},
        ScanIndexForward=False,
    )["Items"]
    assert [item["key"]["S"] for item in by_label] == ["produce/crate 7/apple+pear (1).JPG"]
    by_time = pipeline.dynamodb.query(
        TableName=TABLE,
        IndexName=GSI_LABEL_BY_TIME,
        KeyConditionExpression="label_key = :l",
        ExpressionAttributeValues={":l": {"S": "produce-quality#ripe"}},
    )["Items"]
    assert len(by_time) == 1
    [event] = pipeline.captured_events()
    assert event["detail-type"] == "Custom Labels Detected"
    assert [label["name"] for label in event["detail"]["labels"]] == ["rotten", "ripe"]
    assert event["detail"]["labels"][0]["bounding_box"]["width"] == 0.4


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("InvalidImageFormatException", "InvalidImageFormat"),
        ("ImageTooLargeException", "ImageTooLarge"),
        ("InvalidParameterException", "InvalidParameter"),
        ("InvalidS3ObjectException", "InvalidS3Object"),
    ],
)
def test_a_bad_image_becomes_a_failed_result_and_is_not_retried(
    pipeline: Pipeline, lambda_context: Any, code: str, reason: str
) -> None:
    record = pipeline.upload("produce/notes.txt", b"just text")
    pipeline.expect_detect_error(code)

    response = handler(sqs_event({"Records": [record]}), lambda_context)

    assert failures(response) == []
    [result] = pipeline.results()
    assert result["status"]["S"] == "FAILED"
    assert result["reason"]["S"] == reason
    [event] = pipeline.captured_events()
    assert event["detail-type"] == "Custom Labels Detection Failed"
    assert event["detail"]["reason"] == reason


def test_an_object_deleted_before_detection_is_reported_as_not_found(pipeline: Pipeline, lambda_context: Any) -> None:
    record = pipeline.upload("produce/gone.jpg")
    pipeline.s3.delete_object(Bucket=BUCKET, Key="produce/gone.jpg", VersionId=record["s3"]["object"]["versionId"])
    pipeline.expect_detect_error("InvalidS3ObjectException")

    response = handler(sqs_event({"Records": [record]}), lambda_context)

    assert failures(response) == []
    [result] = pipeline.results()
    assert result["reason"]["S"] == "ObjectNotFound"
    assert pipeline.captured_events()[0]["detail"]["reason"] == "ObjectNotFound"


def test_model_not_running_requeues_records_and_never_fails_the_message(
    pipeline: Pipeline, lambda_context: Any
) -> None:
    # Given a batch of two messages while the model is stopped
    first, second = pipeline.upload("produce/a.jpg"), pipeline.upload("produce/b.jpg")
    pipeline.expect_detect_error("ResourceNotReadyException")  # only one call: the batch stops asking

    response = handler(sqs_event({"Records": [first]}, {"Records": [second]}), lambda_context)

    # Then nothing fails (no receive count towards the DLQ), nothing is stored, both are back on the queue
    assert failures(response) == []
    pipeline.stubber.assert_no_pending_responses()
    assert pipeline.results() == []
    assert pipeline.captured_events() == []
    requeued = sorted(body["Records"][0]["s3"]["object"]["key"] for body in pipeline.queued())
    assert requeued == ["produce/a.jpg", "produce/b.jpg"]


@pytest.mark.parametrize(
    ("code", "status"),
    [("ThrottlingException", 400), ("ProvisionedThroughputExceededException", 400), ("InternalServerError", 500)],
)
def test_transient_errors_fail_only_their_message(
    pipeline: Pipeline, lambda_context: Any, code: str, status: int
) -> None:
    good, bad = pipeline.upload("produce/good.jpg"), pipeline.upload("produce/bad.jpg")
    pipeline.expect_detect(good, ROTTEN)
    pipeline.expect_detect_error(code, status)
    event = sqs_event({"Records": [good]}, {"Records": [bad]})

    response = handler(event, lambda_context)

    assert failures(response) == [event["Records"][1]["messageId"]]
    assert [r["key"]["S"] for r in pipeline.results()] == ["produce/good.jpg"]


def test_a_duplicate_delivery_writes_and_publishes_nothing_new(pipeline: Pipeline, lambda_context: Any) -> None:
    record = pipeline.upload("produce/dup.jpg")
    pipeline.expect_detect(record, ROTTEN)  # exactly one DetectCustomLabels call is allowed

    handler(sqs_event({"Records": [record]}), lambda_context)
    response = handler(sqs_event({"Records": [record]}, {"Records": [record]}), lambda_context)

    assert failures(response) == []
    pipeline.stubber.assert_no_pending_responses()
    assert len(pipeline.results()) == 1
    assert len(pipeline.captured_events()) == 1


def test_a_new_version_of_the_same_key_is_a_new_result(pipeline: Pipeline, lambda_context: Any) -> None:
    first = pipeline.upload("produce/same.jpg", b"\xff\xd8\xff one")
    second = pipeline.upload("produce/same.jpg", b"\xff\xd8\xff two")
    pipeline.expect_detect(first, ROTTEN)
    pipeline.expect_detect(second, [])

    handler(sqs_event({"Records": [first]}, {"Records": [second]}), lambda_context)

    assert len(pipeline.results()) == 2


def test_several_records_in_one_message_each_get_a_result(pipeline: Pipeline, lambda_context: Any) -> None:
    records = [pipeline.upload(f"produce/multi/{i}.png") for i in range(3)]
    for record in records:
        pipeline.expect_detect(record, ROTTEN[1:])

    response = handler(sqs_event({"Records": records}), lambda_context)

    assert failures(response) == []
    assert len(pipeline.results()) == 3
    assert len(pipeline.captured_events()) == 3


def test_test_events_and_keys_outside_the_prefix_are_ignored(pipeline: Pipeline, lambda_context: Any) -> None:
    outside = pipeline.upload("elsewhere/a.jpg")
    folder = pipeline.upload("produce/folder/")
    test_event = s3_test_event(BUCKET)

    response = handler(sqs_event(test_event, {"Records": [outside, folder]}), lambda_context)

    assert failures(response) == []
    assert pipeline.results() == []


def test_a_malformed_body_fails_its_message_only(pipeline: Pipeline, lambda_context: Any) -> None:
    good = pipeline.upload("produce/ok.jpg")
    pipeline.expect_detect(good, [])
    event = sqs_event("this is not json", {"Records": [good]}, {"Records": [{"eventName": "x"}]})

    response = handler(event, lambda_context)

    assert failures(response) == [event["Records"][0]["messageId"], event["Records"][2]["messageId"]]
    assert len(pipeline.results()) == 1


def test_an_unpublished_result_is_published_on_redelivery_without_detecting_again(
    pipeline: Pipeline, lambda_context: Any
) -> None:
    # Given EventBridge rejects the entry on every attempt of the first delivery
    record = pipeline.upload("produce/late-event.jpg")
    pipeline.expect_detect(record, ROTTEN)
    failing_events = pipeline.events
    stub = Stubber(failing_events)
    for _ in range(4):
        stub.add_response(
            "put_events",
            {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}]},
        )
    stub.activate()
    event = sqs_event({"Records": [record]})

    first = handler(event, lambda_context)

    # Then the message fails and the stored result remembers its event did not go out
    assert failures(first) == [event["Records"][0]["messageId"]]
    [stored] = pipeline.results()
    assert stored["event_published"]["BOOL"] is False
    stub.assert_no_pending_responses()
    stub.deactivate()

    # When SQS redelivers it
    second = handler(event, lambda_context)

    # Then the event goes out once, with no second DetectCustomLabels call
    assert failures(second) == []
    pipeline.stubber.assert_no_pending_responses()
    [published] = pipeline.captured_events()
    assert published["detail"]["key"] == "produce/late-event.jpg"
    assert pipeline.results()[0]["event_published"]["BOOL"] is True


def test_a_concurrent_duplicate_leaves_the_event_to_the_delivery_that_wrote_the_result(
    pipeline: Pipeline, lambda_context: Any
) -> None:
    # Given S3 delivered the same notification twice and the duplicate arrives while the first delivery
    # has written the result and is about to publish its event
    record = pipeline.upload("produce/twice.jpg")
    pipeline.expect_detect(record, ROTTEN)
    first, duplicate = sqs_event({"Records": [record]}), sqs_event({"Records": [record]})
    publisher = pipeline.deps.publisher
    answers: list[Any] = []

    class DuplicateArrivesMidPublish:
        def publish(self, detail: dict[str, Any], review_detail: dict[str, Any] | None = None) -> None:
            if not answers:
                answers.append(handler(duplicate, lambda_context))
            publisher.publish(detail, review_detail)

    pipeline.deps.publisher = DuplicateArrivesMidPublish()

    response = handler(first, lambda_context)

    # Then both deliveries succeed, one result is stored, and its event goes out exactly once
    assert failures(response) == []
    assert failures(answers[0]) == []
    [stored] = pipeline.results()
    assert stored["event_published"]["BOOL"] is True
    assert "publish_claim" not in stored
    assert len(pipeline.captured_events()) == 1


def test_a_publish_claim_left_by_a_crashed_delivery_expires_and_the_redelivery_publishes(
    pipeline: Pipeline, lambda_context: Any
) -> None:
    # Given a delivery that wrote its result, then died before publishing (its claim never released)
    record = pipeline.upload("produce/crashed.jpg")
    pipeline.expect_detect(record, ROTTEN)
    event = sqs_event({"Records": [record]})
    with pipeline.dying_before_publishing():
        assert failures(handler(event, lambda_context)) == [event["Records"][0]["messageId"]]

    # When a duplicate arrives while the claim is live, nothing is published
    assert failures(handler(event, lambda_context)) == []
    assert pipeline.captured_events() == []
    assert pipeline.results()[0]["event_published"]["BOOL"] is False

    # When the redelivery comes after the claim's lease (the invocation's remaining time + margin)
    later = datetime.now(UTC) + timedelta(seconds=lambda_context.get_remaining_time_in_millis() / 1000 + 6)
    pipeline.deps.now = lambda: later
    assert failures(handler(event, lambda_context)) == []

    # Then the event goes out once, without detecting again
    pipeline.stubber.assert_no_pending_responses()
    assert len(pipeline.captured_events()) == 1
    assert pipeline.results()[0]["event_published"]["BOOL"] is True


def test_publisher_retries_only_until_eventbridge_accepts(pipeline: Pipeline) -> None:
    stub = Stubber(pipeline.events)
    stub.add_response(
        "put_events", {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "ThrottlingException", "ErrorMessage": "slow"}]}
    )
    stub.add_client_error("put_events", service_error_code="InternalException", http_status_code=500)
    stub.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "1"}]})
    sleeps: list[float] = []
    publisher = EventBridgePublisher(pipeline.events, BUS, sleep=sleeps.append)

    with stub:
        publisher.publish({"status": "DETECTED", "key": "k"})

    stub.assert_no_pending_responses()
    assert sleeps == [0.1, 0.2]


def test_settings_are_validated_from_the_environment(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    from lambdas.detect import handler as handler_module

    monkeypatch.setenv("MIN_CONFIDENCE", "")
    handler_module.settings.cache_clear()

    settings = handler_module.settings()

    assert settings.min_confidence is None
    assert settings.queue_url == pipeline.queue_url
    assert json.loads(json.dumps(settings.model_dump()))["max_results"] == 10
