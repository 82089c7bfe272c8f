"""The A2I test world: moto's uploads bucket, results table, pipeline bus (with a capture queue) and the flow
definition's output bucket, plus builders for what A2I would write and send."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3

from infra.config import parse_config
from lambdas.a2i.handler import build_dependencies
from lambdas.a2i.ingest import IngestDependencies
from lambdas.a2i.settings import IngestSettings
from lambdas.a2i.starter import human_loop_name, input_content
from lambdas.common.contract import DETAIL_TYPE_REVIEWED
from lambdas.detect.adapters import DynamoResultsRepository
from lambdas.detect.mapping import event_detail
from lambdas.detect.models import DetectionResult, ImageRef, Label
from lambdas.detect.ports import PublishClaim
from lambdas.review.events import review_requested_detail
from lambdas.review.models import PendingReview, ReviewedResult
from lambdas.review.store import ReviewStore
from localrun.world import Names, World
from tests.support import ids
from tests.support.configs import model_block
from tests.support.detect import delivered_events
from tests.support.events import load_event

FLOW_NAME = "produce-review"
FLOW_ARN = f"arn:aws:sagemaker:{ids.REGION}:{ids.ACCOUNT}:flow-definition/{FLOW_NAME}"
OUTPUT_BUCKET = "clp-a2i-output-test"
OUTPUT_S3_URI = f"s3://{OUTPUT_BUCKET}/a2i"
STATUS_CHANGE = "eventbridge_a2i_human_loop_status_change.json"
DETECTED_AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def ingest_environment(**overrides: str) -> dict[str, str]:
    """The ingest function's environment as infra/constructs/review.py sets it, for this world."""
    return {
        "MODEL_NAME": ids.MODEL,
        "FLOW_DEFINITION_ARN": FLOW_ARN,
        "A2I_OUTPUT_S3_URI": OUTPUT_S3_URI,
        "RESULTS_TABLE": ids.TABLE,
        "EVENT_BUS_NAME": ids.BUS,
        **overrides,
    }


def detection(key: str, labels: tuple[Label, ...], etag: str = "etag-1") -> DetectionResult:
    return DetectionResult(
        image=ImageRef(bucket=ids.BUCKET, key=key, etag=etag, uploaded_at=DETECTED_AT),
        model_name=ids.MODEL,
        project_version_arn=ids.VERSION_ARN,
        status="DETECTED",
        labels=labels,
        detected_at=DETECTED_AT,
    )


class A2iWorld:
    """Call inside ``mock_aws``."""

    def __init__(self) -> None:
        config = parse_config({"models": [model_block(ids.MODEL, ids.PREFIX, account=ids.ACCOUNT)]})
        world = World(config, boto3.client, Names(bucket=ids.BUCKET, results_table=ids.TABLE, bus=ids.BUS))
        world.create_bucket(versioned=False)
        world.create_results_table()
        world.create_bus()
        self.capture_url = world.capture_events("capture", [DETAIL_TYPE_REVIEWED])
        self.s3 = boto3.client("s3")
        self.s3.create_bucket(Bucket=OUTPUT_BUCKET)
        self.dynamodb = boto3.client("dynamodb")
        self.sqs = boto3.client("sqs")
        self.store = ReviewStore(self.dynamodb, ids.TABLE)

    def deps(self, **overrides: str) -> IngestDependencies:
        """The ingest function's own wiring on moto's clients."""
        return build_dependencies(IngestSettings.model_validate(ingest_environment(**overrides)), boto3.client)

    def pending(self, key: str, labels: tuple[Label, ...] = ()) -> PendingReview:
        """A result written pending review exactly as the detect function writes it, read back as the index has it."""
        result = detection(key, labels)
        repository = DynamoResultsRepository(self.dynamodb, ids.TABLE)
        assert repository.put(
            result, event_detail(result), PublishClaim("claim", 0), review_requested_detail(result, ("LOW_CONFIDENCE",))
        )
        (pending,) = [p for p in self.store.pending(ids.MODEL) if p.result_id == result.result_id]
        return pending

    def complete(self, pending: PendingReview, answers: list[dict[str, Any]], *, loop: str | None = None) -> str:
        """Write the output.json A2I writes for a finished loop of ``pending`` (inputContent = what the starter sent);
        returns its URI."""
        name = loop or human_loop_name(pending.result_id)
        key = f"a2i/{FLOW_NAME}/2026/03/01/12/00/00/{name}/output.json"
        document = {
            "flowDefinitionArn": FLOW_ARN,
            "humanAnswers": answers,
            "humanLoopName": name,
            "inputContent": json.loads(input_content(pending)),
        }
        self.s3.put_object(Bucket=OUTPUT_BUCKET, Key=key, Body=json.dumps(document).encode())
        return f"s3://{OUTPUT_BUCKET}/{key}"

    def status_event(
        self, loop: str, uri: str | None, status: str = "Completed", flow: str = FLOW_ARN
    ) -> dict[str, Any]:
        """The AWS documentation's sample status event, for this loop."""
        event = load_event(STATUS_CHANGE)
        detail = event["detail"]
        detail.update(flowDefinitionArn=flow, humanLoopName=loop, humanLoopStatus=status)
        detail["humanLoopArn"] = f"arn:aws:sagemaker:{ids.REGION}:{ids.ACCOUNT}:human-loop/{loop}"
        detail["humanLoopOutput"] = {"outputS3Uri": uri} if uri is not None else None
        if status == "Failed":
            detail.update(failureCode="Expired", failureReason="The human loop expired")
        return event

    def reviewed(self) -> list[ReviewedResult]:
        return self.store.reviewed(ids.MODEL)

    def still_pending(self) -> list[str]:
        return [p.key for p in self.store.pending(ids.MODEL)]

    def reviewed_events(self) -> list[dict[str, Any]]:
        """Reviewed events that reached the pipeline's bus, each validated against docs/events/."""
        return delivered_events(self.sqs, self.capture_url)


def boxes_answer(
    worker: str, boxes: list[dict[str, Any]], size: tuple[int, int], at: str = "2026-03-01T12:05:00.250Z"
) -> dict[str, Any]:
    """One worker's answer from a template with <crowd-bounding-box name="annotatedResult"> (pixels)."""
    width, height = size
    return {
        "acceptanceTime": "2026-03-01T12:01:00.000Z",
        "answerContent": {
            "annotatedResult": {"boundingBoxes": boxes, "inputImageProperties": {"width": width, "height": height}}
        },
        "submissionTime": at,
        "timeSpentInSeconds": 240.2,
        "workerId": worker,
        "workerMetadata": {
            "identityData": {"identityProviderType": "Cognito", "issuer": "https://cognito", "sub": "abc"}
        },
    }


def labels_answer(worker: str, labels: list[str], at: str = "2026-03-01T12:05:00.250Z") -> dict[str, Any]:
    """One worker's answer from a template with <crowd-image-classifier-multi-select name="labels">."""
    return {
        "acceptanceTime": "2026-03-01T12:01:00.000Z",
        "answerContent": {"labels": {"labels": labels}},
        "submissionTime": at,
        "timeSpentInSeconds": 12.0,
        "workerId": worker,
    }
