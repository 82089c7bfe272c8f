"""ReviewStore and the Reviewed event on the results table the detect handler writes (moto; Stubber for Rekognition
and for EventBridge failures)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.stub import Stubber

from infra.constants import DETAIL_TYPE_REVIEWED
from lambdas.detect.handler import handle
from lambdas.detect.models import BoundingBox
from lambdas.detect.settings import Settings
from lambdas.review.errors import ReviewPublishError
from lambdas.review.events import ReviewedPublisher, record_and_publish, reviewed_detail
from lambdas.review.models import PendingReview, ReviewDecision, ReviewedLabel, ReviewPolicy
from lambdas.review.store import ReviewStore
from tests.support.detect import BUS, MODEL, TABLE, Pipeline, detect_world, handler_environment
from tests.support.events import sqs_event

START = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
UNSURE = [
    {
        "Name": "rotten",
        "Confidence": 61.5,
        "Geometry": {"BoundingBox": {"Width": 0.4, "Height": 0.3, "Left": 0.1, "Top": 0.2}},
    }
]


@pytest.fixture
def world() -> Iterator[Pipeline]:
    with detect_world(review=ReviewPolicy(enabled=True)) as pipeline:
        yield pipeline


def _detect(world: Pipeline, context: Any, key: str, at: datetime, labels: list[dict[str, Any]] | None = None) -> None:
    """The handler labels ``key`` at ``at`` (simulated detection time)."""
    record = world.upload(key)
    world.expect_detect(record, UNSURE if labels is None else labels)
    world.deps.now = lambda: at
    settings = Settings.model_validate(handler_environment(world.queue_url, ReviewPolicy(enabled=True)))
    response = handle(sqs_event({"Records": [record]}), context, settings, world.deps)
    assert response["batchItemFailures"] == []


class CountingQueries:
    """The moto DynamoDB client, counting Query pages read through its paginator."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.pages = 0

    def get_paginator(self, name: str) -> Any:
        paginator = self._inner.get_paginator(name)
        outer = self

        class Counting:
            def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
                for page in paginator.paginate(**kwargs):
                    outer.pages += 1
                    yield page

        return Counting()


RIPE = ReviewedLabel(name="ripe", bounding_box=BoundingBox(width=0.4, height=0.3, left=0.1, top=0.2))


def _decision(result: PendingReview, task: str = "annotation-1") -> ReviewDecision:
    return ReviewDecision(
        result=result,
        reviewed_labels=(RIPE,),
        reviewer="ann@example.com",
        reviewed_at=START + timedelta(days=1),
        source="label-studio",
        task_id=task,
    )


def test_pending_reviews_come_oldest_first_across_pages(world: Pipeline, lambda_context: Any) -> None:
    # Given five unsure results detected out of upload order, and a sure one that is not pending
    minutes = {"produce/c.jpg": 30, "produce/a.jpg": 10, "produce/e.jpg": 50, "produce/b.jpg": 20, "produce/d.jpg": 40}
    for key, minute in minutes.items():
        _detect(world, lambda_context, key, START + timedelta(minutes=minute))
    _detect(world, lambda_context, "produce/sure.jpg", START, labels=[{"Name": "ripe", "Confidence": 99.0}])
    client = CountingQueries(world.dynamodb)
    store = ReviewStore(client, TABLE, page_size=2)  # type: ignore[arg-type]

    # When every pending review is asked for, then the two oldest
    every = store.pending(MODEL)
    pages_for_all = client.pages
    oldest = store.pending(MODEL, limit=2)

    # Then they come oldest first over three pages of two, and the limit keeps the oldest
    assert [p.key for p in every] == [
        "produce/a.jpg",
        "produce/b.jpg",
        "produce/c.jpg",
        "produce/d.jpg",
        "produce/e.jpg",
    ]
    assert pages_for_all == 3
    assert [p.key for p in oldest] == ["produce/a.jpg", "produce/b.jpg"]
    assert every[0].detected_at == START + timedelta(minutes=10)
    assert every[0].labels[0].bounding_box == BoundingBox(width=0.4, height=0.3, left=0.1, top=0.2)
    assert store.pending("another-model") == []
    with pytest.raises(ValueError, match="at least 1"):
        store.pending(MODEL, limit=0)


