"""moto for S3, SQS, DynamoDB and EventBridge; botocore's Stubber for Rekognition."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from infra.constants import DETAIL_TYPE_DETECTED, DETAIL_TYPE_FAILED, EVENT_SOURCE
from lambdas.detect import handler as handler_module
from lambdas.detect.logic import Dependencies
from lambdas.detect.wiring import build_dependencies
from localrun.resources import create_results_table

BUCKET = "clp-uploads-test"
TABLE = "clp-results-test"
BUS = "clp-events-test"
MODEL = "produce-quality"
PREFIX = "produce/"
ARN = "arn:aws:rekognition:us-east-1:111122223333:project/produce-quality/version/produce-quality.v1/1767225600000"
SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "events"


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
        return s3_record(key, response["VersionId"], response["ETag"].strip('"'), len(body))

    def expect_detect(self, record: dict[str, Any], labels: list[dict[str, Any]] | None = None) -> None:
        obj = record["s3"]["object"]
        self.stubber.add_response(
            "detect_custom_labels",
            {"CustomLabels": labels or []},
            {
                "ProjectVersionArn": ARN,
                "Image": {"S3Object": {"Bucket": BUCKET, "Name": decoded(obj["key"]), "Version": obj["versionId"]}},
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
        events = []
        while True:
            response = self.sqs.receive_message(QueueUrl=self.capture_url, MaxNumberOfMessages=10)
            messages = response.get("Messages", [])
            if not messages:
                break
            for message in messages:
                event = json.loads(message["Body"])
                assert event["source"] == EVENT_SOURCE
                slug = {
                    DETAIL_TYPE_DETECTED: "custom-labels-detected",
                    DETAIL_TYPE_FAILED: "custom-labels-detection-failed",
                }[event["detail-type"]]
                schema = json.loads((SCHEMAS / f"{slug}.schema.json").read_text())
                jsonschema.validate(event["detail"], schema, format_checker=jsonschema.FormatChecker())
                events.append(event)
                self.sqs.delete_message(QueueUrl=self.capture_url, ReceiptHandle=message["ReceiptHandle"])
        return events

    def results(self) -> list[dict[str, Any]]:
        items = self.dynamodb.scan(TableName=TABLE)["Items"]
        return [item for item in items if item["record_type"]["S"] == "result"]

    def queued(self) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
        return [json.loads(m["Body"]) for m in response.get("Messages", [])]


def decoded(key: str) -> str:
    from urllib.parse import unquote_plus

    return unquote_plus(key)


def s3_record(key: str, version_id: str | None, etag: str, size: int) -> dict[str, Any]:
    from urllib.parse import quote_plus

    obj: dict[str, Any] = {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag, "sequencer": "0A1B2C3D4E5F"}
    if version_id:
        obj["versionId"] = version_id
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2026-11-26T01:58:12.631Z",
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AROAEXAMPLE:uploader"},
        "requestParameters": {"sourceIPAddress": "10.0.0.1"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "produce-quality",
            "bucket": {
                "name": BUCKET,
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": f"arn:aws:s3:::{BUCKET}",
            },
            "object": obj,
        },
    }


def sqs_event(*bodies: dict[str, Any] | str) -> dict[str, Any]:
    """An SQS event as Lambda receives it, one message per body."""
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "AQEB" + uuid.uuid4().hex,
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1795658292700",
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": "1795658292712",
                },
                "messageAttributes": {},
                "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:clp-produce-quality-detect",
                "awsRegion": "us-east-1",
            }
            for body in bodies
        ]
    }


@pytest.fixture
def pipeline(monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        dynamodb = boto3.client("dynamodb")
        create_results_table(dynamodb, TABLE)
        sqs = boto3.client("sqs")
        queue_url = sqs.create_queue(QueueName="detect")["QueueUrl"]
        capture_url = sqs.create_queue(QueueName="capture")["QueueUrl"]
        capture_arn = sqs.get_queue_attributes(QueueUrl=capture_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events = boto3.client("events")
        events.create_event_bus(Name=BUS)
        events.put_rule(Name="all", EventBusName=BUS, EventPattern=json.dumps({"source": [EVENT_SOURCE]}))
        events.put_targets(Rule="all", EventBusName=BUS, Targets=[{"Id": "capture", "Arn": capture_arn}])
        rekognition = boto3.client("rekognition")
        stubber = Stubber(rekognition)
        stubber.activate()
        env = {
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
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        handler_module.settings.cache_clear()
        # The handler's own wiring, on moto's clients and the stubbed rekognition one (no PutEvents backoff).
        clients = {"rekognition": rekognition, "s3": s3, "dynamodb": dynamodb, "events": events, "sqs": sqs}
        deps = build_dependencies(handler_module.settings(), clients.__getitem__, publish_sleep=lambda _s: None)
        monkeypatch.setattr(handler_module, "dependencies", lambda: deps)
        yield Pipeline(s3, sqs, dynamodb, events, rekognition, stubber, queue_url, capture_url, deps)
        handler_module.settings.cache_clear()
