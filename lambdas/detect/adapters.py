"""The boto3 implementations of the ports in ``lambdas.detect.ports``; each takes an injectable boto3 client."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from lambdas.common.contract import DETAIL_TYPE_DETECTED, DETAIL_TYPE_FAILED, DETAIL_TYPE_REVIEW_REQUESTED
from lambdas.common.eventbridge import EventBridgeSender, PutEventsError
from lambdas.common.observability import logger
from lambdas.detect.errors import ModelNotReadyError, PermanentImageError, PublishError, RetryableError
from lambdas.detect.mapping import label_items, labels_from_response, object_pk, result_item, result_sk
from lambdas.detect.models import DetectionResult, ImageRef, Label
from lambdas.detect.ports import PublishClaim, StoredResult

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_rekognition import RekognitionClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

# Rekognition error code → the reason recorded on a FAILED result (design §5: no "Exception" suffix).
PERMANENT_ERRORS = {
    "InvalidImageFormatException": "InvalidImageFormat",
    "ImageTooLargeException": "ImageTooLarge",
    "InvalidS3ObjectException": "InvalidS3Object",
    "InvalidParameterException": "InvalidParameter",
}
NOT_READY_ERRORS = frozenset({"ResourceNotReadyException"})
RETRYABLE_ERRORS = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "InternalServerError",
        "ServiceUnavailableException",
        "LimitExceededException",
    }
)
DYNAMODB_RETRYABLE = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "TransactionConflictException",
    }
)


def classify_rekognition_error(exc: ClientError) -> Exception:
    """Map a DetectCustomLabels ClientError to the domain error that decides its fate."""
    code = exc.response.get("Error", {}).get("Code", "")
    message = exc.response.get("Error", {}).get("Message", "") or code
    if code in PERMANENT_ERRORS:
        return PermanentImageError(PERMANENT_ERRORS[code], message)
    if code in NOT_READY_ERRORS:
        return ModelNotReadyError(message)
    if code in RETRYABLE_ERRORS or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
        return RetryableError(f"{code}: {message}")
    # Anything else (AccessDenied, ResourceNotFound, validation) is a deployment problem, not the
    # image's fault: retry, so a fixed deployment still processes the message instead of losing it.
    return RetryableError(f"{code}: {message}")


class RekognitionDetector:
    """DetectCustomLabels on an S3 object version with the model's thresholds."""

    def __init__(
        self,
        client: RekognitionClient,
        project_version_arn: str,
        min_confidence: float | None,
        max_results: int | None,
    ) -> None:
        self._client = client
        self._arn = project_version_arn
        self._min_confidence = min_confidence
        self._max_results = max_results

    def detect(self, image: ImageRef) -> tuple[Label, ...]:
        """Labels of ``image``; raises PermanentImageError, ModelNotReadyError or RetryableError."""
        s3_object: dict[str, str] = {"Bucket": image.bucket, "Name": image.key}
        if image.version_id:
            s3_object["Version"] = image.version_id
        request: dict[str, Any] = {"ProjectVersionArn": self._arn, "Image": {"S3Object": s3_object}}
        if self._min_confidence is not None:
            request["MinConfidence"] = self._min_confidence
        if self._max_results is not None:
            request["MaxResults"] = self._max_results
        try:
            response = self._client.detect_custom_labels(**request)
        except ClientError as exc:
            raise classify_rekognition_error(exc) from exc
        return labels_from_response(dict(response))


class S3ObjectInspector:
    """Tells a deleted object apart from one Rekognition could not read."""

    def __init__(self, client: S3Client) -> None:
        self._client = client

    def exists(self, image: ImageRef) -> bool:
        request: dict[str, str] = {"Bucket": image.bucket, "Key": image.key}
        if image.version_id:
            request["VersionId"] = image.version_id
        try:
            self._client.head_object(**request)  # type: ignore[arg-type]
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = exc.response.get("Error", {}).get("Code")
            if status == 404 or code in {"404", "NoSuchKey", "NoSuchVersion"}:
                return False
            if code in {"400", "InvalidArgument"} and image.version_id:
                return False  # a version id that no longer exists
            raise RetryableError(f"HeadObject failed: {code}") from exc
        return True


