"""The review policy applied by the real detect handler: moto for AWS, botocore's Stubber for Rekognition.

A selected result is marked PENDING in the same conditional write as the result and its ``Custom Labels Review
Requested`` event goes out in the same PutEvents call as ``Custom Labels Detected``, under the same publish claim.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.constants import DETAIL_TYPE_DETECTED, DETAIL_TYPE_REVIEW_REQUESTED
from lambdas.detect import handler as handler_module
from lambdas.detect.adapters import EventBridgePublisher
from lambdas.detect.handler import handler
from lambdas.review.models import ReviewPolicy
from lambdas.review.store import ReviewStore
from tests.support.detect import BUS, MODEL, TABLE, Pipeline, detect_world, handler_environment
from tests.support.events import sqs_event

POLICY = ReviewPolicy(enabled=True, min_confidence=80.0)
UNSURE = [{"Name": "rotten", "Confidence": 97.1}, {"Name": "ripe", "Confidence": 61.5}]
SURE = [{"Name": "rotten", "Confidence": 97.1}]


@pytest.fixture
def reviewing(monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    """The detect world of tests/support/detect.py, for a model whose review policy is POLICY."""
    with detect_world(review=POLICY) as world:
        for name, value in handler_environment(world.queue_url, POLICY).items():
            monkeypatch.setenv(name, value)
        handler_module.settings.cache_clear()
        monkeypatch.setattr(handler_module, "dependencies", lambda: world.deps)
        yield world
        handler_module.settings.cache_clear()


class RecordingEvents:
    """The moto EventBridge client, remembering the entries of every PutEvents call."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.calls: list[list[dict[str, Any]]] = []

    def put_events(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs["Entries"])
        return self._inner.put_events(**kwargs)


