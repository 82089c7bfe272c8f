"""``clp review export``: reviewed results → a SageMaker Ground Truth manifest that Custom Labels imports.

One JSON line per image, in one of the two formats Custom Labels datasets import:

* **classification** (no reviewed label has a box) — "Importing image-level labels in manifest files",
  https://docs.aws.amazon.com/rekognition/latest/customlabels-dg/md-create-manifest-file-classification.html:
  one ``<attr>`` / ``<attr>-metadata`` pair per label, the value a class index, the metadata ``class-name``,
  ``confidence``, ``type: groundtruth/image-classification``, ``human-annotated``, ``creation-date``,
  ``job-name``. An image with several reviewed labels gets several pairs, as that page's multi-label lines
  (``testdataset-classification_<Label>``) do.
* **object detection** (some reviewed label has a box) — "Object localization in manifest files",
  https://docs.aws.amazon.com/rekognition/latest/customlabels-dg/md-create-manifest-file-object-detection.html:
  ``bounding-box`` = ``{image_size: [{width, height, depth}], annotations: [{class_id, left, top, width,
  height}]}`` in **pixels**, metadata ``objects`` (one confidence per annotation), ``class-map``,
  ``type: groundtruth/object-detection``. Boxes are stored as ratios, so the image's size is read from the
  image itself (:class:`S3ImageSizer`, :class:`LocalImageSizer`).

Decisions, each counted in :class:`ManifestExport` so the command can say what it left out:

* A reviewer's "no label" (empty ``reviewed_labels``) is written as an image with no boxes in the detection
  format (Custom Labels' validation rules allow 0 bounding boxes per image: "Validation rules for manifest
  files", .../customlabels-dg/md-create-manifest-file-validation-rules.html), and **skipped** in the
  classification format, which has no "none" class.
* In the detection format a reviewed label without a box cannot be an annotation: it is dropped (counted).
  A box that rounds to less than one pixel is dropped too; boxes are clamped to the image.
* One line per image (``source-ref``): when an image was reviewed more than once (another object version
  under the same key, another model version), the latest review wins and the others are counted.
* Custom Labels refuses a manifest whose images are in more than one bucket (terminal content error
  ``ERROR_IMAGES_IN_MULTIPLE_S3_BUCKETS``, .../customlabels-dg/tm-debugging-aggregate-errors.html): that is
  an :class:`ExportError`, not a silent partial file.
* Human annotations carry confidence 1 (the documents' examples write ``"confidence": 1`` for them).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from PIL import Image, UnidentifiedImageError

from clp.errors import ClpError
from lambdas.review.models import ReviewedLabel, ReviewedResult

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CLASSIFICATION_TYPE = "groundtruth/image-classification"
OBJECT_DETECTION_TYPE = "groundtruth/object-detection"
DETECTION_ATTRIBUTE = "bounding-box"
# Human reviewers are certain of what they chose; the AWS examples of human-annotated lines use 1.
HUMAN_CONFIDENCE = 1
# Enough for the header of any PNG and of a JPEG whose EXIF block is not huge; otherwise the whole object.
HEADER_BYTES = 64 * 1024
# ImageRef.object_version when an event carried neither a version id nor an ETag.
UNVERSIONED = "unversioned"


class ExportError(ClpError):
    """The reviewed results cannot become one importable manifest (the message says why)."""


class ImageUnavailableError(Exception):
    """The image a reviewed result names cannot be read now (deleted, replaced by another version, not an image)."""


class ManifestFormat(StrEnum):
    CLASSIFICATION = "classification"
    OBJECT_DETECTION = "object-detection"


@dataclass(frozen=True)
class ImageSize:
    """``image_size[0]`` of a detection line: pixels, and the number of channels (``depth``)."""

    width: int
    height: int
    depth: int


ImageSizeOf = Callable[[ReviewedResult], ImageSize]


@dataclass
class ManifestExport:
    """The manifest's lines and what was left out of them, and why."""

    format: ManifestFormat
    lines: list[str] = field(default_factory=list)
    skipped_no_label: int = 0
    skipped_unavailable: list[str] = field(default_factory=list)
    superseded: int = 0
    dropped_labels_without_box: int = 0
    dropped_empty_boxes: int = 0

    def summary(self) -> dict[str, Any]:
        """A JSON-able account of the export (what ``clp review export`` prints)."""
        return {
            "format": self.format.value,
            "images": len(self.lines),
            "skipped_no_label": self.skipped_no_label,
            "skipped_unavailable": len(self.skipped_unavailable),
            "superseded_reviews": self.superseded,
            "dropped_labels_without_box": self.dropped_labels_without_box,
            "dropped_empty_boxes": self.dropped_empty_boxes,
        }


def manifest_format(reviewed: Iterable[ReviewedResult]) -> ManifestFormat:
    """Object detection when any reviewed label has a box, else classification."""
    has_box = any(label.bounding_box is not None for result in reviewed for label in result.reviewed_labels)
    return ManifestFormat.OBJECT_DETECTION if has_box else ManifestFormat.CLASSIFICATION


