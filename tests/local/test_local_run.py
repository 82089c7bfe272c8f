"""``clp local run`` and ``clp demo`` end to end through the offline runtime (moto + the emulator)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from clp.main import app
from tests.support.images import Colour, Size, write_image

runner = CliRunner()
FAST = ["--time-scale", "100000"]  # the pacing option, set high enough not to slow the suite


def _jpeg(path: Path, colour: Colour, size: Size = (128, 96)) -> None:
    write_image(path, "JPEG", size, colour)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Valid images with and without manifest labels, unusual keys and bad files."""
    root = tmp_path_factory.mktemp("mixed")
    images = root / "images"
    _jpeg(images / "crate 1" / "rotten apple.jpg", (110, 70, 40))
    _jpeg(images / "a b+c.jpg", (200, 30, 30))
    _jpeg(images / "100% [ripe] #1.JPG", (210, 40, 40))
    _jpeg(images / "deep" / "er" / "still" / "桃 peach.jpeg", (90, 170, 60))
    _jpeg(images / "unknown.jpg", (1, 2, 3))
    write_image(images / "box.png", "PNG", (96, 96), (10, 200, 10))
    (images / "notes.txt").write_text("not an image")
    (images / "text-named.png").write_text("still not an image")
    (images / "empty.jpg").write_bytes(b"")
    write_image(images / "tiny.png", "PNG", (32, 32), (0, 0, 0))
    manifest = root / "labels.manifest"
    lines = [
        {
            "source-ref": "images/crate 1/rotten apple.jpg",
            "quality": 1,
            "quality-metadata": {
                "class-name": "rotten",
                "confidence": 0.97,
                "type": "groundtruth/image-classification",
            },
        },
        {
            "source-ref": "images/100% [ripe] #1.JPG",
            "quality": 0,
            "quality-metadata": {"class-name": "ripe", "confidence": 0.9, "type": "groundtruth/image-classification"},
        },
        {
            "source-ref": "images/box.png",
            "bounding-box": {
                "image_size": [{"width": 96, "height": 96, "depth": 3}],
                "annotations": [{"class_id": 0, "left": 24, "top": 12, "width": 48, "height": 24}],
            },
            "bounding-box-metadata": {
                "class-map": {"0": "logo"},
                "objects": [{"confidence": 0.95}],
                "type": "groundtruth/object-detection",
            },
        },
    ]
    manifest.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    result = runner.invoke(app, ["local", "run", "--images", str(images), "--labels", str(manifest), "--json", *FAST])
    return {"root": root, "images": images, "manifest": manifest, "result": result}


def test_local_run_json_honours_the_documented_contract(mixed: dict[str, Any]) -> None:
    result = mixed["result"]
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)  # exactly one JSON document on stdout

    assert set(document) == {"results", "model", "billing", "dead_letters"}
    keys = [row["key"] for row in document["results"]]
    expected = sorted(
        "produce/" + p.relative_to(mixed["images"]).as_posix() for p in mixed["images"].rglob("*") if p.is_file()
    )
    assert sorted(keys) == expected
    assert len(keys) == len(set(keys))
    rows = {row["key"]: row for row in document["results"]}
    for row in document["results"]:
        assert set(row) == {"key", "status", "reason", "labels"}
        assert row["status"] in ("DETECTED", "FAILED")
        assert (row["reason"] is None) == (row["status"] == "DETECTED")
    assert rows["produce/crate 1/rotten apple.jpg"]["labels"] == [
        {"name": "rotten", "confidence": 97.0, "bounding_box": None}
    ]
    assert [label["name"] for label in rows["produce/100% [ripe] #1.JPG"]["labels"]] == ["ripe"]
    [logo] = rows["produce/box.png"]["labels"]
    assert logo["name"] == "logo"
    assert logo["bounding_box"] == {"width": 0.5, "height": 0.25, "left": 0.25, "top": 0.125}
    assert rows["produce/unknown.jpg"] == {
        "key": "produce/unknown.jpg",
        "status": "DETECTED",
        "reason": None,
        "labels": [],
    }
    assert rows["produce/a b+c.jpg"]["status"] == "DETECTED"
    assert rows["produce/deep/er/still/桃 peach.jpeg"]["status"] == "DETECTED"
    for bad in ("notes.txt", "text-named.png", "empty.jpg"):
        assert rows[f"produce/{bad}"]["reason"] == "InvalidImageFormat"
    assert rows["produce/tiny.png"]["reason"] == "InvalidParameter"
    assert document["model"] == {"final_status": "STOPPED", "sessions": 1}
    assert document["billing"]["inference_unit_seconds"] > 300  # at least the emulated 5-minute start
    assert document["dead_letters"] == 0


