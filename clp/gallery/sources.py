"""Where a gallery's results and images come from: the deployed stack (DynamoDB, S3) or files on disk.

The page itself (:func:`clp.gallery.render_gallery`) does no I/O but write its files; these adapters feed it.
Every AWS behaviour relied on is named with its documentation beside the call.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from clp.queries import plain, query_up_to
from lambdas.common import contract

# BatchGetItem takes at most 100 keys per call ("Too many items requested for the BatchGetItem call" beyond):
# https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html
BATCH_GET_LIMIT = 100
# S3 GetObject error codes that mean "this object (version) cannot be shown", not "the command is broken":
# https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html (NoSuchKey, NoSuchVersion, AccessDenied, and
# InvalidObjectState for an archived object).
_UNREADABLE = {"NoSuchKey", "NoSuchVersion", "404", "AccessDenied", "403", "InvalidObjectState", "InvalidArgument"}


def result_keys(label_items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The primary keys of the result items the label items were written beside (docs/results.md)."""
    return [
        {
            contract.RESULTS_PK: {"S": contract.object_pk(str(i["bucket"]), str(i["key"]))},
            contract.RESULTS_SK: {"S": contract.result_sk(str(i["project_version_arn"]), str(i["object_version"]))},
        }
        for i in label_items
    ]


def batch_get(ddb: Any, table: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items of ``keys``, in the order of ``keys`` (missing ones left out).

    BatchGetItem returns items in no particular order and may return part of a batch with the rest in
    ``UnprocessedKeys`` (API reference above); those are asked again until none is left.
    """
    found: dict[tuple[str, str], dict[str, Any]] = {}
    pk, sk = contract.RESULTS_PK, contract.RESULTS_SK
    for start in range(0, len(keys), BATCH_GET_LIMIT):
        request: dict[str, Any] = {table: {"Keys": keys[start : start + BATCH_GET_LIMIT]}}
        while request:
            response = ddb.batch_get_item(RequestItems=request)
            for raw in response.get("Responses", {}).get(table, []):
                found[(raw[pk]["S"], raw[sk]["S"])] = plain(raw)
            request = response.get("UnprocessedKeys") or {}
    ordered = (found.get((k[pk]["S"], k[sk]["S"])) for k in keys)
    return [item for item in ordered if item is not None]


def review_items(ddb: Any, table: str, model_name: str, state: str, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` results of ``model_name`` in review ``state`` (PENDING or REVIEWED), oldest first: a Query of
    the sparse by_review index (docs/results.md), which projects every attribute."""
    query: dict[str, Any] = {
        "TableName": table,
        "IndexName": contract.BY_REVIEW_INDEX,
        "KeyConditionExpression": "#rk = :rk",
        "ExpressionAttributeNames": {"#rk": contract.REVIEW_PK},
        "ExpressionAttributeValues": {":rk": {"S": contract.review_key(model_name, state)}},
    }
    return query_up_to(ddb, query, limit)


def scan_results(ddb: Any, table: str, model_names: list[str] | None, limit: int) -> tuple[list[dict[str, Any]], bool]:
    """Up to ``limit`` result items (of ``model_names``, or of every model) and whether the whole table was read.

    No index lists every result, so this is a Scan: it reads items in no particular order and applies the filter
    after reading, so it consumes read capacity for every item it reads, matching or not
    (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Scan.html, "Filter expressions for scan").
    It stops as soon as ``limit`` results are found.
    """
    values: dict[str, Any] = {":r": {"S": "result"}}
    condition = "record_type = :r"
    if model_names:
        names = {f":m{i}": {"S": name} for i, name in enumerate(model_names)}
        values.update(names)
        condition += f" AND model_name IN ({', '.join(names)})"
    scan: dict[str, Any] = {"TableName": table, "FilterExpression": condition, "ExpressionAttributeValues": values}
    items: list[dict[str, Any]] = []
    while len(items) < limit:
        page = ddb.scan(**scan)
        items += [plain(i) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return items[:limit], len(items) <= limit
        scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return items[:limit], False


class S3Images:
    """The ``image_bytes`` of a deployed stack: GetObject of the result's object version (``VersionId`` when the
    bucket is versioned). An object that cannot be read is counted by error code and shown without a picture."""

    def __init__(self, s3: Any) -> None:
        self._s3 = s3
        self.unreadable: Counter[str] = Counter()

    def __call__(self, bucket: str, key: str, version_id: str | None) -> bytes | None:
        request = {"Bucket": bucket, "Key": key}
        if version_id:
            request["VersionId"] = version_id
        try:
            body = self._s3.get_object(**request)["Body"]
            return bytes(body.read())
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code not in _UNREADABLE:
                raise
            self.unreadable[code] += 1
            return None


class LocalImages:
    """The ``image_bytes`` of the offline runtime: the uploaded files, where ``key`` = a model's prefix + the path
    relative to ``directory`` (``clp local run``, ``clp demo``). A key that does not map into ``directory``
    (another prefix, ``..``) has no image."""

    def __init__(self, directory: Path, *prefixes: str) -> None:
        self._root = directory.resolve()
        self._prefixes = prefixes

    def __call__(self, bucket: str, key: str, version_id: str | None) -> bytes | None:
        for prefix in self._prefixes:
            if key.startswith(prefix):
                path = (self._root / key[len(prefix) :]).resolve()
                if path.is_relative_to(self._root) and path.is_file():
                    return path.read_bytes()
        return None


def _best_confidence(item: Mapping[str, Any], label: str) -> float | None:
    found = [lb.get("confidence") for lb in item.get("labels") or () if lb.get("name") == label]
    numbers = [float(c) for c in found if isinstance(c, int | float)]
    return max(numbers) if numbers else None


def select_saved(
    items: list[dict[str, Any]],
    *,
    key: str | None = None,
    label: str | None = None,
    review: str | None = None,
    model: str | None = None,
    min_confidence: float | None = None,
    limit: int | None = None,
    by: str = "confidence",
) -> list[dict[str, Any]]:
    """What the deployed selections (:func:`clp.queries.results_by_key`, ``results_by_label``,
    :func:`review_items`, :func:`scan_results`) choose, applied to a saved table's result items in memory: by
    key, by label (best first or newest first, above ``min_confidence``), by review state (oldest first), or all
    (newest first); at most ``limit``."""
    chosen = [i for i in items if model is None or i.get("model_name") == model]
    if key is not None:
        return [i for i in chosen if i.get("key") == key][:limit]
    newest = sorted(chosen, key=lambda i: str(i.get("detected_at", "")), reverse=True)
    if label is not None:
        scored = [(i, _best_confidence(i, label)) for i in newest]
        found = [(i, c) for i, c in scored if c is not None and (min_confidence is None or c >= min_confidence)]
        if by == "confidence":
            found.sort(key=lambda pair: -(pair[1] or 0.0))
        return [i for i, _ in found][:limit]
    if review is not None:
        return [i for i in reversed(newest) if i.get("review") == review][:limit]
    return newest[:limit]


def state_items(path: Path) -> list[dict[str, Any]]:
    """The result items of a saved results table: one DynamoDB-JSON item per line (the offline state's
    ``state/results.jsonl``); label items and blank lines are skipped."""
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            item = plain(json.loads(line))
            if item.get("record_type") == "result":
                items.append(item)
    return items
