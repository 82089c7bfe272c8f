"""``clp demo`` writes a gallery beside its report, and ``clp results --html --local`` draws one from the run it
saved: every upload, the pending reviews, opened in Chromium."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from clp.gallery.offline import saved_items
from clp.main import app
from localrun.state import LocalState
from tests.gallery.browser import Browser

runner = CliRunner()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """One demo run for the module (a few seconds): its output directory and the CLI result."""
    output = tmp_path_factory.mktemp("demo")
    result = runner.invoke(app, ["demo", "--images", "9", "--output", str(output)])
    assert result.exit_code == 0, result.stderr
    return output, result


def _summary(output: Path) -> dict[str, Any]:
    return dict(json.loads((output / "report.json").read_text(encoding="utf-8"))["summary"])


def _cards(page: Path) -> list[tuple[str, str]]:
    """(key, review state) of each card, in page order."""
    html = page.read_text(encoding="utf-8")
    return re.findall(r'data-review="([^"]*)" data-key="([^"]*)"', html)


def test_demo_writes_a_gallery_of_its_results(demo: tuple[Path, Any], browser: Browser) -> None:
    output, result = demo
    summary = _summary(output)
    page = output / "gallery" / "index.html"

    # Then beside report.json there is a gallery with one card per upload: the report's numbers
    assert f"gallery: {page}" in result.stdout.replace("\n", "")  # (rich wraps long paths)
    browser.open(page)
    assert len(browser.visible_keys()) == summary["uploaded"]
    browser.select("filter-status", "FAILED")
    assert len(browser.visible_keys()) == summary["failed"]
    browser.select("filter-status", "")
    browser.select("filter-review", "PENDING")
    assert len(browser.visible_keys()) == summary["pending_review"] > 0
    # a thumbnail per readable picture: the sample's images, and two rejects Pillow reads though Rekognition
    # refuses them (tiny 32px.png, animation.gif); not the text file, the empty file or the truncated JPEG
    thumbnails = len(list((output / "gallery" / "thumbs").iterdir()))
    assert thumbnails == summary["detected"] + 2


def test_local_gallery_of_pending_reviews(demo: tuple[Path, Any], tmp_path: Path) -> None:
    output, _ = demo

    result = runner.invoke(app, ["results", "--html", str(tmp_path), "--local", str(output), "--review", "pending"])

    assert result.exit_code == 0, result.stderr
    cards = _cards(tmp_path / "index.html")
    assert len(cards) == _summary(output)["pending_review"]
    assert {state for state, _ in cards} == {"PENDING"}
    # oldest first, as the by_review index returns them
    saved = {item["key"]: item for item in saved_items(LocalState(output))}
    times = [saved[key]["detected_at"] for _, key in cards]
    assert times == sorted(times)


def test_local_gallery_by_label_is_best_first(demo: tuple[Path, Any], tmp_path: Path) -> None:
    output, _ = demo

    result = runner.invoke(
        app, ["results", "--html", str(tmp_path), "--local", str(output), "--label", "ripe", "--json"]
    )

    assert result.exit_code == 0, result.stderr
    saved = {item["key"]: item for item in saved_items(LocalState(output))}
    ripe = [k for k, item in saved.items() if any(lb["name"] == "ripe" for lb in item.get("labels", []))]
    keys = [key for _, key in _cards(tmp_path / "index.html")]
    assert sorted(keys) == sorted(ripe) and ripe
    confidences = [max(lb["confidence"] for lb in saved[k]["labels"] if lb["name"] == "ripe") for k in keys]
    assert confidences == sorted(confidences, reverse=True)
    assert json.loads(result.stdout)["results"] == len(ripe)


def test_local_gallery_of_everything_and_a_limit(demo: tuple[Path, Any], tmp_path: Path) -> None:
    output, _ = demo

    everything = runner.invoke(app, ["results", "--html", str(tmp_path / "all"), "--local", str(output)])
    limited = runner.invoke(app, ["results", "--html", str(tmp_path / "3"), "--local", str(output), "--limit", "3"])

    assert everything.exit_code == 0 and limited.exit_code == 0, everything.stderr + limited.stderr
    assert len(_cards(tmp_path / "all" / "index.html")) == _summary(output)["uploaded"]
    assert len(_cards(tmp_path / "3" / "index.html")) == 3


def test_local_without_a_saved_run_says_how_to_make_one(tmp_path: Path) -> None:
    result = runner.invoke(app, ["results", "--html", str(tmp_path / "g"), "--local", str(tmp_path)])

    assert result.exit_code == 1
    assert "holds no saved offline run" in result.stderr and "clp demo --output" in result.stderr