def test_local_run_without_labels_detects_images_with_no_labels(tmp_path: Path) -> None:
    _jpeg(tmp_path / "one.jpg", (5, 5, 5))

    result = runner.invoke(app, ["local", "run", "--images", str(tmp_path), "--json", *FAST])

    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["results"] == [{"key": "produce/one.jpg", "status": "DETECTED", "reason": None, "labels": []}]


def test_human_output_summarises_the_run(mixed: dict[str, Any]) -> None:
    result = runner.invoke(app, ["local", "run", "--images", str(mixed["images"]), *FAST])

    assert result.exit_code == 0, result.stderr
    assert "InvalidImageFormat" in result.stdout
    assert "always-on" in result.stdout


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--images", "/nonexistent/dir"], "images directory not found"),
        (["--images", "{file}"], "not a directory"),
        (["--images", "{dir}", "--labels", "/nonexistent.manifest"], "labels manifest not found"),
        (["--images", "{dir}", "--labels", "{bad_manifest}"], "bad.manifest:2:"),
        (["--images", "{dir}", "--config", "{bad_config}"], "pipeline.models"),
        (["--images", "{broken}"], "broken symbolic link"),
    ],
)
def test_bad_input_fails_with_a_one_line_error_before_anything_runs(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    images = tmp_path / "images"
    _jpeg(images / "a.jpg", (1, 1, 1))
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "bad.manifest").write_text(
        '{"source-ref": "images/a.jpg", "x": 0, "x-metadata": {"class-name": "a", '
        '"type": "groundtruth/image-classification"}}\n{oops\n'
    )
    (tmp_path / "cdk.json").write_text(json.dumps({"context": {"pipeline": {"models": []}}}))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "gone.jpg").symlink_to(tmp_path / "missing.jpg")
    values = {
        "file": tmp_path / "file.txt",
        "dir": images,
        "bad_manifest": tmp_path / "bad.manifest",
        "bad_config": tmp_path / "cdk.json",
        "broken": broken,
    }
    argv = [arg.format(**values) for arg in arguments]

    result = runner.invoke(app, ["local", "run", *argv, "--json"])

    assert result.exit_code == 2
    assert result.stdout == ""
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_demo_rehearses_a_window_and_writes_its_report(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--images", "6", "--output", str(tmp_path), *FAST])

    assert result.exit_code == 0, result.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    summary = report["summary"]
    assert summary["uploaded"] == 11  # 6 images + 5 bad files
    assert summary["failed"] == 5
    assert summary["detected"] == 6
    assert report["model"]["final_status"] == "STOPPED"
    assert 0 < summary["billed_usd"] < summary["always_on_usd"]
    assert "Cost" in result.stdout
    assert (tmp_path / "lambda.log").exists()


def test_every_command_has_help() -> None:
    for command in (["--help"], ["local", "--help"], ["local", "run", "--help"], ["demo", "--help"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0
        assert "Usage" in result.stdout


def test_json_stdout_stays_one_document_when_the_handler_emits_many_metrics(tmp_path: Path) -> None:
    # Given enough images for Powertools to auto-flush its 100-value metric buffer mid-run
    from localrun.sample import generate

    dataset = generate(tmp_path, images=105)

    # When the run reports as JSON
    result = runner.invoke(
        app, ["local", "run", "--images", str(dataset.images_dir), "--labels", str(dataset.manifest), "--json", *FAST]
    )

    # Then stdout holds nothing but the one document (EMF lines go to the Lambda log, not stdout)
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert len(document["results"]) == 110
    assert sum(1 for row in document["results"] if row["labels"]) == dataset.labelled