def test_a_decision_is_recorded_once_and_its_event_published_once(world: Pipeline, lambda_context: Any) -> None:
    # Given one result pending review
    _detect(world, lambda_context, "produce/a.jpg", START)
    store = ReviewStore(world.dynamodb, TABLE)
    [pending] = store.pending(MODEL)
    world.captured_events()  # drop the detection's events
    publisher = ReviewedPublisher(world.events, BUS, sleep=lambda _s: None)
    decision = _decision(pending)

    # When the same decision is pulled twice
    first = record_and_publish(decision, store, publisher)
    second = record_and_publish(decision, store, publisher)

    # Then only the first is recorded and published; the result moved from pending to reviewed
    assert (first, second) == (True, False)
    [event] = world.captured_events()  # validated against custom-labels-reviewed.schema.json
    assert event["detail-type"] == DETAIL_TYPE_REVIEWED
    assert event["detail"] == reviewed_detail(decision)
    assert event["detail"]["changed"] is True
    assert event["detail"]["reviewed_at"] == "2026-11-27T02:00:00.000Z"
    assert store.pending(MODEL) == []
    [reviewed] = store.reviewed(MODEL)
    assert (reviewed.key, reviewed.reviewer, reviewed.source, reviewed.task_id) == (
        "produce/a.jpg",
        "ann@example.com",
        "label-studio",
        "annotation-1",
    )
    assert reviewed.reviewed_labels == decision.reviewed_labels
    assert reviewed.labels == pending.labels
    [item] = world.results()
    assert item["review"] == {"S": "REVIEWED"}
    assert item["review_key"] == {"S": f"{MODEL}#REVIEWED"}
    assert item["review_event_published"] == {"BOOL": True}
    # and another tool's later decision changes nothing either
    assert store.record(_decision(pending, task="loop-7")) is False
    assert store.reviewed(MODEL)[0].task_id == "annotation-1"


def test_a_result_never_selected_takes_no_decision(world: Pipeline, lambda_context: Any) -> None:
    # Given a sure result (not pending) and a decision naming it
    _detect(world, lambda_context, "produce/sure.jpg", START, labels=[{"Name": "ripe", "Confidence": 99.0}])
    [item] = world.results()
    result = PendingReview(
        result_id=item["result_id"]["S"],
        model_name=MODEL,
        project_version_arn=item["project_version_arn"]["S"],
        bucket=item["bucket"]["S"],
        key=item["key"]["S"],
        object_version=item["object_version"]["S"],
        detected_at=START,
    )

    # When it is recorded / Then nothing is written
    assert ReviewStore(world.dynamodb, TABLE).record(_decision(result)) is False
    assert "review" not in world.results()[0]


def test_a_reviewed_event_that_failed_to_go_out_is_sent_by_the_next_pull(world: Pipeline, lambda_context: Any) -> None:
    # Given a recorded decision whose Reviewed event EventBridge kept rejecting
    _detect(world, lambda_context, "produce/a.jpg", START)
    store = ReviewStore(world.dynamodb, TABLE)
    [pending] = store.pending(MODEL)
    world.captured_events()
    decision = _decision(pending)
    stub = Stubber(world.events)
    stub.add_client_error("put_events", service_error_code="InternalException", http_status_code=500)
    stub.add_client_error("put_events", service_error_code="InternalException", http_status_code=500)
    with stub, pytest.raises(ReviewPublishError, match="InternalException"):
        record_and_publish(decision, store, ReviewedPublisher(world.events, BUS, attempts=2, sleep=lambda _s: None))
    assert world.results()[0]["review_event_published"] == {"BOOL": False}

    # When the same decision is pulled again, twice
    publisher = ReviewedPublisher(world.events, BUS, sleep=lambda _s: None)
    again = record_and_publish(decision, store, publisher)
    once_more = record_and_publish(decision, store, publisher)

    # Then the event goes out once, and neither pull counts as a new decision
    assert (again, once_more) == (False, False)
    assert [event["detail-type"] for event in world.captured_events()] == [DETAIL_TYPE_REVIEWED]
    assert world.results()[0]["review_event_published"] == {"BOOL": True}