def source_ref(result: ReviewedResult) -> str:
    return f"s3://{result.bucket}/{result.key}"


def _latest_per_image(reviewed: Sequence[ReviewedResult]) -> tuple[list[ReviewedResult], int]:
    """One result per ``source-ref`` (the latest review), in a stable order, and how many were superseded."""
    latest: dict[str, ReviewedResult] = {}
    for result in reviewed:
        ref = source_ref(result)
        kept = latest.get(ref)
        if kept is None or (result.reviewed_at, result.detected_at) > (kept.reviewed_at, kept.detected_at):
            latest[ref] = result
    return [latest[ref] for ref in sorted(latest)], len(reviewed) - len(latest)


def _creation_date(result: ReviewedResult) -> str:
    # The documents' examples spell it without a zone ("2020-03-06T17:46:39.176"); the value is UTC.
    return result.reviewed_at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds")


def _metadata(result: ReviewedResult, job_name: str, kind: str) -> dict[str, Any]:
    return {
        "type": kind,
        "human-annotated": "yes",
        "creation-date": _creation_date(result),
        "job-name": job_name,
    }


class _Builder:
    """Builds the lines of one export; keeps the class indexes and the counts."""

    def __init__(self, results: list[ReviewedResult], kind: ManifestFormat, job_name: str) -> None:
        self.kind = kind
        self.job_name = job_name
        names = sorted({label.name for result in results for label in result.reviewed_labels})
        self.class_ids = {name: index for index, name in enumerate(names)}
        self.export = ManifestExport(format=kind)

    def classification_line(self, result: ReviewedResult) -> str | None:
        names = list(dict.fromkeys(label.name for label in result.reviewed_labels))
        if not names:
            self.export.skipped_no_label += 1
            return None
        line: dict[str, Any] = {"source-ref": source_ref(result)}
        for name in names:
            attribute = f"{result.model_name}-classification_{name}"
            line[attribute] = self.class_ids[name]
            line[f"{attribute}-metadata"] = {
                "class-name": name,
                "confidence": HUMAN_CONFIDENCE,
                **_metadata(result, self.job_name, CLASSIFICATION_TYPE),
            }
        return json.dumps(line, ensure_ascii=False)

    def detection_line(self, result: ReviewedResult, size: ImageSize) -> str:
        annotations = []
        for label in result.reviewed_labels:
            annotation = self._annotation(label, size)
            if annotation is not None:
                annotations.append(annotation)
        line = {
            "source-ref": source_ref(result),
            DETECTION_ATTRIBUTE: {
                "image_size": [{"width": size.width, "height": size.height, "depth": size.depth}],
                "annotations": annotations,
            },
            f"{DETECTION_ATTRIBUTE}-metadata": {
                "objects": [{"confidence": HUMAN_CONFIDENCE} for _ in annotations],
                "class-map": {str(index): name for name, index in self.class_ids.items()},
                **_metadata(result, self.job_name, OBJECT_DETECTION_TYPE),
            },
        }
        return json.dumps(line, ensure_ascii=False)

    def _annotation(self, label: ReviewedLabel, size: ImageSize) -> dict[str, int] | None:
        box = label.bounding_box
        if box is None:
            self.export.dropped_labels_without_box += 1
            return None
        left = min(round(box.left * size.width), size.width)
        top = min(round(box.top * size.height), size.height)
        width = min(round(box.width * size.width), size.width - left)
        height = min(round(box.height * size.height), size.height - top)
        if width < 1 or height < 1:
            self.export.dropped_empty_boxes += 1
            return None
        return {"class_id": self.class_ids[label.name], "left": left, "top": top, "width": width, "height": height}


def build_manifest(
    reviewed: Sequence[ReviewedResult], image_size_of: ImageSizeOf, *, job_name: str | None = None
) -> ManifestExport:
    """The manifest of ``reviewed`` (one model's REVIEWED results) and what it left out.

    ``image_size_of`` is called only for the detection format (pixel boxes need the image's size); an image it
    reports with :class:`ImageUnavailableError` is left out and named in ``skipped_unavailable``.
    """
    buckets = sorted({result.bucket for result in reviewed})
    if len(buckets) > 1:
        raise ExportError(
            f"the reviewed images are in {len(buckets)} buckets ({', '.join(buckets)}); a Custom Labels "
            "manifest can only reference images in one bucket"
        )
    results, superseded = _latest_per_image(reviewed)
    kind = manifest_format(results)
    models = sorted({result.model_name for result in results})
    builder = _Builder(results, kind, job_name or f"labeling-job/{'-'.join(models) or 'clp'}-review")
    builder.export.superseded = superseded
    for result in results:
        line: str | None
        if kind is ManifestFormat.CLASSIFICATION:
            line = builder.classification_line(result)
        else:
            try:
                size = image_size_of(result)
            except ImageUnavailableError as exc:
                builder.export.skipped_unavailable.append(f"{source_ref(result)}: {exc}")
                continue
            line = builder.detection_line(result, size)
        if line is not None:
            builder.export.lines.append(line)
    return builder.export


