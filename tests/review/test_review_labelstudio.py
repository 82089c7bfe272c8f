"""``clp review push|pull --local`` against a real Label Studio (tests/review/conftest.py starts it).

The annotator is the test, through Label Studio's API (label-studio-sdk); the results table is the saved offline
world of a real ``clp demo`` run (moto), so what pull records is read back from there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from label_studio_sdk.label_interface.interface import LabelInterface

from clp import render
from clp.main import app
from clp.queries import plain
from clp.review.labelstudio import project_title
from clp.review.server import free_port
from localrun.state import LocalState
from tests.review.conftest import Studio, runner

MODEL = "produce-quality"
TITLE = project_title(MODEL)


def results(root: Path) -> list[dict[str, Any]]:
    """The saved results table's result items (plain values)."""
    items = [plain(raw) for raw in LocalState(root).items()]
    return [item for item in items if item["sk"].startswith("RESULT#")]


def pending_ids(root: Path) -> set[str]:
    return {item["result_id"] for item in results(root) if item.get("review") == "PENDING"}


def choices(*names: str) -> list[dict[str, Any]]:
    return [{"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": list(names)}}]


def test_push_creates_the_project_and_one_task_per_pending_result(studio: Studio, demo_output: Path) -> None:
    # Given a demo run that left results pending review
    pending = pending_ids(demo_output)
    assert pending

    # When they are pushed
    document = studio.clp_json("push", "--local", str(demo_output))

    # Then the model's project exists with a Choices config of the model's labels (the manifest's classes)
    (report,) = document["models"]
    assert report["project_created"] is True
    assert report["kind"] == "classification"
    assert report["imported"] == len(pending) == report["pending"]
    project = studio.project(TITLE)
    control = LabelInterface(project.label_config).get_control("label")
    assert control.tag == "Choices"
    assert sorted(control.labels) == ["raw", "ripe", "rotten"]
    # and one task per pending result, with the model's labels as its prediction
    tasks = studio.tasks(project.id)
    assert {t.data["result_id"] for t in tasks} == pending
    by_id = {item["result_id"]: item for item in results(demo_output)}
    for found in tasks:
        predicted = sorted(label["name"] for label in by_id[found.data["result_id"]]["labels"])
        (made,) = found.predictions
        assert [choice for item in made.result for choice in item["value"]["choices"]] == predicted


def test_label_studio_serves_each_task_image_from_the_run(studio: Studio, demo_output: Path) -> None:
    studio.clp_json("push", "--local", str(demo_output))
    (found, *_) = studio.tasks(studio.project(TITLE).id)
    # The URL the reviewer's browser loads, asked with the reviewer's token, is the uploaded file
    response = httpx.get(
        studio.server.url + found.data["image"], headers={"Authorization": f"Token {studio.server.credentials.token}"}
    )
    assert response.status_code == 200
    prefix = LocalState(demo_output).config().models[0].prefix
    local = LocalState(demo_output).images_dir / found.data["key"].removeprefix(prefix)
    assert response.content == local.read_bytes()


def test_a_second_push_adds_no_task_and_limit_bounds_a_push(studio: Studio, demo_output: Path) -> None:
    pending = pending_ids(demo_output)
    first = studio.clp_json("push", "--local", str(demo_output), "--limit", "2")["models"][0]
    second = studio.clp_json("push", "--local", str(demo_output))["models"][0]
    third = studio.clp_json("push", "--local", str(demo_output))["models"][0]
    assert (first["imported"], first["already_tasks"]) == (2, 0)
    assert (second["imported"], second["already_tasks"]) == (len(pending) - 2, 2)
    assert (third["imported"], third["already_tasks"]) == (0, len(pending))
    assert len(studio.tasks(studio.project(TITLE).id)) == len(pending)