class DynamoResultsRepository:
    """Results table: one conditional transaction per result (result item + one item per label)."""

    _serializer = TypeSerializer()
    _deserializer = TypeDeserializer()

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def _key(self, image: ImageRef, project_version_arn: str) -> dict[str, Any]:
        return {
            "pk": {"S": object_pk(image.bucket, image.key)},
            "sk": {"S": result_sk(project_version_arn, image.object_version)},
        }

    def _serialize(self, item: dict[str, Any]) -> dict[str, Any]:
        return {k: self._serializer.serialize(v) for k, v in item.items()}

    def get(self, image: ImageRef, project_version_arn: str) -> StoredResult | None:
        """The stored result of this object version × model version, if any (consistent read)."""
        try:
            response = self._client.get_item(
                TableName=self._table,
                Key=self._key(image, project_version_arn),
                ConsistentRead=True,
                ProjectionExpression="event_detail, event_published, review_event_detail",
            )
        except ClientError as exc:
            raise RetryableError(f"GetItem failed: {exc.response['Error']['Code']}") from exc
        item = response.get("Item")
        if not item:
            return None
        plain = {k: self._deserializer.deserialize(v) for k, v in item.items()}
        review = plain.get("review_event_detail")
        return StoredResult(
            json.loads(str(plain["event_detail"])),
            bool(plain.get("event_published")),
            json.loads(str(review)) if review is not None else None,
        )

    def put(
        self,
        result: DetectionResult,
        detail: dict[str, Any],
        claim: PublishClaim,
        review_detail: dict[str, Any] | None = None,
    ) -> bool:
        """Write the result once, holding ``claim``; ``False`` when this object version × model version has one.

        With ``review_detail`` the same conditional Put marks the result pending review, and keeps the review
        request's detail for a republish.
        """
        item = result_item(result, detail, review_detail)
        item["event_detail"] = json.dumps(detail, separators=(",", ":"))
        if review_detail is not None:
            item["review_event_detail"] = json.dumps(review_detail, separators=(",", ":"))
        item["publish_claim"] = claim.token
        item["publish_claim_expires_at"] = claim.expires_at_ms
        actions: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": self._serialize(item),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ]
        actions += [
            {"Put": {"TableName": self._table, "Item": self._serialize(label)}} for label in label_items(result)
        ]
        try:
            self._client.transact_write_items(TransactItems=actions)  # type: ignore[arg-type]
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            reasons = exc.response.get("CancellationReasons") or []
            if (
                code == "TransactionCanceledException"
                and reasons
                and reasons[0].get("Code") == "ConditionalCheckFailed"
            ):
                return False
            if code == "ConditionalCheckFailedException":
                return False
            raise RetryableError(f"TransactWriteItems failed: {code}") from exc
        return True

    def claim_publish(self, image: ImageRef, project_version_arn: str, claim: PublishClaim, now_ms: int) -> bool:
        """Take the publish claim of an unpublished result; ``False`` if published or another claim is live."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(image, project_version_arn),
                UpdateExpression="SET publish_claim = :token, publish_claim_expires_at = :expires",
                ConditionExpression=(
                    "event_published = :false"
                    " AND (attribute_not_exists(publish_claim_expires_at) OR publish_claim_expires_at < :now)"
                ),
                ExpressionAttributeValues={
                    ":token": {"S": claim.token},
                    ":expires": {"N": str(claim.expires_at_ms)},
                    ":false": {"BOOL": False},
                    ":now": {"N": str(now_ms)},
                },
            )
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code == "ConditionalCheckFailedException":
                return False
            raise RetryableError(f"UpdateItem (publish claim) failed: {code}") from exc
        return True

    def release_publish(self, image: ImageRef, project_version_arn: str, claim: PublishClaim) -> None:
        """Give the claim up after a failed publish, so the redelivery need not wait for it to expire."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(image, project_version_arn),
                UpdateExpression="REMOVE publish_claim, publish_claim_expires_at",
                ConditionExpression="publish_claim = :token",
                ExpressionAttributeValues={":token": {"S": claim.token}},
            )
        except ClientError as exc:
            # Not fatal: the claim expires on its own; the redelivery comes after the visibility timeout.
            logger.warning("could not release publish claim", extra={"error": exc.response["Error"]["Code"]})

    def mark_published(self, image: ImageRef, project_version_arn: str) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(image, project_version_arn),
                UpdateExpression="SET event_published = :true REMOVE publish_claim, publish_claim_expires_at",
                ExpressionAttributeValues={":true": {"BOOL": True}},
            )
        except ClientError as exc:
            # The event is out; failing here only means a redelivery may publish it again.
            logger.warning("could not mark result published", extra={"error": str(exc)})


class EventBridgePublisher:
    """A result's events in one PutEvents call: Detected (or Detection Failed), and Review Requested beside it
    when the review policy selected the result; retries resend only the entries EventBridge reports failed."""

    def __init__(
        self,
        client: EventBridgeClient,
        bus_name: str,
        attempts: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._sender = EventBridgeSender(client, bus_name, attempts, sleep)

    def publish(self, detail: dict[str, Any], review_detail: dict[str, Any] | None = None) -> None:
        detail_type = DETAIL_TYPE_DETECTED if detail["status"] == "DETECTED" else DETAIL_TYPE_FAILED
        events = [(detail_type, detail)]
        if review_detail is not None:
            events.append((DETAIL_TYPE_REVIEW_REQUESTED, review_detail))
        try:
            self._sender.send(events)
        except PutEventsError as exc:
            raise PublishError(str(exc)) from exc


class SqsRequeuer:
    """Puts records back on the detect queue as a new message (a fresh receive count)."""

    def __init__(self, client: SQSClient, queue_url: str, delay_seconds: int) -> None:
        self._client = client
        self._queue_url = queue_url
        self._delay = delay_seconds

    def requeue(self, body: dict[str, Any]) -> None:
        try:
            self._client.send_message(QueueUrl=self._queue_url, MessageBody=json.dumps(body), DelaySeconds=self._delay)
        except ClientError as exc:
            raise RetryableError(f"SendMessage failed: {exc.response['Error']['Code']}") from exc
