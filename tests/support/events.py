"""Events as the pipeline receives them: the real samples under tests/events/, builders for S3 notification
records, SQS events and EventBridge "Object Created" events, and a fake Lambda context."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

from tests.support import ids
from tests.support.paths import EVENTS

# The sample events' names under tests/events/.
EVENTBRIDGE_OBJECT_CREATED = "eventbridge_s3_object_created.json"
SQS_S3_PUT = "sqs_s3_put.json"
SQS_S3_TEST_EVENT = "sqs_s3_test_event.json"
S3_NOTIFICATION_MULTI = "s3_notification_multi.json"


def load_event(name: str) -> dict[str, Any]:
    """A sample event from tests/events/ (real shapes of S3-in-SQS and EventBridge events), a fresh copy."""
    data: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return data


def s3_record(
    key: str,
    version_id: str | None,
    etag: str,
    size: int,
    *,
    bucket: str = ids.BUCKET,
    configuration_id: str = ids.MODEL,
) -> dict[str, Any]:
    """The S3 event notification record S3 sends for an upload (the key URL-encoded as S3 encodes it)."""
    obj: dict[str, Any] = {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag, "sequencer": "0A1B2C3D4E5F"}
    if version_id:
        obj["versionId"] = version_id
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": ids.REGION,
        "eventTime": "2026-11-26T01:58:12.631Z",
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AROAEXAMPLE:uploader"},
        "requestParameters": {"sourceIPAddress": "10.0.0.1"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": configuration_id,
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": obj,
        },
    }


def s3_test_event(bucket: str = ids.BUCKET) -> dict[str, Any]:
    """The ``s3:TestEvent`` S3 sends when a notification configuration is saved (no records)."""
    return {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2026-11-26T00:00:00.000Z",
        "Bucket": bucket,
        "RequestId": "R",
        "HostId": "H",
    }


def eventbridge_object_created(**object_fields: Any) -> dict[str, Any]:
    """The documented EventBridge "Object Created" sample, its ``detail.object`` fields updated."""
    event = load_event(EVENTBRIDGE_OBJECT_CREATED)
    event["detail"]["object"].update(object_fields)
    return event


def sqs_event(*bodies: dict[str, Any] | str, queue: str = f"clp-{ids.MODEL}-detect") -> dict[str, Any]:
    """An SQS event as Lambda receives it, one message per body (dicts are sent as JSON)."""
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
                "eventSourceARN": f"arn:aws:sqs:{ids.REGION}:{ids.ACCOUNT}:{queue}",
                "awsRegion": ids.REGION,
            }
            for body in bodies
        ]
    }


@dataclass
class FakeLambdaContext:
    """What the handlers read of Lambda's context object."""

    function_name: str = "clp-detect-test"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{ids.REGION}:{ids.SAMPLE_ACCOUNT}:function:clp-detect-test"
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"
    log_group_name: str = "/aws/lambda/clp-detect-test"
    log_stream_name: str = "2026/11/26/[$LATEST]abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000
