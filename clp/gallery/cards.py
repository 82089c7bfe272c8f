"""Result items as the gallery's cards: plain data, no I/O.

A result item is the results table's item as :func:`clp.queries.plain` returns it (docs/results.md): ``labels``
and ``reviewed_labels`` are lists of ``{name, confidence?, bounding_box?}`` whose box is ``{width, height, left,
top}``, ratios of the image's width and height with the origin at its top-left corner (Rekognition's
``BoundingBox``: https://docs.aws.amazon.com/rekognition/latest/APIReference/API_BoundingBox.html). Missing
attributes are tolerated: the gallery shows what a result has.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# The review states of a card: the item's ``review`` attribute, or NONE for a result the policy did not select.
REVIEW_NONE = "NONE"
NO_LABEL = "(no label)"


@dataclass(frozen=True)
class Box:
    """A box in percent of the image, clipped to it (Rekognition may return a box reaching past an edge)."""

    left: float
    top: float
    width: float
    height: float

    @classmethod
    def of(cls, raw: Any) -> Box | None:
        """The visible part of a ``{width, height, left, top}`` ratio box, or ``None`` (no box, or none visible)."""
        if not isinstance(raw, Mapping):
            return None
        try:
            left, top = float(raw["left"]), float(raw["top"])
            right, bottom = left + float(raw["width"]), top + float(raw["height"])
        except (KeyError, TypeError, ValueError):
            return None
        left, top, right, bottom = max(left, 0.0), max(top, 0.0), min(right, 1.0), min(bottom, 1.0)
        if right <= left or bottom <= top:
            return None
        return cls(left * 100, top * 100, (right - left) * 100, (bottom - top) * 100)


@dataclass(frozen=True)
class LabelView:
    name: str
    confidence: float | None
    box: Box | None


@dataclass(frozen=True)
class ImageRef:
    """The S3 object version a result is about: what ``image_bytes`` is asked for."""

    bucket: str
    key: str
    version_id: str | None
    object_version: str

    @property
    def digest(self) -> str:
        """A file name for its thumbnail: the same object version gives the same name, and no key reaches the
        file system."""
        raw = "\n".join((self.bucket, self.key, self.object_version))
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:24]


@dataclass(frozen=True)
class Card:
    image: ImageRef
    model_name: str
    status: str
    reason: str | None
    message: str | None
    detected_at: str | None
    labels: tuple[LabelView, ...]
    review: str
    review_reasons: tuple[str, ...]
    reviewed_labels: tuple[LabelView, ...]
    reviewer: str | None
    reviewed_at: str | None
    review_source: str | None
    filter_labels: tuple[str, ...] = field(default=())

    @property
    def key(self) -> str:
        return self.image.key


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _labels(raw: Any) -> tuple[LabelView, ...]:
    views = []
    for label in raw if isinstance(raw, list | tuple) else ():
        if not isinstance(label, Mapping) or label.get("name") is None:
            continue
        confidence = label.get("confidence")
        views.append(
            LabelView(
                name=str(label["name"]),
                confidence=float(confidence) if isinstance(confidence, int | float) else None,
                box=Box.of(label.get("bounding_box")),
            )
        )
    return tuple(views)


def card(item: Mapping[str, Any]) -> Card:
    """The card of one result item."""
    labels = _labels(item.get("labels"))
    reviewed = _labels(item.get("reviewed_labels"))
    review = str(item.get("review") or REVIEW_NONE)
    names = {label.name for label in (*labels, *reviewed)}
    return Card(
        image=ImageRef(
            bucket=str(item.get("bucket", "")),
            key=str(item.get("key", "")),
            version_id=_text(item.get("version_id")),
            object_version=str(item.get("object_version") or item.get("version_id") or item.get("etag") or ""),
        ),
        model_name=str(item.get("model_name", "")),
        status=str(item.get("status", "")),
        reason=_text(item.get("reason")),
        message=_text(item.get("message")),
        detected_at=_text(item.get("detected_at")),
        labels=labels,
        review=review,
        review_reasons=tuple(str(r) for r in item.get("review_reasons") or ()),
        reviewed_labels=reviewed,
        reviewer=_text(item.get("reviewer")),
        reviewed_at=_text(item.get("reviewed_at")),
        review_source=_text(item.get("review_source")),
        filter_labels=tuple(sorted(names)),
    )


def label_names(cards: Iterable[Card]) -> list[str]:
    """Every label name of the cards (predicted or reviewed), sorted: the label filter's choices."""
    return sorted({name for c in cards for name in c.filter_labels})
