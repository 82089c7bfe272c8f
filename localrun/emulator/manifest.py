"""The emulator's "model": a SageMaker Ground Truth labels manifest, replayed by image content.

Custom Labels datasets are described by Ground Truth manifests: one JSON object per line with a
``source-ref`` and one or more label attributes, each with an ``<attr>-metadata`` object whose
``type`` says what the attribute holds. The emulator understands the three types Custom Labels
uses:

* ``groundtruth/image-classification``: ``"<attr>": <class index>``, metadata ``class-name``;
* ``groundtruth/image-classification-multilabel``: ``"<attr>": [indexes]``, metadata ``class-map``;
* ``groundtruth/object-detection``: ``"<attr>": {"image_size": [...], "annotations": [...]}``,
  metadata ``class-map`` and ``objects`` (one confidence per annotation).

Confidence rule (deterministic, so repeated calls give the same answer): a metadata confidence
strictly between 0 and 1 is reported as ``confidence * 100``; anything else (absent, 0, 1 — human
annotations usually carry 1 or 0) becomes a stable value in [85.0, 99.9] derived from SHA-256 of
the image identity, the label name and the annotation index.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localrun.emulator.errors import ManifestError

CLASSIFICATION = "groundtruth/image-classification"
MULTILABEL = "groundtruth/image-classification-multilabel"
OBJECT_DETECTION = "groundtruth/object-detection"
SUPPORTED_TYPES = (CLASSIFICATION, MULTILABEL, OBJECT_DETECTION)

_METADATA_SUFFIX = "-metadata"


@dataclass(frozen=True)
class BoundingBox:
    """A box as ratios of the image size, like Rekognition's ``Geometry.BoundingBox``."""

    width: float
    height: float
    left: float
    top: float

    def to_api(self) -> dict[str, float]:
        """Return the Rekognition ``BoundingBox`` shape."""
        return {"Width": self.width, "Height": self.height, "Left": self.left, "Top": self.top}


@dataclass(frozen=True)
class ManifestLabel:
    """One label the emulated model returns for an image."""

    name: str
    confidence: float
    bounding_box: BoundingBox | None = None

    def to_api(self) -> dict[str, Any]:
        """Return the Rekognition ``CustomLabel`` shape."""
        label: dict[str, Any] = {"Name": self.name, "Confidence": self.confidence}
        if self.bounding_box is not None:
            label["Geometry"] = {"BoundingBox": self.bounding_box.to_api()}
        return label


@dataclass(frozen=True)
class ManifestEntry:
    """One manifest line: where the image is and the labels it carries."""

    line_number: int
    source_ref: str
    labels: tuple[ManifestLabel, ...]
    sha256: str | None = None
    s3_bucket: str | None = None
    s3_key: str | None = None
    local_path: Path | None = None


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into (bucket, key); raise ``ValueError`` when malformed."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket or not key:
        raise ValueError(f"s3 URI needs a bucket and a key: {uri!r}")
    return bucket, key


def stable_confidence(identity: str, label: str, index: int) -> float:
    """Return a deterministic confidence in [85.0, 99.9] for (image, label, index)."""
    digest = hashlib.sha256(f"{identity}\n{label}\n{index}".encode()).digest()
    return 85.0 + (int.from_bytes(digest[:8], "big") % 14901) / 1000.0


def _confidence(raw: object, identity: str, label: str, index: int) -> float:
    if isinstance(raw, int | float) and not isinstance(raw, bool) and 0 < raw < 1:
        return round(float(raw) * 100.0, 3)
    return stable_confidence(identity, label, index)


@dataclass(frozen=True)
class _ImageRef:
    """Where a manifest line's image is, and the identity its stable confidences derive from."""

    identity: str
    sha256: str | None = None
    s3_bucket: str | None = None
    s3_key: str | None = None
    local_path: Path | None = None


