"""Pictures and result items with known content for the gallery tests."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image, ImageDraw

BACKGROUND = (228, 228, 228)
OBJECT = (20, 20, 20)


def picture(width: int, height: int, box: dict[str, float] | None = None, *, fmt: str = "JPEG") -> bytes:
    """A light grey picture with a dark rectangle filling ``box`` (ratios of width and height), as the model would
    have found it."""
    image = Image.new("RGB", (width, height), BACKGROUND)
    if box is not None:
        left, top = box["left"] * width, box["top"] * height
        right, bottom = left + box["width"] * width, top + box["height"] * height
        ImageDraw.Draw(image).rectangle((left, top, right - 1, bottom - 1), fill=OBJECT)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def result(
    key: str,
    *,
    labels: list[tuple[str, float, dict[str, float] | None]] = (),  # type: ignore[assignment]
    status: str = "DETECTED",
    reason: str | None = None,
    review: str | None = None,
    reasons: list[str] | None = None,
    reviewed: list[tuple[str, dict[str, float] | None]] | None = None,
    model: str = "machine-parts",
    version: str = "v1",
    bucket: str = "uploads",
) -> dict[str, Any]:
    """A result item as ``clp.queries.plain`` returns it (docs/results.md)."""
    item: dict[str, Any] = {
        "bucket": bucket,
        "key": key,
        "version_id": version,
        "object_version": version,
        "model_name": model,
        "status": status,
        "labels": [{"name": n, "confidence": c, "bounding_box": b} for n, c, b in labels],
        "detected_at": "2026-11-26T01:00:00.000Z",
    }
    if reason:
        item["reason"], item["message"] = reason, "Request has invalid image format"
    if review:
        item["review"], item["review_reasons"] = review, reasons or []
    if reviewed is not None:
        item["reviewed_labels"] = [{"name": n, "bounding_box": b} for n, b in reviewed]
        item.update(reviewer="ana", reviewed_at="2026-11-27T09:30:00.000Z", review_source="label-studio")
    return item
