"""StartHumanLoop through botocore's Stubber: the request is validated against botocore's sagemaker-a2i-runtime
service model (parameter validation runs before the stub answers), the loop name against the model's own
HumanLoopName constraints, and the error codes are the model's (StartHumanLoop errors)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.stub import Stubber
from hypothesis import given, strategies as st

from lambdas.a2i import start_handler
from lambdas.a2i.errors import HumanLoopStartError
from lambdas.a2i.models import TaskInput
from lambdas.a2i.settings import StartSettings
from lambdas.a2i.starter import HumanLoopStarter, human_loop_name, input_content
from lambdas.common.contract import DETAIL_TYPE_REVIEW_REQUESTED, EVENT_SOURCE
from lambdas.detect.models import BoundingBox, Label
from lambdas.review.events import review_requested_detail
from lambdas.review.models import PendingReview
from tests.a2i.world import FLOW_ARN, detection
from tests.support import ids
from tests.support.detect import validate_detail

_MODEL = botocore.session.get_session().get_service_model("sagemaker-a2i-runtime")
_NAME_SHAPE = _MODEL.operation_model("StartHumanLoop").input_shape.members["HumanLoopName"]
NAME_PATTERN = re.compile(_NAME_SHAPE.metadata["pattern"])
NAME_MAX = _NAME_SHAPE.metadata["max"]
LOOP_ARN = f"arn:aws:sagemaker:{ids.REGION}:{ids.ACCOUNT}:human-loop/"
LABELS = (Label(name="ripe", confidence=42.5, bounding_box=BoundingBox(left=0.1, top=0.2, width=0.3, height=0.4)),)


@pytest.fixture
def a2i() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("sagemaker-a2i-runtime", region_name=ids.REGION)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def pending_review(key: str = "produce/a b+c.jpg") -> PendingReview:
    result = detection(key, LABELS)
    return PendingReview.model_validate(review_requested_detail(result, ("LOW_CONFIDENCE", "AUDIT")))


def expect_start(stubber: Stubber, pending: PendingReview) -> str:
    """Stub one StartHumanLoop of ``pending`` (request checked against the service model); returns the loop name."""
    name = human_loop_name(pending.result_id)
    stubber.add_response(
        "start_human_loop",
        {"HumanLoopArn": LOOP_ARN + name},
        {
            "HumanLoopName": name,
            "FlowDefinitionArn": FLOW_ARN,
            "HumanLoopInput": {"InputContent": input_content(pending)},
        },
    )
    return name


def test_start_sends_the_image_and_predictions_under_a_name_derived_from_the_result(a2i: tuple[Any, Stubber]) -> None:
    # Given a result pending review
    client, stubber = a2i
    pending = pending_review()
    name = expect_start(stubber, pending)

    # When its loop is started
    started = HumanLoopStarter(client, FLOW_ARN).start(pending)

    # Then the name fits the service model's HumanLoopName, and the input carries the image and the predictions
    assert started == name == f"clp-{pending.result_id}"
    assert NAME_PATTERN.match(name)
    assert len(name) <= NAME_MAX
    sent = json.loads(input_content(pending))
    assert sent["taskObject"] == f"s3://{ids.BUCKET}/produce/a b+c.jpg"
    assert sent["predictions"] == [
        {"name": "ripe", "confidence": 42.5, "bounding_box": {"width": 0.3, "height": 0.4, "left": 0.1, "top": 0.2}}
    ]
    # and what comes back in the output's inputContent is the same pending result
    assert TaskInput.model_validate(sent).result == pending


def test_a_redelivery_finds_the_loop_started(a2i: tuple[Any, Stubber]) -> None:
    # Given a loop already started for the result (A2I answers ConflictException for the name)
    client, stubber = a2i
    pending = pending_review()
    stubber.add_client_error("start_human_loop", "ConflictException", "same name as another active human loop", 409)

    # When the start is asked again
    name = HumanLoopStarter(client, FLOW_ARN).start(pending)

    # Then it counts as started
    assert name == human_loop_name(pending.result_id)


@pytest.mark.parametrize(
    ("code", "status"),
    [("ValidationException", 400), ("ServiceQuotaExceededException", 402), ("ThrottlingException", 429)],
)
def test_other_errors_are_reported(a2i: tuple[Any, Stubber], code: str, status: int) -> None:
    # Given StartHumanLoop refusing with one of its modeled errors
    client, stubber = a2i
    stubber.add_client_error("start_human_loop", code, "refused", status)

    # When / Then the starter raises its domain error naming the code
    with pytest.raises(HumanLoopStartError, match=code):
        HumanLoopStarter(client, FLOW_ARN).start(pending_review())


def test_the_error_codes_relied_on_are_the_service_models() -> None:
    # Given the StartHumanLoop errors of botocore's model
    errors = {shape.name for shape in _MODEL.operation_model("StartHumanLoop").error_shapes}

    # Then the code treated as "already started" is one of them
    assert "ConflictException" in errors


@given(st.text(min_size=1, max_size=200))
def test_any_result_id_gives_a_valid_stable_name(result_id: str) -> None:
    # Given any result id
    # When its loop name is derived twice
    name = human_loop_name(result_id)

    # Then it is the same, and valid for the service model
    assert name == human_loop_name(result_id)
    assert NAME_PATTERN.match(name)
    assert 1 <= len(name) <= NAME_MAX


def test_the_start_function_starts_a_loop_for_a_review_requested_event(a2i: tuple[Any, Stubber]) -> None:
    # Given the pipeline's Review Requested event, as the detect function publishes it (valid against its schema)
    client, stubber = a2i
    result = detection("produce/b.jpg", LABELS)
    detail = review_requested_detail(result, ("LOW_CONFIDENCE",))
    validate_detail(DETAIL_TYPE_REVIEW_REQUESTED, json.loads(json.dumps(detail)))
    event = {"source": EVENT_SOURCE, "detail-type": DETAIL_TYPE_REVIEW_REQUESTED, "detail": detail}
    pending = PendingReview.model_validate(detail)
    name = expect_start(stubber, pending)
    settings = StartSettings.model_validate({"MODEL_NAME": ids.MODEL, "FLOW_DEFINITION_ARN": FLOW_ARN})

    # When the start function handles it
    outcome = start_handler.handle(event, settings, HumanLoopStarter(client, FLOW_ARN))

    # Then the loop of that result is started
    assert outcome == {"result_id": result.result_id, "human_loop": name}


def test_the_start_function_ignores_another_models_request(a2i: tuple[Any, Stubber]) -> None:
    # Given a Review Requested event of another model (a misrouted rule)
    client, _ = a2i
    detail = review_requested_detail(detection("produce/b.jpg", LABELS), ("LOW_CONFIDENCE",))
    event = {"source": EVENT_SOURCE, "detail-type": DETAIL_TYPE_REVIEW_REQUESTED, "detail": detail}
    settings = StartSettings.model_validate({"MODEL_NAME": "other-model", "FLOW_DEFINITION_ARN": FLOW_ARN})

    # When / Then no loop is started (the stubber has no response queued: a call would fail)
    assert start_handler.handle(event, settings, HumanLoopStarter(client, FLOW_ARN))["human_loop"] is None