class _LineParser:
    """Parses one manifest line; raises ``ManifestError`` naming the line."""

    def __init__(self, line_number: int, base_dir: Path | None, source: str | None) -> None:
        self.line_number = line_number
        self.base_dir = base_dir
        self.source = source

    def fail(self, message: str) -> ManifestError:
        return ManifestError(message, self.line_number, self.source)

    def parse(self, text: str) -> ManifestEntry:
        obj = self._json_object(text)
        source_ref = obj.get("source-ref")
        if not isinstance(source_ref, str) or not source_ref:
            raise self.fail("missing source-ref")
        image = self._locate(source_ref)
        return ManifestEntry(
            line_number=self.line_number,
            source_ref=source_ref,
            labels=tuple(self._all_labels(obj, image.identity)),
            sha256=image.sha256,
            s3_bucket=image.s3_bucket,
            s3_key=image.s3_key,
            local_path=image.local_path,
        )

    def _json_object(self, text: str) -> dict[str, Any]:
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise self.fail(f"invalid JSON ({exc.msg} at column {exc.colno})") from exc
        if not isinstance(obj, dict):
            raise self.fail("a manifest line must be a JSON object")
        return obj

    def _locate(self, source_ref: str) -> _ImageRef:
        """Where the image is; its identity is the S3 URI, or the file's SHA-256 (lookups go by content)."""
        if source_ref.startswith("s3://"):
            try:
                bucket, key = parse_s3_uri(source_ref)
            except ValueError as exc:
                raise self.fail(str(exc)) from exc
            return _ImageRef(identity=source_ref, s3_bucket=bucket, s3_key=key)
        local_path = self._local_path(source_ref)
        try:
            sha = hashlib.sha256(local_path.read_bytes()).hexdigest()
        except OSError as exc:
            raise self.fail(f"cannot read image {str(local_path)!r}: {exc.strerror}") from exc
        return _ImageRef(identity=sha, sha256=sha, local_path=local_path)

    def _all_labels(self, obj: Mapping[str, Any], identity: str) -> list[ManifestLabel]:
        labels: list[ManifestLabel] = []
        for field, metadata in obj.items():
            if not field.endswith(_METADATA_SUFFIX):
                continue
            attr = field[: -len(_METADATA_SUFFIX)]
            if attr not in obj:
                raise self.fail(f"{field!r} has no matching {attr!r} attribute")
            if not isinstance(metadata, dict):
                raise self.fail(f"{field!r} must be an object")
            labels.extend(self._labels(attr, obj[attr], metadata, identity))
        return labels

    def _local_path(self, ref: str) -> Path:
        path = Path(ref.removeprefix("file://"))
        if path.is_absolute():
            return path
        if self.base_dir is None:
            raise self.fail(f"relative source-ref {ref!r} needs the manifest's directory (base_dir)")
        return self.base_dir / path

    def _labels(self, attr: str, value: object, metadata: Mapping[str, Any], identity: str) -> list[ManifestLabel]:
        kind = metadata.get("type")
        if kind == CLASSIFICATION:
            return [self._classification(attr, value, metadata, identity)]
        if kind == MULTILABEL:
            return self._multilabel(attr, value, metadata, identity)
        if kind == OBJECT_DETECTION:
            return self._detection(attr, value, metadata, identity)
        raise self.fail(f"unknown type {kind!r} for attribute {attr!r} (supported: {', '.join(SUPPORTED_TYPES)})")

    def _classification(self, attr: str, value: object, metadata: Mapping[str, Any], identity: str) -> ManifestLabel:
        if not _is_index(value):
            raise self.fail(f"{attr!r} must be a class index (non-negative integer)")
        name = metadata.get("class-name")
        if not isinstance(name, str) or not name:
            raise self.fail(f"'{attr}-metadata' needs a class-name")
        return ManifestLabel(name, _confidence(metadata.get("confidence"), identity, name, 0))

    def _multilabel(self, attr: str, value: object, metadata: Mapping[str, Any], identity: str) -> list[ManifestLabel]:
        if not isinstance(value, list) or not all(_is_index(v) for v in value):
            raise self.fail(f"{attr!r} must be a list of class indexes")
        class_map = self._class_map(attr, metadata)
        confidences = metadata.get("confidence-map", {})
        if not isinstance(confidences, dict):
            raise self.fail(f"'{attr}-metadata' confidence-map must be an object")
        labels = []
        for index in value:
            name = class_map.get(str(index))
            if name is None:
                raise self.fail(f"class index {index} of {attr!r} is not in class-map")
            labels.append(ManifestLabel(name, _confidence(confidences.get(str(index)), identity, name, 0)))
        return labels

    def _detection(self, attr: str, value: object, metadata: Mapping[str, Any], identity: str) -> list[ManifestLabel]:
        if not isinstance(value, dict):
            raise self.fail(f"{attr!r} must be an object with image_size and annotations")
        class_map = self._class_map(attr, metadata)
        width, height = self._image_size(attr, value)
        annotations = value.get("annotations")
        if not isinstance(annotations, list):
            raise self.fail(f"{attr!r} needs an annotations list")
        objects = metadata.get("objects", [])
        if not isinstance(objects, list):
            raise self.fail(f"'{attr}-metadata' objects must be a list")

        labels = []
        for i, ann in enumerate(annotations):
            name, box = self._annotation(attr, i, ann, class_map, width, height)
            obj = objects[i] if i < len(objects) and isinstance(objects[i], dict) else {}
            labels.append(ManifestLabel(name, _confidence(obj.get("confidence"), identity, name, i), box))
        return labels

    def _image_size(self, attr: str, value: Mapping[str, Any]) -> tuple[float, float]:
        sizes = value.get("image_size")
        if not isinstance(sizes, list) or not sizes or not isinstance(sizes[0], dict):
            raise self.fail(f"{attr!r} needs image_size [{{width, height, depth}}]")
        width, height = _number(sizes[0].get("width")), _number(sizes[0].get("height"))
        if not width or not height:
            raise self.fail(f"{attr!r} image_size needs positive width and height")
        return width, height

    def _annotation(
        self, attr: str, i: int, ann: object, class_map: Mapping[str, str], width: float, height: float
    ) -> tuple[str, BoundingBox]:
        """The class name and the box (as ratios of the image size) of annotation ``i``."""
        if not isinstance(ann, dict):
            raise self.fail(f"annotation {i} of {attr!r} must be an object")
        class_id = ann.get("class_id")
        if not _is_index(class_id):
            raise self.fail(f"annotation {i} of {attr!r} needs an integer class_id")
        name = class_map.get(str(class_id))
        if name is None:
            raise self.fail(f"class_id {class_id} of annotation {i} of {attr!r} is not in class-map")
        left, top, box_w, box_h = (_number(ann.get(k)) for k in ("left", "top", "width", "height"))
        if left is None or top is None or box_w is None or box_h is None:
            raise self.fail(f"annotation {i} of {attr!r} needs non-negative left, top, width, height")
        box = BoundingBox(
            width=round(box_w / width, 6),
            height=round(box_h / height, 6),
            left=round(left / width, 6),
            top=round(top / height, 6),
        )
        return name, box

    def _class_map(self, attr: str, metadata: Mapping[str, Any]) -> dict[str, str]:
        class_map = metadata.get("class-map")
        if not isinstance(class_map, dict) or not all(isinstance(v, str) for v in class_map.values()):
            raise self.fail(f"'{attr}-metadata' needs a class-map of index -> name")
        return {str(k): v for k, v in class_map.items()}


