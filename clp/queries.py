"""The AWS queries the commands share: control-table items, results, queue depth, model and executions.

Each takes the client it needs (from :class:`clp.deployment.Clients`) and returns plain data.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from clp.deployment import ModelTarget
from clp.errors import ClpError
from infra import constants
from lambdas.common import contract

RECENT_EXECUTIONS = 5
_deserializer = TypeDeserializer()


def _convert(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _convert(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [_convert(v) for v in value]
    return value


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as JSON-friendly Python values (numbers as int or float)."""
    return {k: _convert(_deserializer.deserialize(v)) for k, v in item.items()}


def _query_all(ddb: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """Every page of a Query (a page stops at 1 MB; LastEvaluatedKey says there is more)."""
    items: list[dict[str, Any]] = []
    while True:
        page = ddb.query(**kwargs)
        items += [plain(i) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# -- the control table: lock, cleanup marker, session ledger ---------------------------------------------


def lock_key(model: str) -> dict[str, Any]:
    return {
        constants.CONTROL_TABLE_PK: {"S": contract.model_pk(model)},
        constants.CONTROL_TABLE_SK: {"S": constants.CONTROL_TABLE_LOCK_SK},
    }


def _control_item(ddb: Any, table: str, model: str, sort_key: str) -> dict[str, Any] | None:
    key = {constants.CONTROL_TABLE_PK: {"S": contract.model_pk(model)}, constants.CONTROL_TABLE_SK: {"S": sort_key}}
    item = ddb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    if not item:
        return None
    found = plain(item)
    found.pop("pk", None)
    found.pop("sk", None)
    return found


def read_cleanup_marker(ddb: Any, table: str, model: str) -> dict[str, Any] | None:
    """The controller's cleanup marker: what a session left to undo (``model_owned``, ``mapping_enabled``)."""
    return _control_item(ddb, table, model, constants.CONTROL_TABLE_CLEANUP_SK)


def read_lock(ddb: Any, table: str, model: str, now: float | None = None) -> dict[str, Any] | None:
    """The lock item, with ``held`` (present and not expired)."""
    lock = _control_item(ddb, table, model, constants.CONTROL_TABLE_LOCK_SK)
    if lock is not None:
        lock["held"] = int(lock.get("expires_at", 0)) >= int(now if now is not None else time.time())
    return lock


def request_stop(ddb: Any, table: str, model: str, owner: str) -> bool:
    """Set ``stop_requested`` on the lock of session ``owner``; ``False`` if that session no longer holds it."""
    try:
        ddb.update_item(
            TableName=table,
            Key=lock_key(model),
            UpdateExpression="SET stop_requested = :true, operator_stop_at = :at",
            # only the session that was read, and only while its lock is alive: a newer session is not flagged
            ConditionExpression="#owner = :owner AND expires_at >= :now",
            ExpressionAttributeNames={"#owner": "owner"},
            ExpressionAttributeValues={
                ":true": {"BOOL": True},
                ":at": {"S": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")},
                ":owner": {"S": owner},
                ":now": {"N": str(int(time.time()))},
            },
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def last_session(ddb: Any, table: str, model: str) -> dict[str, Any] | None:
    items = ddb.query(
        TableName=table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :s)",
        ExpressionAttributeValues={":pk": {"S": contract.model_pk(model)}, ":s": {"S": contract.SESSION_SK_PREFIX}},
        ScanIndexForward=False,
        Limit=1,
    )["Items"]
    return plain(items[0]) if items else None


def sessions_since(ddb: Any, table: str, model: str, since: date | None) -> list[dict[str, Any]]:
    """Ledger items of ``model`` (sort key ``SESSION#<ISO start>#<name>``), from ``since`` on."""
    values: dict[str, Any] = {":pk": {"S": contract.model_pk(model)}}
    if since is None:
        condition = "pk = :pk AND begins_with(sk, :s)"
        values[":s"] = {"S": contract.SESSION_SK_PREFIX}
    else:
        condition = "pk = :pk AND sk BETWEEN :from AND :to"
        values[":from"] = {"S": contract.session_sk_from(since.isoformat())}
        values[":to"] = {"S": contract.SESSION_SK_UPPER_BOUND}
    return _query_all(ddb, TableName=table, KeyConditionExpression=condition, ExpressionAttributeValues=values)


# -- the results table -----------------------------------------------------------------------------------


def results_by_key(ddb: Any, table: str, bucket: str, key: str, model: ModelTarget | None) -> list[dict[str, Any]]:
    """Every result of one image (all versions; one model or all), by partition key."""
    prefix = contract.result_sk_prefix(model.project_version_arn if model else None)
    return _query_all(
        ddb,
        TableName=table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :s)",
        ExpressionAttributeValues={":pk": {"S": contract.object_pk(bucket, key)}, ":s": {"S": prefix}},
    )


def _label_query(table: str, model: str, label: str, min_confidence: float | None, by: str) -> dict[str, Any]:
    values: dict[str, Any] = {":lk": {"S": contract.label_index_pk(model, label)}}
    query: dict[str, Any] = {"TableName": table, "ScanIndexForward": False, "KeyConditionExpression": "label_key = :lk"}
    query["IndexName"] = contract.GSI_LABEL_BY_CONFIDENCE if by == "confidence" else contract.GSI_LABEL_BY_TIME
    if min_confidence is not None:
        values[":c"] = {"N": str(min_confidence)}
        if by == "confidence":
            query["KeyConditionExpression"] += " AND confidence_sort >= :c"
        else:  # not a key on this index
            query["FilterExpression"] = "confidence_sort >= :c"
    query["ExpressionAttributeValues"] = values
    return query


def results_by_label(
    ddb: Any, table: str, model: str, label: str, *, min_confidence: float | None, limit: int, by: str
) -> list[dict[str, Any]]:
    """Images with ``label``: best first (by_label_confidence) or newest first (by_label_time)."""
    return query_up_to(ddb, _label_query(table, model, label, min_confidence, by), limit)


def query_up_to(ddb: Any, query: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` items of a Query, page after page (``query`` is changed: Limit, ExclusiveStartKey)."""
    items: list[dict[str, Any]] = []
    while len(items) < limit:
        query["Limit"] = limit - len(items)
        page = ddb.query(**query)
        items += [plain(i) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            break
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return items[:limit]


# -- queues ------------------------------------------------------------------------------------------------

_DEPTH_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


@dataclass(frozen=True)
class QueueDepth:
    """SQS's approximate counts of one queue."""

    visible: int
    in_flight: int
    delayed: int

    @property
    def undelivered(self) -> int:
        """Messages not yet deleted that a consumer has or can receive now (delayed ones excluded)."""
        return self.visible + self.in_flight


def queue_depth(sqs: Any, queue_url: str) -> QueueDepth:
    """The one GetQueueAttributes every command's queue count comes from."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=list(_DEPTH_ATTRIBUTES))["Attributes"]
    visible, in_flight, delayed = (int(attributes.get(name, 0)) for name in _DEPTH_ATTRIBUTES)
    return QueueDepth(visible=visible, in_flight=in_flight, delayed=delayed)


# -- model, executions, objects -----------------------------------------------------------------------------


def project_arn_of(sfn: Any, model: ModelTarget) -> str:
    """The project ARN (not derivable from the version ARN: the project has its own timestamp): from the
    manifest, or, for a stack deployed before the manifest carried it, from the controller's definition,
    where DescribeProjectVersions names it."""
    if model.project_arn:
        return model.project_arn
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=model.controller_arn)["definition"])
    for state in definition.get("States", {}).values():
        if str(state.get("Resource", "")).endswith(":rekognition:describeProjectVersions"):
            return str(state["Arguments"]["ProjectArn"])
    raise ClpError(f"model {model.name}: cannot find the project ARN in its controller definition")


def model_status(rekognition: Any, sfn: Any, model: ModelTarget) -> dict[str, Any]:
    """Status of the model version (DescribeProjectVersions), with its inference units."""
    parts = contract.parse_project_version_arn(model.project_version_arn)
    if parts is None:
        raise ClpError(f"model {model.name}: not a project version ARN: {model.project_version_arn}")
    response = rekognition.describe_project_versions(
        ProjectArn=project_arn_of(sfn, model), VersionNames=[parts.version]
    )
    descriptions = response.get("ProjectVersionDescriptions", [])
    if not descriptions:
        return {"status": "NOT_FOUND", "message": None, "inference_units": None}
    d = descriptions[0]
    return {
        "status": d.get("Status"),
        "message": d.get("StatusMessage"),
        "inference_units": d.get("MinInferenceUnits"),
        "max_inference_units": d.get("MaxInferenceUnits"),
    }


def execution_status(sfn: Any, execution_arn: str) -> str:
    return str(sfn.describe_execution(executionArn=execution_arn)["status"])


def running_session(sfn: Any, lock: dict[str, Any] | None) -> str | None:
    """The execution ARN of the session holding the lock, if it is still running."""
    if not lock or not lock["held"] or not lock.get("owner"):
        return None
    try:
        status = execution_status(sfn, str(lock["owner"]))
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ExecutionDoesNotExist":
            return None
        raise
    return str(lock["owner"]) if status == "RUNNING" else None


def recent_executions(sfn: Any, model: ModelTarget, count: int = RECENT_EXECUTIONS) -> list[dict[str, Any]]:
    executions = sfn.list_executions(stateMachineArn=model.controller_arn, maxResults=count)["executions"]
    executions.sort(key=lambda e: e["startDate"], reverse=True)
    return [
        {
            "name": e["name"],
            "status": e["status"],
            "start": e["startDate"].isoformat(),
            "stop": e["stopDate"].isoformat() if e.get("stopDate") else None,
        }
        for e in executions[:count]
    ]


def map_run_counts(sfn: Any, execution_arn: str) -> tuple[int, int, int]:
    """(listed, processed, failed) items of the execution's Distributed Map run(s)."""
    listed = processed = failed = 0
    for run in sfn.list_map_runs(executionArn=execution_arn).get("mapRuns", []):
        counts = sfn.describe_map_run(mapRunArn=run["mapRunArn"]).get("itemCounts", {})
        listed += int(counts.get("total", 0))
        processed += int(counts.get("succeeded", 0))
        failed += int(counts.get("failed", 0))
    return listed, processed, failed


def count_objects(s3: Any, bucket: str, prefix: str) -> int:
    """Objects a backfill would consider (folder markers excluded)."""
    total = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        total += sum(1 for item in page.get("Contents", []) if not item["Key"].endswith("/"))
    return total
