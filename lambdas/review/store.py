"""The review state in the results table: pending and reviewed results per model (the sparse ``by_review``
index) and a reviewer's decision, written once (docs/results.md "Review")."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from lambdas.common import contract
from lambdas.common.observability import logger
from lambdas.detect.mapping import to_dynamo
from lambdas.review.errors import ReviewStoreError
from lambdas.review.models import PendingReview, ReviewDecision, ReviewedResult

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import PaginatorConfigTypeDef

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _item(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(_deserializer.deserialize(v)) for k, v in raw.items()}


def pending_review(item: dict[str, Any]) -> PendingReview:
    """A result item (plain Python values) as a :class:`PendingReview`."""
    return PendingReview.model_validate({**item, "reasons": item.get("review_reasons", [])})


def reviewed_result(item: dict[str, Any]) -> ReviewedResult:
    """A reviewed result item (plain Python values) as a :class:`ReviewedResult`."""
    return ReviewedResult.model_validate(
        {
            **item,
            "reasons": item.get("review_reasons", []),
            "source": item.get("review_source"),
            "task_id": item.get("review_task"),
        }
    )


class ReviewStore:
    """Reads and writes the review attributes of result items; every call pages through what it asks for.

    The ``by_review`` index is a GSI, so what it returns is eventually consistent (DynamoDB Developer Guide, "DynamoDB
    read consistency": "All reads from GSIs and streams are eventually consistent"): a result written a moment ago
    may show up on the next call only. ``record`` and ``unpublished`` address the result item itself.
    """

    def __init__(self, client: DynamoDBClient, table_name: str, *, page_size: int | None = None) -> None:
        """``page_size``: items per Query page (omitted: DynamoDB's own 1 MB pages)."""
        self._client = client
        self._table = table_name
        self._page_size = page_size

    def _pagination(self, limit: int | None) -> PaginatorConfigTypeDef:
        config: PaginatorConfigTypeDef = {}
        if limit is not None:
            config["MaxItems"] = limit
        if self._page_size is not None:
            config["PageSize"] = self._page_size
        return config

    def _query(self, model_name: str, state: str, limit: int | None) -> list[dict[str, Any]]:
        paginator = self._client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self._table,
            IndexName=contract.BY_REVIEW_INDEX,
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={"#pk": contract.REVIEW_PK},
            ExpressionAttributeValues={":pk": {"S": contract.review_key(model_name, state)}},
            ScanIndexForward=True,  # review_sort starts with detected_at: oldest first
            PaginationConfig=self._pagination(limit),
        )
        try:
            return [_item(raw) for page in pages for raw in page.get("Items", [])]
        except ClientError as exc:
            raise ReviewStoreError(f"Query {contract.BY_REVIEW_INDEX} failed: {exc.response['Error']['Code']}") from exc

    def pending(self, model_name: str, limit: int | None = None) -> list[PendingReview]:
        """Results of ``model_name`` waiting for review, oldest first, at most ``limit``."""
        if limit is not None and limit < 1:
            raise ValueError("limit must be at least 1")
        return [pending_review(item) for item in self._query(model_name, contract.REVIEW_PENDING, limit)]

    def reviewed(self, model_name: str) -> list[ReviewedResult]:
        """Every reviewed result of ``model_name``, oldest detection first."""
        return [reviewed_result(item) for item in self._query(model_name, contract.REVIEW_REVIEWED, None)]

    def _key(self, result: PendingReview) -> dict[str, Any]:
        return {
            contract.RESULTS_PK: {"S": contract.object_pk(result.bucket, result.key)},
            contract.RESULTS_SK: {"S": contract.result_sk(result.project_version_arn, result.object_version)},
        }

    def record(self, decision: ReviewDecision) -> bool:
        """Write ``decision`` onto its result; ``False`` (and nothing written) when the result is not pending:
        already reviewed, or never selected for review."""
        values = {
            ":pending": contract.REVIEW_PENDING,
            ":reviewed": contract.REVIEW_REVIEWED,
            ":key": contract.review_key(decision.result.model_name, contract.REVIEW_REVIEWED),
            ":labels": to_dynamo([label.model_dump(mode="json") for label in decision.reviewed_labels]),
            ":reviewer": decision.reviewer,
            ":at": decision.reviewed_at_iso,
            ":source": decision.source,
            ":task": decision.task_id,
            ":false": False,
        }
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(decision.result),
                UpdateExpression=(
                    "SET review = :reviewed, #review_key = :key, reviewed_labels = :labels, reviewer = :reviewer,"
                    " reviewed_at = :at, review_source = :source, review_task = :task,"
                    " review_event_published = :false"
                ),
                # Only a pending result takes a decision: a second pull of the same annotation, or a decision
                # from another tool after the first, changes nothing.
                ConditionExpression="review = :pending",
                ExpressionAttributeNames={"#review_key": contract.REVIEW_PK},
                ExpressionAttributeValues={k: _serializer.serialize(v) for k, v in values.items()},
            )
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code == "ConditionalCheckFailedException":
                return False
            raise ReviewStoreError(f"UpdateItem (review decision) failed: {code}") from exc
        return True

    def unpublished(self, decision: ReviewDecision) -> bool:
        """Whether ``decision`` is the one recorded on its result and its Reviewed event has not gone out (the
        publish after an earlier ``record`` failed)."""
        try:
            response = self._client.get_item(
                TableName=self._table,
                Key=self._key(decision.result),
                ConsistentRead=True,
                ProjectionExpression="review, review_source, review_task, review_event_published",
            )
        except ClientError as exc:
            raise ReviewStoreError(f"GetItem failed: {exc.response['Error']['Code']}") from exc
        item = _item(response.get("Item") or {})
        return (
            item.get("review") == contract.REVIEW_REVIEWED
            and item.get("review_source") == decision.source
            and item.get("review_task") == decision.task_id
            and item.get("review_event_published") is False
        )

    def mark_published(self, decision: ReviewDecision) -> None:
        """Remember that the Reviewed event of ``decision`` went out."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(decision.result),
                UpdateExpression="SET review_event_published = :true",
                ExpressionAttributeValues={":true": {"BOOL": True}},
            )
        except ClientError as exc:
            # The event is out; failing here only means a retried pull may publish it again.
            logger.warning("could not mark review event published", extra={"error": exc.response["Error"]["Code"]})