def _failures(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def _by_type(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {event["detail-type"]: event["detail"] for event in events}


def test_an_unsure_result_is_pending_review_with_both_events_in_one_call(
    reviewing: Pipeline, lambda_context: Any
) -> None:
    # Given a model reviewing labels under 80 and an upload the model labels ripe at 61.5
    events = RecordingEvents(reviewing.events)
    reviewing.deps.publisher = EventBridgePublisher(events, BUS, sleep=lambda _s: None)  # type: ignore[arg-type]
    record = reviewing.upload("produce/crate 1/unsure.jpg")
    reviewing.expect_detect(record, UNSURE)

    # When the handler receives it
    response = handler(sqs_event({"Records": [record]}), lambda_context)

    # Then the result item is pending review, with the reasons and the index keys
    assert _failures(response) == []
    [stored] = reviewing.results()
    assert stored["review"] == {"S": "PENDING"}
    assert stored["review_reasons"] == {"L": [{"S": "LOW_CONFIDENCE"}]}
    assert stored["review_key"] == {"S": f"{MODEL}#PENDING"}
    assert (
        stored["review_sort"]["S"] == f"{stored['detected_at']['S']}#{stored['bucket']['S']}/produce/crate 1/unsure.jpg"
    )
    assert stored["event_published"] == {"BOOL": True}
    # and one PutEvents call carried both events, each valid against its schema (captured_events validates)
    assert [[entry["DetailType"] for entry in call] for call in events.calls] == [
        [DETAIL_TYPE_DETECTED, DETAIL_TYPE_REVIEW_REQUESTED]
    ]
    published = _by_type(reviewing.captured_events())
    assert published.keys() == {DETAIL_TYPE_DETECTED, DETAIL_TYPE_REVIEW_REQUESTED}
    requested = published[DETAIL_TYPE_REVIEW_REQUESTED]
    assert requested["result_id"] == published[DETAIL_TYPE_DETECTED]["result_id"]
    assert requested["reasons"] == ["LOW_CONFIDENCE"]
    assert [label["name"] for label in requested["labels"]] == ["rotten", "ripe"]
    # and the Detected event is the documented one, without review fields
    assert "review" not in published[DETAIL_TYPE_DETECTED]
    # and the pending result is found per model without a scan (the by_review index)
    [pending] = ReviewStore(reviewing.dynamodb, TABLE).pending(MODEL)
    assert (pending.key, pending.reasons, pending.result_id) == (
        "produce/crate 1/unsure.jpg",
        ("LOW_CONFIDENCE",),
        requested["result_id"],
    )


def test_a_sure_result_is_not_reviewed_and_sends_its_detected_event_alone(
    reviewing: Pipeline, lambda_context: Any
) -> None:
    record = reviewing.upload("produce/sure.jpg")
    reviewing.expect_detect(record, SURE)

    assert _failures(handler(sqs_event({"Records": [record]}), lambda_context)) == []

    [stored] = reviewing.results()
    assert "review" not in stored
    assert [event["detail-type"] for event in reviewing.captured_events()] == [DETAIL_TYPE_DETECTED]
    assert ReviewStore(reviewing.dynamodb, TABLE).pending(MODEL) == []


def test_a_duplicate_delivery_decides_nothing_new(reviewing: Pipeline, lambda_context: Any) -> None:
    # Given an unsure result already written and published, pending review
    record = reviewing.upload("produce/twice.jpg")
    reviewing.expect_detect(record, UNSURE)
    assert _failures(handler(sqs_event({"Records": [record]}), lambda_context)) == []
    assert len(reviewing.captured_events()) == 2
    before = reviewing.results()

    # When S3 delivers the same notification again
    assert _failures(handler(sqs_event({"Records": [record]}), lambda_context)) == []

    # Then nothing is detected, written or published again
    reviewing.stubber.assert_no_pending_responses()
    assert reviewing.results() == before
    assert reviewing.captured_events() == []
    assert len(ReviewStore(reviewing.dynamodb, TABLE).pending(MODEL)) == 1


def test_a_republish_after_a_crash_sends_the_review_request_too(reviewing: Pipeline, lambda_context: Any) -> None:
    # Given a delivery that wrote an unsure result, then died before publishing (its claim never released)
    record = reviewing.upload("produce/crashed.jpg")
    reviewing.expect_detect(record, UNSURE)
    event = sqs_event({"Records": [record]})
    with reviewing.dying_before_publishing():
        assert _failures(handler(event, lambda_context)) == [event["Records"][0]["messageId"]]
    assert reviewing.captured_events() == []

    # When the redelivery comes after the claim's lease
    later = datetime.now(UTC) + timedelta(seconds=lambda_context.get_remaining_time_in_millis() / 1000 + 6)
    reviewing.deps.now = lambda: later
    assert _failures(handler(event, lambda_context)) == []

    # Then both events go out, once, from what was stored (no second detection, the same review request)
    reviewing.stubber.assert_no_pending_responses()
    published = _by_type(reviewing.captured_events())
    assert published.keys() == {DETAIL_TYPE_DETECTED, DETAIL_TYPE_REVIEW_REQUESTED}
    assert published[DETAIL_TYPE_REVIEW_REQUESTED]["reasons"] == ["LOW_CONFIDENCE"]
    assert reviewing.results()[0]["event_published"] == {"BOOL": True}


def test_a_disabled_policy_writes_no_review_attribute(pipeline: Pipeline, lambda_context: Any) -> None:
    # Given the default model (no review block) and an upload labelled at 61.5
    record = pipeline.upload("produce/unsure.jpg")
    pipeline.expect_detect(record, UNSURE)

    # When the handler receives it
    assert _failures(handler(sqs_event({"Records": [record]}), lambda_context)) == []

    # Then the item carries no review attribute and only the Detected event goes out, as before the policy existed
    [stored] = pipeline.results()
    assert not {name for name in stored if name.startswith("review")}
    assert [event["detail-type"] for event in pipeline.captured_events()] == [DETAIL_TYPE_DETECTED]