def test_pull_records_each_annotation_once_and_publishes_reviewed_once(studio: Studio, demo_output: Path) -> None:
    # Given pushed tasks: one corrected, one confirmed as predicted, one skipped by the annotator
    studio.clp_json("push", "--local", str(demo_output))
    tasks = studio.tasks(studio.project(TITLE).id)
    assert len(tasks) >= 4
    corrected, confirmed, skipped = tasks[0], tasks[1], tasks[2]
    predicted = [c for item in confirmed.predictions[0].result for c in item["value"]["choices"]]
    a_corrected = studio.annotate(corrected.id, choices("rotten", "raw"))
    a_confirmed = studio.annotate(confirmed.id, choices(*predicted))
    studio.annotate(skipped.id, [], was_cancelled=True)

    # When pull runs
    report = studio.clp_json("pull", "--local", str(demo_output))["models"][0]

    # Then two decisions are recorded, the skip is reported, the rest waits
    assert (report["reviewed"], report["unchanged"], report["waiting"]) == (2, 0, len(tasks) - 3)
    assert [s["reason"] for s in report["skipped"]] == ["skipped by the annotator in Label Studio"]
    by_id = {item["result_id"]: item for item in results(demo_output)}
    item = by_id[corrected.data["result_id"]]
    assert item["review"] == "REVIEWED"
    assert item["review_key"] == f"{MODEL}#REVIEWED"
    assert sorted(label["name"] for label in item["reviewed_labels"]) == ["raw", "rotten"]
    assert item["reviewer"] == studio.server.credentials.username
    assert item["review_source"] == "label-studio"
    assert item["review_task"] == str(a_corrected.id)
    assert by_id[confirmed.data["result_id"]]["review_task"] == str(a_confirmed.id)
    assert by_id[skipped.data["result_id"]]["review"] == "PENDING"
    # and one Reviewed event per decision, saying whether the reviewer changed the labels
    events = LocalState(demo_output).events()
    assert [e["detail-type"] for e in events] == ["Custom Labels Reviewed"] * 2
    changed = {e["detail"]["result_id"]: e["detail"]["changed"] for e in events}
    assert changed == {corrected.data["result_id"]: True, confirmed.data["result_id"]: False}

    # When pull runs again
    table_before = (demo_output / "state" / "results.jsonl").read_bytes()
    again = studio.clp_json("pull", "--local", str(demo_output))["models"][0]

    # Then nothing changes: no new decision, no new event, the same table
    assert (again["reviewed"], again["unchanged"]) == (0, 2)
    assert (demo_output / "state" / "results.jsonl").read_bytes() == table_before
    assert len(LocalState(demo_output).events()) == 2


def test_detection_projects_use_rectangles_and_boxes_come_back_as_ratios(
    studio: Studio, detection_output: Path
) -> None:
    # Given an object-detection model's pending results (manifest boxes)
    report = studio.clp_json("push", "--local", str(detection_output))["models"][0]
    assert report["kind"] == "object-detection"
    project = studio.project(project_title(report["model"]))
    assert LabelInterface(project.label_config).get_control("label").tag == "RectangleLabels"
    tasks = studio.tasks(project.id)
    assert len(tasks) == 2
    by_id = {item["result_id"]: item for item in results(detection_output)}
    found = tasks[0]
    (rectangle,) = found.predictions[0].result
    box = by_id[found.data["result_id"]]["labels"][0]["bounding_box"]
    assert rectangle["value"]["x"] == pytest.approx(box["left"] * 100)
    assert rectangle["value"]["width"] == pytest.approx(box["width"] * 100)

    # When the reviewer moves the box and pull runs
    moved = {"x": 5.0, "y": 10.0, "width": 50.0, "height": 25.0, "rotation": 0, "rectanglelabels": ["logo"]}
    studio.annotate(found.id, [{"from_name": "label", "to_name": "image", "type": "rectanglelabels", "value": moved}])
    pulled = studio.clp_json("pull", "--local", str(detection_output))["models"][0]

    # Then the reviewed box is the rectangle in ratios of the image
    assert pulled["reviewed"] == 1
    (label,) = {item["result_id"]: item for item in results(detection_output)}[found.data["result_id"]][
        "reviewed_labels"
    ]
    assert label["name"] == "logo"
    assert label["bounding_box"] == pytest.approx({"left": 0.05, "top": 0.1, "width": 0.5, "height": 0.25})


