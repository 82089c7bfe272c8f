"""The detect handler's test world: moto S3 / SQS / DynamoDB / EventBridge built by
:class:`localrun.world.World` (versioned bucket, results table, bus with an event capture), Rekognition behind
botocore's Stubber, and the handler's own wiring on those clients."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3
import jsonschema
from botocore.stub import Stubber
from moto import mock_aws

from infra.config import parse_config
from infra.constants import (
    DETAIL_TYPE_DETECTED,
    DETAIL_TYPE_FAILED,
    DETAIL_TYPE_REVIEW_REQUESTED,
    DETAIL_TYPE_REVIEWED,
    EVENT_SOURCE,
)
from lambdas.detect.logic import Dependencies
from lambdas.detect.settings import Settings
from lambdas.detect.wiring import build_dependencies
from lambdas.review.models import ReviewPolicy
from localrun.world import Names, World
from tests.support import ids
from tests.support.configs import model_block
from tests.support.events import s3_record

BUCKET = ids.BUCKET
TABLE = ids.TABLE
BUS = ids.BUS
MODEL = ids.MODEL
PREFIX = ids.PREFIX
ARN = ids.version_arn(account=ids.SAMPLE_ACCOUNT)
SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "events"
# The schema file of each detail type the pipeline's functions publish (docs/events.md).
SCHEMA_SLUGS = {
    DETAIL_TYPE_DETECTED: "custom-labels-detected",
    DETAIL_TYPE_FAILED: "custom-labels-detection-failed",
    DETAIL_TYPE_REVIEW_REQUESTED: "custom-labels-review-requested",
    DETAIL_TYPE_REVIEWED: "custom-labels-reviewed",
}


def validate_detail(detail_type: str, detail: dict[str, Any]) -> None:
    """Validate an event's detail against its documented JSON Schema (docs/events/)."""
    schema = json.loads((SCHEMAS / f"{SCHEMA_SLUGS[detail_type]}.schema.json").read_text())
    jsonschema.validate(detail, schema, format_checker=jsonschema.FormatChecker())


def delivered_events(sqs: Any, capture_url: str) -> list[dict[str, Any]]:
    """Every event on a capture queue (``World.capture_events``), taken off it, each from the pipeline and its
    detail valid against its documented JSON Schema."""
    events = []
    while messages := sqs.receive_message(QueueUrl=capture_url, MaxNumberOfMessages=10).get("Messages"):
        for message in messages:
            event = json.loads(message["Body"])
            assert event["source"] == EVENT_SOURCE
            validate_detail(event["detail-type"], event["detail"])
            events.append(event)
            sqs.delete_message(QueueUrl=capture_url, ReceiptHandle=message["ReceiptHandle"])
    return events


@dataclass
class Pipeline:
    s3: Any
    sqs: Any
    dynamodb: Any
    events: Any
    rekognition: Any
    stubber: Stubber
    queue_url: str
    capture_url: str
    deps: Dependencies
    sent: list[str] = field(default_factory=list)

    def upload(self, key: str, body: bytes = b"\xff\xd8\xff fake jpeg") -> dict[str, Any]:
        """Put an object and return the S3 notification record S3 would send for it."""
        response = self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        return s3_record(key, response["VersionId"], response["ETag"].strip('"'), len(body), bucket=BUCKET)

    def expect_detect(self, record: dict[str, Any], labels: list[dict[str, Any]] | None = None) -> None:
        obj = record["s3"]["object"]
        s3_object = {"Bucket": BUCKET, "Name": unquote_plus(obj["key"]), "Version": obj["versionId"]}
        self.stubber.add_response(
            "detect_custom_labels",
            {"CustomLabels": labels or []},
            {
                "ProjectVersionArn": ARN,
                "Image": {"S3Object": s3_object},
                "MinConfidence": 50.0,
                "MaxResults": 10,
            },
        )

    def expect_detect_error(self, code: str, status: int = 400) -> None:
        self.stubber.add_client_error(
            "detect_custom_labels",
            service_error_code=code,
            service_message=f"{code} (stubbed)",
            http_status_code=status,
        )

    def captured_events(self) -> list[dict[str, Any]]:
        """Events that reached the bus, validated against their documented JSON Schema."""
        return delivered_events(self.sqs, self.capture_url)

    @contextmanager
    def dying_before_publishing(self) -> Iterator[None]:
        """Inside the block, an invocation dies after writing its result and before publishing, and so releases
        no publish claim (a killed invocation releases nothing); the real publisher and repository after it."""
        repository, publisher = self.deps.repository, self.deps.publisher

        class DiesBeforePublishing:
            def publish(self, detail: dict[str, Any], review_detail: dict[str, Any] | None = None) -> None:
                raise RuntimeError("invocation killed")

        class KeepsClaims:
            def __getattr__(self, name: str) -> Any:
                return getattr(repository, name)

            def release_publish(self, *_: Any) -> None:
                return None

        self.deps.publisher = DiesBeforePublishing()
        self.deps.repository = KeepsClaims()  # type: ignore[assignment]
        try:
            yield
        finally:
            self.deps.publisher, self.deps.repository = publisher, repository

    def results(self) -> list[dict[str, Any]]:
        items = self.dynamodb.scan(TableName=TABLE)["Items"]
        return [item for item in items if item["record_type"]["S"] == "result"]

    def queued(self) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
        return [json.loads(m["Body"]) for m in response.get("Messages", [])]


def handler_environment(queue_url: str, review: ReviewPolicy | None = None) -> dict[str, str]:
    """The detect function's environment variables, as the stack sets them, for this world (with ``review``: as
    for a model whose review policy is enabled)."""
    review_env = {"REVIEW_POLICY": review.model_dump_json()} if review is not None else {}
    return {
        **review_env,
        "MODEL_NAME": MODEL,
        "PROJECT_VERSION_ARN": ARN,
        "MODEL_PREFIX": PREFIX,
        "MIN_CONFIDENCE": "50",
        "MAX_RESULTS": "10",
        "RESULTS_TABLE": TABLE,
        "EVENT_BUS_NAME": BUS,
        "QUEUE_URL": queue_url,
        "NOT_READY_DELAY_SECONDS": "0",
    }


@contextmanager
def detect_world(review: ReviewPolicy | None = None) -> Iterator[Pipeline]:
    """moto with the world the detect handler touches; ``Pipeline.deps`` is the handler's wiring on it."""
    with mock_aws():
        config = parse_config({"models": [model_block(MODEL, PREFIX, account=ids.SAMPLE_ACCOUNT)]})
        world = World(config, boto3.client, Names(bucket=BUCKET, results_table=TABLE, bus=BUS))
        world.create_bucket(versioned=True)
        world.create_results_table()
        world.create_bus()
        capture_url = world.capture_events("capture")
        sqs = boto3.client("sqs")
        queue_url = sqs.create_queue(QueueName="detect")["QueueUrl"]
        rekognition = boto3.client("rekognition")
        stubber = Stubber(rekognition)
        stubber.activate()
        s3, dynamodb, events = boto3.client("s3"), boto3.client("dynamodb"), boto3.client("events")
        settings = Settings.model_validate(handler_environment(queue_url, review))
        # The handler's own wiring, on moto's clients and the stubbed rekognition one (no PutEvents backoff).
        clients = {"rekognition": rekognition, "s3": s3, "dynamodb": dynamodb, "events": events, "sqs": sqs}
        deps = build_dependencies(settings, clients.__getitem__, publish_sleep=lambda _s: None)
        yield Pipeline(s3, sqs, dynamodb, events, rekognition, stubber, queue_url, capture_url, deps)
