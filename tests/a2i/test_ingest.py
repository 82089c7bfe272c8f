"""The ingest function end to end on moto: A2I's status event → output.json in S3 → REVIEWED in the results table →
``Custom Labels Reviewed`` on the pipeline's bus.

The event is the AWS documentation's sample ("Use Amazon CloudWatch Events in Amazon Augmented AI"), the output
document follows "Amazon A2I Output Data" and the answers the Crowd HTML Elements' output (docs/a2i.md).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from lambdas.a2i import handler as ingest_handler
from lambdas.a2i.errors import HumanLoopOutputError
from lambdas.a2i.models import NONE_OF_THE_ABOVE, reviewed_labels
from lambdas.a2i.starter import human_loop_name
from lambdas.detect.models import BoundingBox, Label
from tests.a2i.world import FLOW_ARN, OUTPUT_BUCKET, A2iWorld, boxes_answer, ingest_environment, labels_answer
from tests.support import ids

PREDICTED = (Label(name="ripe", confidence=61.5, bounding_box=BoundingBox(left=0.1, top=0.1, width=0.2, height=0.2)),)


def test_a_completed_loop_records_the_reviewers_boxes_and_publishes_reviewed(world: A2iWorld) -> None:
    # Given a result pending review and its loop completed by a worker who drew two boxes on a 400x200 image
    pending = world.pending("produce/a.jpg", PREDICTED)
    loop = human_loop_name(pending.result_id)
    boxes = [
        {"label": "rotten", "left": 100, "top": 50, "width": 200, "height": 100},
        {"label": "ripe", "left": 0, "top": 0, "width": 40, "height": 20},
    ]
    uri = world.complete(pending, [boxes_answer("worker-7", boxes, (400, 200))])

    # When the ingest function handles A2I's status event
    outcome = ingest_handler.handle(world.status_event(loop, uri), world.deps())

    # Then the result is REVIEWED with the boxes as ratios, by that worker, at the submission time, from A2I
    assert outcome == {"human_loop": loop, "outcome": "recorded"}
    (reviewed,) = world.reviewed()
    assert [(label.name, label.bounding_box) for label in reviewed.reviewed_labels] == [
        ("rotten", BoundingBox(left=0.25, top=0.25, width=0.5, height=0.5)),
        ("ripe", BoundingBox(left=0.0, top=0.0, width=0.1, height=0.1)),
    ]
    assert (reviewed.reviewer, reviewed.source, reviewed.task_id) == ("worker-7", "a2i", loop)
    assert reviewed.reviewed_at == datetime(2026, 3, 1, 12, 5, 0, 250000, tzinfo=UTC)
    assert world.still_pending() == []
    # and one Reviewed event (valid against its schema) says what changed
    (event,) = world.reviewed_events()
    assert event["detail"]["result_id"] == pending.result_id
    assert event["detail"]["source"] == "a2i"
    assert event["detail"]["changed"] is True
    assert [label["name"] for label in event["detail"]["reviewed_labels"]] == ["rotten", "ripe"]


def test_a_redelivered_event_changes_nothing(world: A2iWorld) -> None:
    # Given a loop already ingested (EventBridge delivers A2I's events at least once)
    pending = world.pending("produce/a.jpg", PREDICTED)
    loop = human_loop_name(pending.result_id)
    uri = world.complete(pending, [labels_answer("worker-1", ["ripe"])])
    event = world.status_event(loop, uri)
    ingest_handler.handle(event, world.deps())
    first = world.reviewed()
    world.reviewed_events()

    # When the same event arrives again
    outcome = ingest_handler.handle(event, world.deps())

    # Then nothing is written or published a second time
    assert outcome["outcome"] == "already-reviewed"
    assert world.reviewed() == first
    assert world.reviewed_events() == []


def test_a_classification_answer_and_none_of_the_above(world: A2iWorld) -> None:
    # Given two loops from a multi-select template: one with two labels, one where the worker chose the exclusion
    labelled = world.pending("produce/two.jpg")
    nothing = world.pending("produce/none.jpg", PREDICTED)
    events = [
        world.status_event(
            human_loop_name(labelled.result_id), world.complete(labelled, [labels_answer("w", ["ripe", "raw"])])
        ),
        world.status_event(
            human_loop_name(nothing.result_id), world.complete(nothing, [labels_answer("w", [NONE_OF_THE_ABOVE])])
        ),
    ]

    # When both are ingested
    outcomes = [ingest_handler.handle(event, world.deps())["outcome"] for event in events]

    # Then the first has the two labels without boxes, the second the reviewer's "no label"
    assert outcomes == ["recorded", "recorded"]
    by_key = {result.key: result for result in world.reviewed()}
    assert [(label.name, label.bounding_box) for label in by_key["produce/two.jpg"].reviewed_labels] == [
        ("ripe", None),
        ("raw", None),
    ]
    assert by_key["produce/none.jpg"].reviewed_labels == ()


def test_with_several_workers_the_first_submitted_answer_decides(world: A2iWorld) -> None:
    # Given a loop answered by two workers, the later one listed first
    pending = world.pending("produce/a.jpg")
    answers = [
        labels_answer("late", ["raw"], at="2026-03-01T12:09:00.000Z"),
        labels_answer("early", ["ripe"], at="2026-03-01T12:03:00.000Z"),
    ]
    loop = human_loop_name(pending.result_id)

    # When it is ingested
    ingest_handler.handle(world.status_event(loop, world.complete(pending, answers)), world.deps())

    # Then the earliest answer is the decision
    (reviewed,) = world.reviewed()
    assert (reviewed.reviewer, [label.name for label in reviewed.reviewed_labels]) == ("early", ["ripe"])


@pytest.mark.parametrize("status", ["Failed", "Stopped"])
def test_a_loop_that_did_not_complete_leaves_the_result_pending(
    world: A2iWorld,
    status: str,
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a result whose loop failed or was stopped (no output), and the deployed entry point's environment
    pending = world.pending("produce/a.jpg", PREDICTED)
    for name, value in ingest_environment().items():
        monkeypatch.setenv(name, value)
    ingest_handler.settings.cache_clear()
    ingest_handler.dependencies.cache_clear()

    # When the Lambda entry point handles the status event
    try:
        outcome = ingest_handler.handler(
            world.status_event(human_loop_name(pending.result_id), None, status), lambda_context
        )
    finally:
        ingest_handler.settings.cache_clear()
        ingest_handler.dependencies.cache_clear()

    # Then the result stays PENDING, nothing is published, and the metric is emitted
    assert outcome["outcome"] == "not-completed"
    assert world.still_pending() == ["produce/a.jpg"]
    assert world.reviewed_events() == []
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert any(
        metric.get("A2iHumanLoopsNotCompleted") == [1.0] or metric.get("A2iHumanLoopsNotCompleted") == 1.0
        for metric in emitted
    )


def rejected_case(world: A2iWorld, case: str) -> tuple[dict[str, Any], dict[str, str]]:
    """An output the ingest must refuse, as (status event, environment overrides)."""
    pending = world.pending("produce/a.jpg", PREDICTED)
    loop = human_loop_name(pending.result_id)
    valid = [labels_answer("w", ["ripe"])]
    if case == "an answer outside the template contract":
        unknown = {"workerId": "w", "answerContent": {"sentiment": {"label": "Positive"}}}
        return world.status_event(loop, world.complete(pending, [unknown])), {}
    if case == "no human answer":
        return world.status_event(loop, world.complete(pending, [])), {}
    if case == "a loop this pipeline did not start":
        return world.status_event("someone-elses-loop", world.complete(pending, valid, loop="someone-elses-loop")), {}
    if case == "an output outside the flow definition's location":
        world.s3.put_object(Bucket=OUTPUT_BUCKET, Key="elsewhere/output.json", Body=b"{}")
        return world.status_event(loop, f"s3://{OUTPUT_BUCKET}/elsewhere/output.json"), {}
    if case == "a missing output":
        return world.status_event(loop, f"s3://{OUTPUT_BUCKET}/a2i/{loop}/output.json"), {}
    assert case == "another model's loop"
    return world.status_event(loop, world.complete(pending, valid)), {"MODEL_NAME": "other-model"}


@pytest.mark.parametrize(
    "case",
    [
        "an answer outside the template contract",
        "no human answer",
        "a loop this pipeline did not start",
        "an output outside the flow definition's location",
        "a missing output",
        "another model's loop",
    ],
)
def test_an_output_that_is_not_a_decision_is_rejected_and_the_result_stays_pending(world: A2iWorld, case: str) -> None:
    # Given a completed loop whose output cannot be taken as this result's decision
    event, overrides = rejected_case(world, case)

    # When it is ingested
    outcome = ingest_handler.handle(event, world.deps(**overrides))

    # Then it is rejected (logged and counted), nothing is written or published
    assert outcome["outcome"] == "rejected"
    assert world.still_pending() == ["produce/a.jpg"]
    assert world.reviewed_events() == []


def test_another_flow_definitions_loop_is_ignored(world: A2iWorld) -> None:
    # Given a status event of a flow definition this function does not serve
    pending = world.pending("produce/a.jpg")
    other = FLOW_ARN.replace("produce-review", "other-review")
    event = world.status_event(human_loop_name(pending.result_id), None, flow=other)

    # When / Then it is ignored
    assert ingest_handler.handle(event, world.deps())["outcome"] == "ignored"
    assert world.still_pending() == ["produce/a.jpg"]


def test_a_malformed_event_raises_so_the_rule_retries_and_dead_letters_it(world: A2iWorld) -> None:
    # Given an event without the detail A2I always sends
    event = world.status_event("loop", None)
    del event["detail"]["humanLoopStatus"]

    # When / Then the handler raises (EventBridge retries, then the target's dead-letter queue keeps it)
    with pytest.raises(ValidationError):
        ingest_handler.handle(event, world.deps())


def test_boxes_past_the_image_are_clamped_to_it() -> None:
    # Given a worker's box running past the bottom-right corner of a 100x100 image
    answer = {
        "annotatedResult": {
            "boundingBoxes": [{"label": "rotten", "left": 80, "top": 90, "width": 50, "height": 30}],
            "inputImageProperties": {"width": 100, "height": 100},
        }
    }

    # When it becomes reviewed labels
    (label,) = reviewed_labels(answer)

    # Then the box ends at the image's edges (reviewed boxes are ratios 0..1)
    assert label.bounding_box is not None
    box = label.bounding_box
    assert (box.left, box.top, box.width, box.height) == pytest.approx((0.8, 0.9, 0.2, 0.1))


def test_a_box_answer_without_the_image_size_is_refused() -> None:
    # Given a bounding-box answer without inputImageProperties
    answer = {"annotatedResult": {"boundingBoxes": [{"label": "x", "left": 1, "top": 1, "width": 1, "height": 1}]}}

    # When / Then it cannot be turned into ratios
    with pytest.raises(HumanLoopOutputError, match="inputImageProperties"):
        reviewed_labels(answer)


def test_the_sample_event_parses_as_documented() -> None:
    # Given the AWS documentation's sample event
    from lambdas.a2i.models import HumanLoopStatusChange
    from tests.support.events import load_event

    # When it is parsed
    change = HumanLoopStatusChange.model_validate(load_event("eventbridge_a2i_human_loop_status_change.json"))

    # Then the fields the ingest reads are there
    assert change.detail.human_loop_status == "Completed"
    assert change.detail.human_loop_name == "humanloop-nov-14-1"
    assert change.detail.human_loop_output is not None
    assert change.detail.human_loop_output.output_s3_uri.endswith("/humanloop-nov-14-1/output.json")
    assert ids.REGION in change.detail.flow_definition_arn
