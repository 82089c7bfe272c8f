"""Offline, end to end: ``clp demo`` leaves results pending review and saves its world → ``clp review push`` to a
real Label Studio → annotations made through its API → ``clp review pull`` → the saved world shows them REVIEWED
→ ``clp review export`` writes a Ground Truth manifest the emulator's manifest reader accepts, line by line →
``clp results --html --local`` shows the reviewed state."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from clp.main import app
from clp.review.labelstudio import project_title
from lambdas.review.store import ReviewStore
from localrun.emulator import Manifest
from localrun.state import LocalState
from tests.review.conftest import FAST, Studio, runner


def test_demo_push_annotate_pull_leaves_reviewed_results(studio: Studio) -> None:
    # Given a small demo run saved under the server's document root
    output = studio.files / "e2e"
    demo = runner.invoke(app, ["demo", "--images", "10", "--output", str(output), *FAST])
    assert demo.exit_code == 0, demo.output + demo.stderr
    state = LocalState(output)
    assert {p.name for p in state.dir.iterdir()} >= {"results.jsonl", "config.json", "sources.json"}
    model = state.config().models[0].name
    with state.world() as world:
        before = ReviewStore(world.client("dynamodb"), world.names.results_table).pending(model)
    assert before, "the demo's review policy left nothing pending"

    # When every pending result is pushed, annotated in Label Studio with the first predicted label (or "raw")
    pushed = studio.clp_json("push", "--local", str(output))["models"][0]
    assert pushed["imported"] == len(before)
    project = studio.project(project_title(model))
    decided: dict[str, list[str]] = {}
    for found in studio.tasks(project.id):
        predicted = [c for item in found.predictions[0].result for c in item["value"]["choices"]]
        names = predicted[:1] or ["raw"]
        item: dict[str, Any] = {
            "from_name": "label",
            "to_name": "image",
            "type": "choices",
            "value": {"choices": names},
        }
        studio.annotate(found.id, [item])
        decided[found.data["result_id"]] = names
    pulled = studio.clp_json("pull", "--local", str(output))["models"][0]

    # Then each is REVIEWED in the saved world with the reviewer's labels, and nothing is pending any more
    assert pulled["reviewed"] == len(before)
    with state.world() as world:
        store = ReviewStore(world.client("dynamodb"), world.names.results_table)
        reviewed = {r.result_id: r for r in store.reviewed(model)}
        still_pending = store.pending(model)
    assert set(reviewed) == set(decided)
    assert all([lb.name for lb in reviewed[rid].reviewed_labels] == names for rid, names in decided.items())
    assert {r.reviewer for r in reviewed.values()} == {studio.server.credentials.username}
    assert still_pending == []
    assert len(state.events()) == len(before)

    # And the export is a classification manifest of exactly those images, with the reviewers' labels
    manifest_path = output / "reviewed.manifest"
    exported = runner.invoke(
        app, ["review", "export", "--model", model, "--out", str(manifest_path), "--local", str(output), "--json"]
    )
    assert exported.exit_code == 0, exported.output + exported.stderr
    _assert_manifest(manifest_path, reviewed, decided)

    # And the gallery shows them reviewed, and nothing pending
    gallery = output / "reviewed-gallery"
    shown = runner.invoke(app, ["results", "--html", str(gallery), "--local", str(output)])
    assert shown.exit_code == 0, shown.output + shown.stderr
    page = (gallery / "index.html").read_text(encoding="utf-8")
    assert len(re.findall(r'data-review="REVIEWED"', page)) == len(before)
    assert 'data-review="PENDING"' not in page


def _assert_manifest(path: Path, reviewed: dict[str, Any], decided: dict[str, list[str]]) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    manifest = Manifest.parse(lines, source=str(path))
    by_ref = {f"s3://{r.bucket}/{r.key}": sorted(decided[rid]) for rid, r in reviewed.items()}
    assert len(lines) == len(by_ref)
    read_back = {entry.source_ref: sorted(label.name for label in entry.labels) for entry in manifest.entries}
    assert read_back == by_ref
