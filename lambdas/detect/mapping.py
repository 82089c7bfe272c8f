"""Pure mappings between Rekognition responses, results, table items and event details."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from lambdas.common.contract import (
    REVIEW_PENDING,
    REVIEW_PK,
    REVIEW_SK,
    label_index_pk,
    label_sk,
    object_pk,
    result_sk,
    review_key,
    review_sort,
)
from lambdas.detect.models import BoundingBox, DetectionResult, Label, Point

# The keys (docs/results.md) are built by lambdas/common/contract.py; object_pk / result_sk stay importable here.
__all__ = [
    "event_detail",
    "label_items",
    "labels_from_response",
    "object_pk",
    "result_item",
    "result_sk",
    "review_attributes",
    "to_dynamo",
]


def labels_from_response(response: dict[str, Any]) -> tuple[Label, ...]:
    """Labels of a DetectCustomLabels response, highest confidence first."""
    labels = []
    for item in response.get("CustomLabels", []):
        geometry = item.get("Geometry") or {}
        box = geometry.get("BoundingBox")
        polygon = geometry.get("Polygon")
        labels.append(
            Label(
                name=item["Name"],
                confidence=round(float(item["Confidence"]), 3),
                bounding_box=(
                    BoundingBox(width=box["Width"], height=box["Height"], left=box["Left"], top=box["Top"])
                    if box
                    else None
                ),
                polygon=tuple(Point(x=p["X"], y=p["Y"]) for p in polygon) if polygon else None,
            )
        )
    return tuple(sorted(labels, key=lambda label: -label.confidence))


def _iso(result: DetectionResult) -> str:
    return result.detected_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_detail(result: DetectionResult) -> dict[str, Any]:
    """The ``detail`` of a Detected / Detection Failed event (schemas in docs/events/)."""
    image = result.image
    return {
        "result_id": result.result_id,
        "status": result.status,
        "bucket": image.bucket,
        "key": image.key,
        "version_id": image.version_id,
        "etag": image.etag,
        "size": image.size,
        "model_name": result.model_name,
        "project_version_arn": result.project_version_arn,
        "labels": [label.model_dump(mode="json") for label in result.labels],
        "reason": result.reason,
        "message": result.message,
        "uploaded_at": image.uploaded_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "detected_at": _iso(result),
    }


def to_dynamo(value: Any) -> Any:
    """``value`` as boto3's TypeSerializer takes it: floats as Decimal (it refuses floats), ``None`` map values
    dropped."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [to_dynamo(v) for v in value]
    return value


def review_attributes(result: DetectionResult, review_detail: dict[str, Any]) -> dict[str, Any]:
    """The attributes that mark a result pending review and put it in the sparse by_review index."""
    image = result.image
    return {
        "review": REVIEW_PENDING,
        "review_reasons": list(review_detail["reasons"]),
        REVIEW_PK: review_key(result.model_name, REVIEW_PENDING),
        REVIEW_SK: review_sort(_iso(result), image.bucket, image.key),
    }


def result_item(
    result: DetectionResult, detail: dict[str, Any], review_detail: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The result item (Python values; the repository serialises them); pending review when ``review_detail``
    (the Review Requested event's detail) is given."""
    image = result.image
    item: dict[str, Any] = {
        "pk": object_pk(image.bucket, image.key),
        "sk": result_sk(result.project_version_arn, image.object_version),
        "record_type": "result",
        "result_id": result.result_id,
        "status": result.status,
        "bucket": image.bucket,
        "key": image.key,
        "object_version": image.object_version,
        "version_id": image.version_id,
        "etag": image.etag,
        "size": image.size,
        "model_name": result.model_name,
        "project_version_arn": result.project_version_arn,
        "labels": [label.model_dump(mode="json") for label in result.labels],
        "label_count": len(result.labels),
        "reason": result.reason,
        "message": result.message,
        "uploaded_at": detail["uploaded_at"],
        "detected_at": detail["detected_at"],
        "event_published": False,
    }
    if review_detail is not None:
        item |= review_attributes(result, review_detail)
    return {k: to_dynamo(v) for k, v in item.items() if v is not None}


def label_items(result: DetectionResult) -> list[dict[str, Any]]:
    """One item per distinct label, projected into the by-label indexes."""
    image = result.image
    best: dict[str, Label] = {}
    for label in result.labels:  # a label can repeat (several boxes): index its best confidence
        if label.name not in best or label.confidence > best[label.name].confidence:
            best[label.name] = label
    detected_at = _iso(result)
    return [
        {
            "pk": object_pk(image.bucket, image.key),
            "sk": label_sk(result.project_version_arn, image.object_version, label.name),
            "record_type": "label",
            "label_key": label_index_pk(result.model_name, label.name),
            "confidence_sort": Decimal(str(label.confidence)),
            "detected_sort": f"{detected_at}#{image.bucket}/{image.key}",
            "label": label.name,
            "confidence": Decimal(str(label.confidence)),
            "bucket": image.bucket,
            "key": image.key,
            "object_version": image.object_version,
            "model_name": result.model_name,
            "project_version_arn": result.project_version_arn,
            "detected_at": detected_at,
        }
        for label in best.values()
    ]
