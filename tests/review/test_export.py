"""``clp review export``: reviewed results → a Ground Truth manifest, read back through the emulator's reader.

The emulator's :class:`localrun.emulator.Manifest` is the project's independent reader of the format Custom Labels
imports (it is what the emulated model is built from); every line the export writes must parse there and give
back the reviewer's labels and boxes. The required fields themselves are checked against the AWS documents'
examples: "Importing image-level labels in manifest files" and "Object localization in manifest files"
(Rekognition Custom Labels Developer Guide).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from clp.main import app
from clp.review.export import (
    CLASSIFICATION_TYPE,
    OBJECT_DETECTION_TYPE,
    ExportError,
    ImageSize,
    ImageUnavailableError,
    LocalImageSizer,
    ManifestFormat,
    S3ImageSizer,
    build_manifest,
    export_manifest,
    manifest_lines,
)
from infra.config import parse_config
from lambdas.detect.adapters import DynamoResultsRepository
from lambdas.detect.mapping import event_detail
from lambdas.detect.models import BoundingBox, DetectionResult, ImageRef, Label
from lambdas.detect.ports import PublishClaim
from lambdas.review.events import review_requested_detail
from lambdas.review.models import ReviewDecision, ReviewedLabel, ReviewedResult
from lambdas.review.store import ReviewStore
from localrun.emulator import Manifest
from localrun.resources import create_results_table
from localrun.state import LocalState
from tests.support import ids, images
from tests.support.configs import model_block

REVIEWED_AT = datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)
DETECTED_AT = datetime(2026, 3, 1, 9, 30, 0, tzinfo=UTC)


def box(left: float, top: float, width: float, height: float) -> BoundingBox:
    return BoundingBox(left=left, top=top, width=width, height=height)


def reviewed(
    key: str,
    labels: list[tuple[str, BoundingBox | None]],
    *,
    bucket: str = ids.BUCKET,
    version_id: str | None = None,
    object_version: str = "etag-1",
    reviewed_at: datetime = REVIEWED_AT,
    predicted: tuple[Label, ...] = (),
) -> ReviewedResult:
    return ReviewedResult(
        result_id=f"r-{key}-{object_version}",
        model_name=ids.MODEL,
        project_version_arn=ids.VERSION_ARN,
        bucket=bucket,
        key=key,
        version_id=version_id,
        object_version=object_version,
        labels=predicted,
        reasons=("LOW_CONFIDENCE",),
        detected_at=DETECTED_AT,
        reviewed_labels=tuple(ReviewedLabel(name=name, bounding_box=b) for name, b in labels),
        reviewer="alice",
        reviewed_at=reviewed_at,
        source="label-studio",
        task_id="42",
    )


def fixed_sizes(sizes: dict[str, tuple[int, int]]) -> Any:
    def size_of(result: ReviewedResult) -> ImageSize:
        width, height = sizes[result.key]
        return ImageSize(width=width, height=height, depth=3)

    return size_of


def never_called(result: ReviewedResult) -> ImageSize:
    raise AssertionError(f"a classification export must not read image sizes ({result.key})")


def assert_box_close(actual: Any, expected: BoundingBox, size: tuple[int, int]) -> None:
    """Pixels round each edge by at most half a pixel: the ratio read back is within one pixel of the review."""
    width, height = size
    assert actual is not None
    assert abs(actual.left - expected.left) <= 1 / width
    assert abs(actual.top - expected.top) <= 1 / height
    assert abs(actual.width - expected.width) <= 1 / width
    assert abs(actual.height - expected.height) <= 1 / height


# -- object detection ---------------------------------------------------------------------------------------------


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name=ids.REGION)
        client.create_bucket(Bucket=ids.BUCKET)
        yield client


def upload(s3: Any, key: str, data: bytes) -> str:
    """Put ``data`` and return its ETag without quotes (what the detect path stores as object_version)."""
    return str(s3.put_object(Bucket=ids.BUCKET, Key=key, Body=data)["ETag"]).strip('"')


def test_object_detection_round_trips_through_the_emulator_reader(s3: Any, tmp_path: Path) -> None:
    # Given two images in S3 (PNG 640x480, JPEG 200x100) reviewed with boxes, one of them with two objects,
    # and an image whose reviewer removed every box (a false positive)
    sizes = {"produce/a.png": (640, 480), "produce/b b+c.jpg": (200, 100), "produce/empty.png": (64, 64)}
    etags = {
        "produce/a.png": upload(s3, "produce/a.png", images.image("PNG", (640, 480))),
        "produce/b b+c.jpg": upload(s3, "produce/b b+c.jpg", images.image("JPEG", (200, 100))),
        "produce/empty.png": upload(s3, "produce/empty.png", images.image("PNG", (64, 64), seed=3)),
    }
    expected = {
        "produce/a.png": [("rotten", box(0.1, 0.2, 0.3, 0.4)), ("ripe", box(0.5, 0.5, 0.25, 0.125))],
        "produce/b b+c.jpg": [("raw", box(0.0, 0.0, 1.0, 1.0))],
        "produce/empty.png": [],
    }
    results = [reviewed(key, labels, object_version=etags[key]) for key, labels in expected.items()]
    out = tmp_path / "out" / "reviewed.manifest"

    # When the export writes the manifest, reading sizes from S3
    export = export_manifest(results, S3ImageSizer(s3), out)

    # Then the emulator's reader reads one entry per image with the reviewer's labels and boxes back
    assert export.format is ManifestFormat.OBJECT_DETECTION
    manifest = Manifest.load(out)
    assert len(manifest) == 3
    by_key = {entry.s3_key: entry for entry in manifest.entries}
    assert set(by_key) == set(expected)
    for key, labels in expected.items():
        entry = by_key[key]
        assert entry.s3_bucket == ids.BUCKET
        assert [label.name for label in entry.labels] == [name for name, _ in labels]
        for label, (_, want) in zip(entry.labels, labels, strict=True):
            assert want is not None
            assert_box_close(label.bounding_box, want, sizes[key])
    # and every line carries the fields of the AWS example line, with the size read from the image itself
    for line in out.read_text(encoding="utf-8").splitlines():
        obj = json.loads(line)
        key = obj["source-ref"].removeprefix(f"s3://{ids.BUCKET}/")
        width, height = sizes[key]
        assert obj["bounding-box"]["image_size"] == [{"width": width, "height": height, "depth": 3}]
        metadata = obj["bounding-box-metadata"]
        assert metadata["type"] == OBJECT_DETECTION_TYPE
        assert metadata["human-annotated"] == "yes"
        assert metadata["creation-date"] == "2026-03-01T12:00:00.123"
        assert metadata["job-name"]
        assert metadata["objects"] == [{"confidence": 1}] * len(obj["bounding-box"]["annotations"])
        assert set(metadata["class-map"].values()) == {"raw", "ripe", "rotten"}
        for annotation in obj["bounding-box"]["annotations"]:
            assert all(isinstance(annotation[k], int) for k in ("class_id", "left", "top", "width", "height"))


def test_detection_pixels_are_clamped_and_unusable_labels_are_counted() -> None:
    # Given a box running past the right edge, a box thinner than a pixel and a label without a box
    result = reviewed(
        "produce/x.png",
        [("rotten", box(0.9, 0.0, 0.5, 0.5)), ("ripe", box(0.5, 0.5, 0.001, 0.2)), ("raw", None)],
    )

    # When the manifest is built for a 100x50 image
    export = build_manifest([result], fixed_sizes({"produce/x.png": (100, 50)}))

    # Then the first box ends at the image's edge, the thin one and the box-less label are left out and counted
    (line,) = export.lines
    annotations = json.loads(line)["bounding-box"]["annotations"]
    class_map = json.loads(line)["bounding-box-metadata"]["class-map"]
    assert [(class_map[str(a["class_id"])], a["left"], a["width"]) for a in annotations] == [("rotten", 90, 10)]
    assert export.dropped_empty_boxes == 1
    assert export.dropped_labels_without_box == 1
    entry = Manifest.parse(export.lines).entries[0]
    assert entry.labels[0].bounding_box is not None
    assert entry.labels[0].bounding_box.left + entry.labels[0].bounding_box.width == pytest.approx(1.0)


def test_s3_sizer_skips_an_image_replaced_or_deleted_since_the_review(s3: Any) -> None:
    # Given a reviewed image overwritten afterwards, and another deleted afterwards
    old = upload(s3, "produce/changed.png", images.image("PNG", (32, 32), seed=1))
    upload(s3, "produce/changed.png", images.image("PNG", (48, 48), seed=2))
    gone = upload(s3, "produce/gone.png", images.image("PNG", (32, 32), seed=4))
    s3.delete_object(Bucket=ids.BUCKET, Key="produce/gone.png")
    kept = upload(s3, "produce/kept.png", images.image("PNG", (32, 32), seed=5))
    results = [
        reviewed("produce/changed.png", [("rotten", box(0.1, 0.1, 0.5, 0.5))], object_version=old),
        reviewed("produce/gone.png", [("rotten", box(0.1, 0.1, 0.5, 0.5))], object_version=gone),
        reviewed("produce/kept.png", [("rotten", box(0.1, 0.1, 0.5, 0.5))], object_version=kept),
    ]

    # When the manifest is built
    export = build_manifest(results, S3ImageSizer(s3))

    # Then only the unchanged image is written, and the two others are named with the reason
    assert [json.loads(line)["source-ref"] for line in export.lines] == [f"s3://{ids.BUCKET}/produce/kept.png"]
    reasons = sorted(export.skipped_unavailable)
    assert reasons[0].startswith(f"s3://{ids.BUCKET}/produce/changed.png: the object changed")
    assert reasons[1].startswith(f"s3://{ids.BUCKET}/produce/gone.png: cannot read the image (NoSuchKey)")


def test_s3_sizer_checks_the_version_id_in_a_versioned_bucket_and_reads_more_when_the_header_is_short(
    s3: Any,
) -> None:
    # Given a versioned bucket where a JPEG was reviewed at its first version, then overwritten
    s3.put_bucket_versioning(Bucket=ids.BUCKET, VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket=ids.BUCKET, Key="produce/v.jpg", Body=images.image("JPEG", (300, 150)))
    current = reviewed("produce/v.jpg", [("raw", box(0, 0, 0.5, 0.5))], version_id=first["VersionId"])
    current = current.model_copy(update={"object_version": first["VersionId"]})
    # (a sizer that fetches only 16 bytes first: too few for a JPEG header, so it must read the whole object)
    sizer = S3ImageSizer(s3, header_bytes=16)

    # When its size is read while it is current, and again after an overwrite
    size = sizer(current)
    s3.put_object(Bucket=ids.BUCKET, Key="produce/v.jpg", Body=images.image("JPEG", (10, 10)))

    # Then the size comes from the full object, and the overwrite is noticed by version id
    assert size == ImageSize(width=300, height=150, depth=3)
    with pytest.raises(ImageUnavailableError, match="changed since the review"):
        sizer(current)


def test_local_sizer_reads_the_demo_copy_of_the_image(tmp_path: Path) -> None:
    # Given the demo's image folder (keys are the paths under the model's prefix) and a reviewed result in it
    images.write_image(tmp_path / "images" / "sub" / "a.png", "PNG", (120, 80))
    sizer = LocalImageSizer(tmp_path / "images", strip_prefix=ids.PREFIX)
    present = reviewed(f"{ids.PREFIX}sub/a.png", [("rotten", box(0.25, 0.25, 0.5, 0.5))])
    missing = reviewed(f"{ids.PREFIX}sub/missing.png", [("rotten", box(0.25, 0.25, 0.5, 0.5))])

    # When the manifest is built from the local copies
    export = build_manifest([present, missing], sizer)

    # Then the present image has its real size and the missing one is reported, not guessed
    (line,) = export.lines
    assert json.loads(line)["bounding-box"]["image_size"] == [{"width": 120, "height": 80, "depth": 3}]
    assert len(export.skipped_unavailable) == 1
    assert "missing.png" in export.skipped_unavailable[0]


# -- classification -----------------------------------------------------------------------------------------------


def test_classification_round_trips_and_skips_an_image_with_no_label(tmp_path: Path) -> None:
    # Given reviewed results without boxes: one label, two labels, and a reviewer's "no label" decision
    results = [
        reviewed("produce/one.jpg", [("rotten", None)], predicted=(Label(name="ripe", confidence=51.0),)),
        reviewed("produce/two.jpg", [("ripe", None), ("raw", None)]),
        reviewed("produce/none.jpg", []),
    ]
    out = tmp_path / "reviewed.manifest"

    # When the export writes the manifest (no image is read: classification lines need no size)
    export = export_manifest(results, never_called, out)

    # Then it is a classification manifest with one entry per labelled image, the reviewer's labels in it
    assert export.format is ManifestFormat.CLASSIFICATION
    assert export.skipped_no_label == 1
    manifest = Manifest.load(out)
    labels = {entry.s3_key: sorted(label.name for label in entry.labels) for entry in manifest.entries}
    assert labels == {"produce/one.jpg": ["rotten"], "produce/two.jpg": ["raw", "ripe"]}
    assert all(label.bounding_box is None for entry in manifest.entries for label in entry.labels)
    # and each label is an attribute pair shaped like the AWS example line
    for line in out.read_text(encoding="utf-8").splitlines():
        obj = json.loads(line)
        pairs = {k: v for k, v in obj.items() if k != "source-ref" and not k.endswith("-metadata")}
        assert pairs
        for attribute, class_index in pairs.items():
            metadata = obj[f"{attribute}-metadata"]
            assert isinstance(class_index, int)
            assert attribute == f"{ids.MODEL}-classification_{metadata['class-name']}"
            assert metadata["type"] == CLASSIFICATION_TYPE
            assert metadata["confidence"] == 1
            assert metadata["human-annotated"] == "yes"
            assert metadata["creation-date"] == "2026-03-01T12:00:00.123"
            assert metadata["job-name"] == f"labeling-job/{ids.MODEL}-review"


def test_one_line_per_image_keeps_the_latest_review() -> None:
    # Given the same image reviewed twice (an older object version, then the current one)
    older = reviewed("produce/a.jpg", [("ripe", None)], object_version="etag-1")
    newer = reviewed(
        "produce/a.jpg", [("rotten", None)], object_version="etag-2", reviewed_at=REVIEWED_AT + timedelta(hours=1)
    )

    # When the manifest is built (in either order)
    lines = manifest_lines([newer, older], never_called)
    export = build_manifest([older, newer], never_called)

    # Then there is one line, with the latest reviewer's label
    assert lines == export.lines
    assert [label.name for label in Manifest.parse(lines).entries[0].labels] == ["rotten"]
    assert export.superseded == 1


def test_images_in_two_buckets_are_refused() -> None:
    # Given reviewed results from two buckets (Custom Labels: ERROR_IMAGES_IN_MULTIPLE_S3_BUCKETS)
    results = [reviewed("a.jpg", [("ripe", None)]), reviewed("b.jpg", [("ripe", None)], bucket="other-bucket")]

    # When / Then the export refuses rather than writing a manifest Custom Labels would reject
    with pytest.raises(ExportError, match="2 buckets"):
        build_manifest(results, never_called)


def test_nothing_reviewed_writes_an_empty_manifest(tmp_path: Path) -> None:
    # Given no reviewed result
    out = tmp_path / "empty.manifest"

    # When the export runs
    export = export_manifest([], never_called, out)

    # Then the file exists and is empty, and the summary says so
    assert out.read_text(encoding="utf-8") == ""
    assert export.summary()["images"] == 0


# -- from the results table ---------------------------------------------------------------------------------------


def write_pending(dynamodb: Any, result: DetectionResult) -> None:
    """Write ``result`` as the detect function does when the policy selects it (same repository, same Put)."""
    repository = DynamoResultsRepository(dynamodb, ids.TABLE)
    review_detail = review_requested_detail(result, ("LOW_CONFIDENCE",))
    assert repository.put(result, event_detail(result), PublishClaim("claim", 0), review_detail)


def detection(key: str, etag: str, labels: tuple[Label, ...]) -> DetectionResult:
    image = ImageRef(bucket=ids.BUCKET, key=key, etag=etag, uploaded_at=DETECTED_AT)
    return DetectionResult(
        image=image,
        model_name=ids.MODEL,
        project_version_arn=ids.VERSION_ARN,
        status="DETECTED",
        labels=labels,
        detected_at=DETECTED_AT,
    )


def test_export_of_the_reviewed_results_in_the_table_leaves_pending_ones_out(s3: Any, tmp_path: Path) -> None:
    # Given four results pending review in the results table, three of which reviewers then decided on
    dynamodb = boto3.client("dynamodb", region_name=ids.REGION)
    create_results_table(dynamodb, ids.TABLE)
    predicted = (Label(name="ripe", confidence=55.0, bounding_box=box(0.1, 0.1, 0.2, 0.2)),)
    keys = ["produce/1.png", "produce/2.png", "produce/3.png", "produce/pending.png"]
    for seed, key in enumerate(keys):
        write_pending(dynamodb, detection(key, upload(s3, key, images.image("PNG", (200, 100), seed=seed)), predicted))
    store = ReviewStore(dynamodb, ids.TABLE)
    pending = {result.key: result for result in store.pending(ids.MODEL)}
    decisions = {
        "produce/1.png": (ReviewedLabel(name="rotten", bounding_box=box(0.25, 0.5, 0.5, 0.25)),),
        "produce/2.png": (
            ReviewedLabel(name="ripe", bounding_box=box(0.1, 0.1, 0.2, 0.2)),
            ReviewedLabel(name="raw", bounding_box=box(0.6, 0.0, 0.4, 1.0)),
        ),
        "produce/3.png": (),  # the reviewer: nothing there
    }
    for key, labels in decisions.items():
        decision = ReviewDecision(
            result=pending[key],
            reviewed_labels=labels,
            reviewer="bob",
            reviewed_at=REVIEWED_AT,
            source="label-studio",
            task_id=f"task-{key}",
        )
        assert store.record(decision)

    # When the model's reviewed results are exported
    out = tmp_path / "reviewed.manifest"
    export = export_manifest(store.reviewed(ids.MODEL), S3ImageSizer(s3), out)

    # Then every reviewed image has exactly one line with the reviewer's labels, and the pending one has none
    manifest = Manifest.load(out)
    assert sorted(entry.s3_key for entry in manifest.entries) == sorted(decisions)
    for entry in manifest.entries:
        assert entry.s3_key is not None
        want = decisions[entry.s3_key]
        assert [label.name for label in entry.labels] == [label.name for label in want]
        for label, reviewed_label in zip(entry.labels, want, strict=True):
            assert reviewed_label.bounding_box is not None
            assert_box_close(label.bounding_box, reviewed_label.bounding_box, (200, 100))
    assert export.summary() == {
        "format": "object-detection",
        "images": 3,
        "skipped_no_label": 0,
        "skipped_unavailable": 0,
        "superseded_reviews": 0,
        "dropped_labels_without_box": 0,
        "dropped_empty_boxes": 0,
    }


def test_clp_review_export_writes_the_manifest_of_a_saved_offline_world(tmp_path: Path) -> None:
    # Given a saved offline world (as `clp demo --output` leaves it): two images pending review, one reviewed since
    images_dir = tmp_path / "dataset" / "images"
    images.write_image(images_dir / "a.png", "PNG", (160, 120))
    images.write_image(images_dir / "b.png", "PNG", (160, 120), colour=(1, 2, 3))
    config = parse_config({"models": [model_block(ids.MODEL, ids.PREFIX)]})
    predicted = (Label(name="ripe", confidence=55.0, bounding_box=box(0.1, 0.1, 0.2, 0.2)),)
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=ids.REGION)
        create_results_table(dynamodb, ids.TABLE)
        for name in ("a.png", "b.png"):
            write_pending(dynamodb, detection(f"{ids.PREFIX}{name}", "etag", predicted))
        store = ReviewStore(dynamodb, ids.TABLE)
        (first,) = [p for p in store.pending(ids.MODEL) if p.key.endswith("a.png")]
        reviewed_label = ReviewedLabel(name="rotten", bounding_box=box(0.25, 0.25, 0.5, 0.5))
        assert store.record(
            ReviewDecision(
                result=first,
                reviewed_labels=(reviewed_label,),
                reviewer="carol",
                reviewed_at=REVIEWED_AT,
                source="label-studio",
                task_id="7",
            )
        )
        LocalState(tmp_path).save(dynamodb, config, images_dir=images_dir, manifest=None, table=ids.TABLE)
    out = tmp_path / "training" / "reviewed.manifest"

    # When `clp review export` runs on it
    result = CliRunner().invoke(
        app, ["review", "export", "--model", ids.MODEL, "--out", str(out), "--local", str(tmp_path), "--json"]
    )

    # Then it reports one image and the manifest holds the reviewed one with the reviewer's box, sized from the file
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["model"], summary["format"], summary["images"]) == (ids.MODEL, "object-detection", 1)
    (entry,) = Manifest.load(out).entries
    assert entry.s3_key == f"{ids.PREFIX}a.png"
    assert [label.name for label in entry.labels] == ["rotten"]
    assert_box_close(entry.labels[0].bounding_box, box(0.25, 0.25, 0.5, 0.5), (160, 120))
    assert json.loads(out.read_text().splitlines()[0])["bounding-box"]["image_size"][0]["width"] == 160