def manifest_lines(reviewed: Sequence[ReviewedResult], image_size_of: ImageSizeOf) -> list[str]:
    """The JSON lines of the manifest of ``reviewed`` (see :func:`build_manifest` for what is left out)."""
    return build_manifest(reviewed, image_size_of).lines


def write_manifest(path: Path, lines: Sequence[str]) -> None:
    """Write ``lines`` as a JSON Lines file (UTF-8, one per line), replacing ``path`` only once complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.writelines(f"{line}\n" for line in lines)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def export_manifest(
    reviewed: Sequence[ReviewedResult], image_size_of: ImageSizeOf, out: Path, *, job_name: str | None = None
) -> ManifestExport:
    """Build the manifest of ``reviewed`` and write it to ``out``; returns what was written and left out."""
    export = build_manifest(reviewed, image_size_of, job_name=job_name)
    write_manifest(out, export.lines)
    return export


# -- image sizes ------------------------------------------------------------------------------------------------


def image_size(data: bytes) -> ImageSize:
    """Width, height and channel count from an image's bytes (its header is enough for PNG and JPEG)."""
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
        return ImageSize(width=width, height=height, depth=len(image.getbands()))


def _size_or_none(data: bytes) -> ImageSize | None:
    try:
        return image_size(data)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None


def _unquote_etag(etag: str | None) -> str | None:
    return etag.strip('"') if etag else None


class S3ImageSizer:
    """Reads an image's size from S3: a ranged GetObject of its first bytes, the whole object if those are not
    enough. The result's own version is checked against the object the ``source-ref`` names (the current one):
    a key overwritten since the review would give the reviewer's labels to another image."""

    def __init__(self, s3: S3Client, header_bytes: int = HEADER_BYTES) -> None:
        self._s3 = s3
        self._header_bytes = header_bytes

    def __call__(self, result: ReviewedResult) -> ImageSize:
        response = self._get(result, f"bytes=0-{self._header_bytes - 1}")
        self._check_version(result, response)
        size = _size_or_none(response["Body"].read())
        if size is None:
            size = _size_or_none(self._get(result, None)["Body"].read())
        if size is None:
            raise ImageUnavailableError("not an image Pillow can read")
        return size

    @staticmethod
    def _check_version(result: ReviewedResult, response: Any) -> None:
        # object_version is the version id in a versioned bucket, else the ETag (lambdas/detect/models.ImageRef).
        current: str | None
        reviewed: str | None
        if result.version_id:
            current, reviewed = response.get("VersionId"), result.version_id
        elif result.object_version != UNVERSIONED:
            current, reviewed = _unquote_etag(response.get("ETag")), _unquote_etag(result.object_version)
        else:
            return
        if current != reviewed:
            raise ImageUnavailableError(f"the object changed since the review (now {current}, reviewed {reviewed})")

    def _get(self, result: ReviewedResult, byte_range: str | None) -> Any:
        kwargs: dict[str, Any] = {"Bucket": result.bucket, "Key": result.key}
        if byte_range is not None:
            kwargs["Range"] = byte_range
        try:
            return self._s3.get_object(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            # NoSuchKey: deleted. InvalidRange: a zero-byte object (S3 answers 416 to a range past its end).
            if code in {"NoSuchKey", "404", "InvalidRange"}:
                raise ImageUnavailableError(f"cannot read the image ({code})") from exc
            raise


class LocalImageSizer:
    """Reads an image's size from a local copy: ``root / <key without strip_prefix>`` (the offline demo keeps its
    images in ``demo-output/dataset/images/`` with keys under the model's prefix)."""

    def __init__(self, root: Path, strip_prefix: str = "") -> None:
        self._root = root
        self._strip_prefix = strip_prefix

    def path_of(self, result: ReviewedResult) -> Path:
        return self._root / result.key.removeprefix(self._strip_prefix)

    def __call__(self, result: ReviewedResult) -> ImageSize:
        path = self.path_of(result)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImageUnavailableError(f"cannot read {path}: {exc.strerror}") from exc
        size = _size_or_none(data)
        if size is None:
            raise ImageUnavailableError(f"{path} is not an image Pillow can read")
        return size


__all__ = [
    "ExportError",
    "ImageSize",
    "ImageSizeOf",
    "ImageUnavailableError",
    "LocalImageSizer",
    "ManifestExport",
    "ManifestFormat",
    "S3ImageSizer",
    "build_manifest",
    "export_manifest",
    "image_size",
    "manifest_format",
    "manifest_lines",
    "write_manifest",
]