def _is_index(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value: object) -> float | None:
    """Return ``value`` as a float when it is a finite, non-negative JSON number."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0:
        return float(value)
    return None


class Manifest:
    """A parsed labels manifest with lookups by image content or S3 location."""

    def __init__(self, entries: Sequence[ManifestEntry], source: str | None = None) -> None:
        self.entries: tuple[ManifestEntry, ...] = tuple(entries)
        self.source = source
        self._by_sha: dict[str, list[ManifestEntry]] = {}
        self._by_s3: dict[tuple[str, str], list[ManifestEntry]] = {}
        for entry in self.entries:
            if entry.sha256 is not None:
                self._by_sha.setdefault(entry.sha256, []).append(entry)
            if entry.s3_bucket is not None and entry.s3_key is not None:
                self._by_s3.setdefault((entry.s3_bucket, entry.s3_key), []).append(entry)

    @classmethod
    def load(cls, path: str | Path) -> Manifest:
        """Read a manifest file; relative ``source-ref`` paths resolve against its directory."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ManifestError(f"cannot read manifest: {exc.strerror}", path=str(path)) from exc
        return cls.parse(text.splitlines(), base_dir=path.parent, source=str(path))

    @classmethod
    def parse(cls, lines: Iterable[str], base_dir: str | Path | None = None, source: str | None = None) -> Manifest:
        """Parse manifest lines (blank lines are skipped but still counted for line numbers)."""
        base = Path(base_dir) if base_dir is not None else None
        entries = []
        for number, line in enumerate(lines, start=1):
            if line.strip():
                entries.append(_LineParser(number, base, source).parse(line))
        return cls(entries, source=source)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def label_names(self) -> frozenset[str]:
        """Every label name the manifest can return."""
        return frozenset(label.name for entry in self.entries for label in entry.labels)

    def match(
        self, image: bytes | None = None, bucket: str | None = None, key: str | None = None
    ) -> list[ManifestEntry]:
        """Return the entries for an image: by SHA-256 of its bytes first, else by S3 bucket/key."""
        if image is not None:
            by_content = self._by_sha.get(hashlib.sha256(image).hexdigest())
            if by_content:
                return list(by_content)
        if bucket is not None and key is not None:
            return list(self._by_s3.get((bucket, key), []))
        return []

    def labels_for(
        self, image: bytes | None = None, bucket: str | None = None, key: str | None = None
    ) -> list[ManifestLabel]:
        """Return the labels of an image (empty when the manifest does not know it)."""
        seen: set[ManifestLabel] = set()
        labels = []
        for entry in self.match(image, bucket, key):
            for label in entry.labels:
                if label not in seen:
                    seen.add(label)
                    labels.append(label)
        return labels


__all__ = [
    "CLASSIFICATION",
    "MULTILABEL",
    "OBJECT_DETECTION",
    "BoundingBox",
    "Manifest",
    "ManifestEntry",
    "ManifestLabel",
    "parse_s3_uri",
    "stable_confidence",
]