# -- errors ---------------------------------------------------------------------------------------------------------


def test_an_annotation_with_a_label_the_model_does_not_have_is_not_recorded(studio: Studio, demo_output: Path) -> None:
    # Given a label added to the project in Label Studio (not in the model) and used, beside a valid annotation
    studio.clp_json("push", "--local", str(demo_output))
    project = studio.project(TITLE)
    studio.client.projects.update(
        project.id, label_config=project.label_config.replace("</Choices>", '<Choice value="banana"/></Choices>')
    )
    bad, good = studio.tasks(project.id)[:2]
    studio.annotate(bad.id, choices("banana"))
    studio.annotate(good.id, choices("ripe"))

    # When pull runs
    result = studio.clp("pull", "--local", str(demo_output))

    # Then it exits 1, names the label and the model's labels, and records only the valid one
    assert result.exit_code == 1
    assert "label 'banana' is not a label of model produce-quality (known: raw, ripe, rotten)" in result.output
    by_id = {item["result_id"]: item for item in results(demo_output)}
    assert by_id[bad.data["result_id"]]["review"] == "PENDING"
    assert by_id[good.data["result_id"]]["review"] == "REVIEWED"


def test_an_unreachable_server_is_an_error_that_says_so(studio: Studio, demo_output: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = runner_invoke(["push", "--local", str(demo_output), "--url", url, "--token", "x" * 40])
    assert result.exit_code == 1
    assert f"cannot reach Label Studio at {url}" in result.stderr


def test_a_bad_token_is_an_error_that_says_so(studio: Studio, demo_output: Path) -> None:
    result = runner_invoke(["pull", "--local", str(demo_output), "--url", studio.server.url, "--token", "0" * 40])
    assert result.exit_code == 1
    assert "refused the API token (401" in result.stderr


def test_a_project_deleted_since_the_push_is_an_error_that_says_so(studio: Studio, demo_output: Path) -> None:
    studio.clp_json("push", "--local", str(demo_output))
    studio.client.projects.delete(studio.project(TITLE).id)
    before = (demo_output / "state" / "results.jsonl").read_bytes()
    result = studio.clp("pull", "--local", str(demo_output))
    assert result.exit_code == 1
    assert f"no Label Studio project {TITLE!r}" in result.stderr
    assert "deleted since the push" in result.stderr
    assert (demo_output / "state" / "results.jsonl").read_bytes() == before


def test_images_outside_the_server_document_root_are_refused_by_label_studio(
    studio: Studio, demo_output: Path, tmp_path: Path
) -> None:
    # Given a run outside the directory the server serves local files from, and a client told it is inside
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    moved = outside / "run"
    demo_output.rename(moved)
    # When pushed: Label Studio itself refuses the Local Files storage, and says why
    result = runner_invoke(
        ["push", "--local", str(moved), "--url", studio.server.url, "--token", studio.server.credentials.token,
         "--document-root", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 1
    assert "LOCAL_FILES_DOCUMENT_ROOT" in result.stderr


def test_a_missing_saved_world_is_an_error_that_says_how_to_make_one(studio: Studio, tmp_path: Path) -> None:
    result = studio.clp("push", "--local", str(tmp_path))
    assert result.exit_code == 1
    assert "run `clp demo --output" in result.stderr


def runner_invoke(args: list[str]) -> Any:
    """``clp review`` with exactly these options (none from the fixture)."""
    return runner.invoke(app, ["review", *args])


def test_push_prints_a_table_and_its_json_is_one_document(
    studio: Studio, demo_output: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(render.out, "width", 250)  # tables fold at the runner's 80 columns
    shown = studio.clp("push", "--local", str(demo_output))
    assert shown.exit_code == 0, shown.output
    assert f"{studio.server.url}/projects/" in shown.stdout
    assert "(created)" in shown.stdout
    assert "raw, ripe, rotten" in shown.stdout
    result = studio.clp("push", "--local", str(demo_output), "--json")
    assert result.exit_code == 0
    assert len(result.stdout.strip().splitlines()) == 1
    assert json.loads(result.stdout)["models"][0]["project_created"] is False
