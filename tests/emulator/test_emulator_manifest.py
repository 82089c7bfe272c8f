"""Ground Truth labels manifests: the three label types, matching and malformed lines."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from localrun.emulator import BoundingBox, Manifest, ManifestError
from localrun.emulator.manifest import stable_confidence


def _line(**fields: Any) -> str:
    return json.dumps(fields)


def test_parses_classification_multilabel_and_detection(dataset: dict[str, Any]) -> None:
    # Given the dataset manifest with all three label types
    manifest = Manifest.load(dataset["manifest"])
    images = dataset["images"]

    # Then each local image resolves relative to the manifest and carries its labels
    assert len(manifest) == 4
    rotten = manifest.labels_for(images["rotten"])
    assert [(lb.name, lb.confidence, lb.bounding_box) for lb in rotten] == [("rotten", 87.0, None)]

    mixed = manifest.labels_for(images["mixed"])
    assert [(lb.name, lb.confidence) for lb in mixed] == [("ripe", 90.0), ("raw", 20.0)]

    boxes = manifest.labels_for(images["boxes"])
    assert [(lb.name, lb.confidence) for lb in boxes] == [("apple", 95.0), ("pear", 60.0)]
    # ratios of the 200x100 image: left 20/200, top 10/100, width 50/200, height 40/100
    assert boxes[0].bounding_box == BoundingBox(width=0.25, height=0.4, left=0.1, top=0.1)
    assert boxes[1].bounding_box == BoundingBox(width=0.5, height=0.5, left=0.5, top=0.5)
    assert manifest.label_names == {"rotten", "ripe", "raw", "apple", "pear"}


def test_local_images_match_by_content_and_s3_refs_by_location(dataset: dict[str, Any]) -> None:
    # Given the manifest
    manifest = Manifest.load(dataset["manifest"])
    rotten = dataset["images"]["rotten"]

    # When the same bytes are looked up under any S3 location, Then the content decides
    entries = manifest.match(rotten, bucket="elsewhere", key="renamed.png")
    assert [e.sha256 for e in entries] == [hashlib.sha256(rotten).hexdigest()]
    # And an s3:// source-ref matches by bucket/key whatever the bytes
    remote = manifest.labels_for(b"unrelated bytes", bucket="clp-uploads-test", key="reference/remote.jpg")
    assert [(lb.name, lb.confidence) for lb in remote] == [("raw", 75.0)]
    # And an unknown image has no labels
    assert manifest.labels_for(b"unknown", bucket="clp-uploads-test", key="other.jpg") == []


def test_confidence_is_hash_derived_and_stable_when_metadata_has_none_usable(tmp_path: Path) -> None:
    # Given human annotations with confidence 1 (or none), as Ground Truth often writes
    (tmp_path / "a.png").write_bytes(b"image-a")
    lines = [
        _line(
            **{
                "source-ref": "a.png",
                "x": 0,
                "x-metadata": {"class-name": "ripe", "confidence": 1, "type": "groundtruth/image-classification"},
                "y": 0,
                "y-metadata": {"class-name": "big", "type": "groundtruth/image-classification"},
            }
        )
    ]
    # When parsed twice
    first = Manifest.parse(lines, base_dir=tmp_path).labels_for(b"image-a")
    second = Manifest.parse(lines, base_dir=tmp_path).labels_for(b"image-a")
    # Then the confidences are in [85, 99.9], differ per label and repeat exactly
    assert [lb.confidence for lb in first] == [lb.confidence for lb in second]
    assert all(85.0 <= lb.confidence <= 99.9 for lb in first)
    assert first[0].confidence != first[1].confidence
    assert first[0].confidence == stable_confidence(hashlib.sha256(b"image-a").hexdigest(), "ripe", 0)


def test_blank_lines_are_skipped_but_counted(tmp_path: Path) -> None:
    # Given a manifest whose third line is broken after a blank line
    (tmp_path / "a.png").write_bytes(b"a")
    good = _line(**{"source-ref": "a.png"})
    # When parsed, Then the error names line 3
    with pytest.raises(ManifestError) as info:
        Manifest.parse([good, "   ", "{not json"], base_dir=tmp_path, source="m.manifest")
    assert info.value.line_number == 3
    assert str(info.value).startswith("m.manifest:3: invalid JSON")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"x": 1}, "missing source-ref"),
        ({"source-ref": "s3://bucket-only"}, "needs a bucket and a key"),
        ({"source-ref": "missing.png"}, "cannot read image"),
        (
            {"source-ref": "s3://b/k", "x": 0, "x-metadata": {"class-name": "a", "type": "groundtruth/semantic-seg"}},
            "unknown type 'groundtruth/semantic-seg'",
        ),
        ({"source-ref": "s3://b/k", "x-metadata": {"type": "groundtruth/image-classification"}}, "no matching 'x'"),
        ({"source-ref": "s3://b/k", "x": 0, "x-metadata": {"type": "groundtruth/image-classification"}}, "class-name"),
        (
            {
                "source-ref": "s3://b/k",
                "x": "one",
                "x-metadata": {"class-name": "a", "type": "groundtruth/image-classification"},
            },
            "class index",
        ),
        (
            {
                "source-ref": "s3://b/k",
                "x": [3],
                "x-metadata": {"class-map": {"0": "a"}, "type": "groundtruth/image-classification-multilabel"},
            },
            "class index 3 of 'x' is not in class-map",
        ),
        (
            {
                "source-ref": "s3://b/k",
                "box": {
                    "image_size": [{"width": 10, "height": 10}],
                    "annotations": [{"class_id": 7, "left": 0, "top": 0, "width": 1, "height": 1}],
                },
                "box-metadata": {"class-map": {"0": "a"}, "type": "groundtruth/object-detection"},
            },
            "class_id 7 of annotation 0 of 'box' is not in class-map",
        ),
        (
            {
                "source-ref": "s3://b/k",
                "box": {"annotations": []},
                "box-metadata": {"class-map": {"0": "a"}, "type": "groundtruth/object-detection"},
            },
            "image_size",
        ),
        (
            {
                "source-ref": "s3://b/k",
                "box": {
                    "image_size": [{"width": 10, "height": 10}],
                    "annotations": [{"class_id": 0, "left": -1, "top": 0, "width": 1, "height": 1}],
                },
                "box-metadata": {"class-map": {"0": "a"}, "type": "groundtruth/object-detection"},
            },
            "non-negative",
        ),
    ],
)
def test_malformed_lines_name_the_line_and_the_problem(tmp_path: Path, fields: dict[str, Any], message: str) -> None:
    # Given a valid first line and a malformed second line
    (tmp_path / "ok.png").write_bytes(b"ok")
    lines = [_line(**{"source-ref": "ok.png"}), json.dumps(fields)]
    # When parsed, Then the error names line 2 and says what is wrong
    with pytest.raises(ManifestError) as info:
        Manifest.parse(lines, base_dir=tmp_path)
    assert info.value.line_number == 2
    assert message in str(info.value)


def test_relative_source_ref_needs_a_base_dir() -> None:
    with pytest.raises(ManifestError, match="base_dir"):
        Manifest.parse([_line(**{"source-ref": "a.png"})])


def test_a_non_object_line_is_rejected() -> None:
    with pytest.raises(ManifestError, match="JSON object"):
        Manifest.parse(["[1, 2]"])


def test_a_missing_manifest_file_is_a_manifest_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="cannot read manifest"):
        Manifest.load(tmp_path / "nope.manifest")


def test_duplicate_lines_for_one_image_merge_their_labels(tmp_path: Path) -> None:
    # Given two labelling jobs over the same S3 image
    meta = {"type": "groundtruth/image-classification", "confidence": 0.9}
    lines = [
        _line(**{"source-ref": "s3://b/k.png", "a": 0, "a-metadata": {**meta, "class-name": "ripe"}}),
        _line(**{"source-ref": "s3://b/k.png", "a": 0, "a-metadata": {**meta, "class-name": "ripe"}}),
        _line(**{"source-ref": "s3://b/k.png", "c": 0, "c-metadata": {**meta, "class-name": "big"}}),
    ]
    # When looked up, Then both labels come back once each
    labels = Manifest.parse(lines).labels_for(bucket="b", key="k.png")
    assert [lb.name for lb in labels] == ["ripe", "big"]
