"""``clp results --html`` against a "deployed" stack in moto: which results a gallery shows, and its images from S3.

The result items are written by the detect path's own repository (and the review store's conditional update), so
their shape is the pipeline's; DescribeStacks is answered as in tests/ops (moto's CloudFormation needs packages
this project does not install).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from PIL import Image
from typer.testing import CliRunner

from clp import render
from clp.gallery import card
from clp.main import app
from clp.queries import plain
from lambdas.detect.adapters import DynamoResultsRepository
from lambdas.detect.mapping import event_detail
from lambdas.detect.models import BoundingBox, DetectionResult, ImageRef, Label
from lambdas.detect.ports import PublishClaim
from lambdas.review.models import PendingReview, ReviewDecision, ReviewedLabel
from lambdas.review.store import ReviewStore
from localrun.resources import create_results_table
from tests.gallery.pictures import picture
from tests.support.deployed import DescribeStacksResponder
from tests.support.ids import BUCKET, MODEL, REGION, TABLE, version_arn

runner = CliRunner()
STACK = "GalleryStack"
OTHER = "machine-parts"
BOX = {"left": 0.1, "top": 0.2, "width": 0.3, "height": 0.4}
DAY = datetime(2026, 11, 26, tzinfo=UTC)


@dataclass
class Stack:
    ddb: Any
    s3: Any
    results: DynamoResultsRepository

    def upload(self, key: str, body: bytes) -> str:
        return str(self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)["VersionId"])

    def detect(
        self,
        key: str,
        labels: list[tuple[str, float, dict[str, float] | None]],
        *,
        minutes: int,
        version: str | None = None,
        model: str = MODEL,
        status: str = "DETECTED",
        reason: str | None = None,
        review: list[str] | None = None,
    ) -> DetectionResult:
        image = ImageRef(bucket=BUCKET, key=key, version_id=version, etag="e", size=10, uploaded_at=DAY.replace(hour=0))
        result = DetectionResult(
            image=image,
            model_name=model,
            project_version_arn=version_arn(model),
            status=status,
            labels=tuple(
                Label(name=n, confidence=c, bounding_box=BoundingBox(**b) if b else None) for n, c, b in labels
            ),
            reason=reason,
            detected_at=DAY + timedelta(minutes=minutes),
        )
        detail = event_detail(result)
        assert self.results.put(result, detail, PublishClaim("seeded", 0), {"reasons": review} if review else None)
        return result

    def review(self, model: str, reviewed: list[tuple[str, dict[str, float] | None]]) -> None:
        store = ReviewStore(self.ddb, TABLE)
        pending: PendingReview = store.pending(model)[0]
        decision = ReviewDecision(
            result=pending,
            reviewed_labels=tuple(
                ReviewedLabel(name=n, bounding_box=BoundingBox(**b) if b else None) for n, b in reviewed
            ),
            reviewer="ana",
            reviewed_at=DAY + timedelta(days=1),
            source="label-studio",
            task_id="17",
        )
        assert store.record(decision)


def _manifest() -> dict[str, Any]:
    def model(name: str, prefix: str) -> dict[str, str]:
        return {
            "prefix": prefix,
            "project_version_arn": version_arn(name),
            "queue_url": f"https://sqs.{REGION}.amazonaws.com/123456789012/{name}",
            "dead_letter_queue_url": f"https://sqs.{REGION}.amazonaws.com/123456789012/{name}-dlq",
            "function": f"{name}-detect",
            "event_source_mapping_id": "00000000-0000-0000-0000-000000000000",
            "controller_state_machine_arn": f"arn:aws:states:{REGION}:123456789012:stateMachine:{name}",
        }

    return {
        "bucket": BUCKET,
        "results_table": TABLE,
        "control_table": "control",
        "models": {MODEL: model(MODEL, "produce/"), OTHER: model(OTHER, "parts/")},
    }


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    monkeypatch.setattr(render.out, "width", 250)
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        create_results_table(ddb, TABLE)
        with DescribeStacksResponder() as stacks:
            stacks.stacks[STACK] = [{"OutputKey": "PipelineManifest", "OutputValue": json.dumps(_manifest())}]
            yield Stack(ddb, s3, DynamoResultsRepository(ddb, TABLE))


def clp(*args: str) -> Any:
    return runner.invoke(app, ["results", *args, "--stack", STACK, "--region", REGION])


def _cards(page: Path) -> list[str]:
    """The keys of the page's cards, in page order."""
    return re.findall(r'data-key="([^"]*)"', page.read_text(encoding="utf-8"))


def test_label_gallery_shows_the_result_items_with_their_boxes_and_pictures(stack: Stack, tmp_path: Path) -> None:
    # Given two images labelled "rotten" (one with a box), one "ripe", each uploaded to the bucket
    labels: dict[str, list[tuple[str, float, dict[str, float] | None]]] = {
        "a": [("rotten", 97.5, BOX), ("ripe", 12.0, None)],
        "b": [("rotten", 85.0, None)],
        "c": [("ripe", 90.0, None)],
    }
    for minute, (name, found) in enumerate(labels.items()):
        key = f"produce/{name}.jpg"
        stack.detect(key, found, minutes=minute, version=stack.upload(key, picture(400, 300, BOX)))

    # When the gallery of "rotten" is written
    result = clp("--label", "rotten", "--model", MODEL, "--html", str(tmp_path), "--json")

    # Then it shows those two, best first, with every label of the result and the box, and their thumbnails
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"gallery": str(tmp_path / "index.html"), "results": 2}
    page = tmp_path / "index.html"
    assert _cards(page) == ["produce/a.jpg", "produce/b.jpg"]
    html = page.read_text(encoding="utf-8")
    assert "left:10.000%;top:20.000%;width:30.000%;height:40.000%" in html
    assert ">ripe<" in html  # a label of the result that is not the one asked for
    assert len(list((tmp_path / "thumbs").iterdir())) == 2


def test_review_gallery_uses_the_by_review_index(stack: Stack, tmp_path: Path) -> None:
    # Given two results pending review (one picture never uploaded), one of them then reviewed, and one never selected
    version = stack.upload("produce/p.jpg", picture(300, 200, BOX))
    stack.detect("produce/p.jpg", [("ripe", 70.0, None)], minutes=1, version=version, review=["LOW_CONFIDENCE"])
    stack.detect("produce/q.jpg", [], minutes=2, review=["NO_LABEL"])
    stack.detect("produce/r.jpg", [("ripe", 99.0, None)], minutes=3)
    stack.review(MODEL, [("rotten", BOX)])  # the oldest pending one: p.jpg

    # When the galleries of pending and of reviewed results are written
    pending = clp("--review", "pending", "--html", str(tmp_path / "pending"))
    reviewed = clp("--review", "REVIEWED", "--html", str(tmp_path / "reviewed"))

    # Then each shows its state only; the reviewed one with the reviewer's label and box
    assert pending.exit_code == 0, pending.output
    assert reviewed.exit_code == 0, reviewed.output
    assert _cards(tmp_path / "pending" / "index.html") == ["produce/q.jpg"]
    html = (tmp_path / "reviewed" / "index.html").read_text(encoding="utf-8")
    assert _cards(tmp_path / "reviewed" / "index.html") == ["produce/p.jpg"]
    assert 'class="box reviewed"' in html and "reviewed by ana in label-studio" in html
    # (the picture never uploaded is shown without one, and the command says so)
    assert "1 image(s) could not be read (NoSuchKey 1)" in pending.stderr
    assert "could not be read" not in reviewed.stderr


def test_without_a_selection_a_bounded_scan_says_what_it_did(stack: Stack, tmp_path: Path) -> None:
    # Given five results of one model and one of another
    for minute in range(5):
        stack.detect(f"produce/{minute}.jpg", [("ripe", 90.0, None)], minutes=minute)
    stack.detect("parts/x.jpg", [], minutes=9, model=OTHER, status="FAILED", reason="InvalidImageFormat")

    # When a gallery is written with no selection, first of everything, then of one model with a limit
    everything = clp("--html", str(tmp_path / "all"))
    limited = clp("--html", str(tmp_path / "some"), "--model", MODEL, "--limit", "3")

    # Then the first shows all six, newest first, and says it scanned the table
    assert everything.exit_code == 0, everything.output
    assert _cards(tmp_path / "all" / "index.html") == ["parts/x.jpg", *(f"produce/{m}.jpg" for m in range(4, -1, -1))]
    assert "a Scan of the results table found" in (tmp_path / "all" / "index.html").read_text(encoding="utf-8")
    # and the second stops at the limit, with that model's results only, and says how to choose instead
    assert limited.exit_code == 0, limited.output
    keys = _cards(tmp_path / "some" / "index.html")
    assert len(keys) == 3 and all(k.startswith("produce/") for k in keys)
    assert "stopped at --limit 3" in (tmp_path / "some" / "index.html").read_text(encoding="utf-8")


def test_key_gallery_shows_every_version(stack: Stack, tmp_path: Path) -> None:
    first = stack.upload("produce/a.jpg", picture(100, 100))
    second = stack.upload("produce/a.jpg", picture(200, 100))
    stack.detect("produce/a.jpg", [("ripe", 90.0, None)], minutes=1, version=first)
    stack.detect("produce/a.jpg", [("rotten", 90.0, None)], minutes=2, version=second)

    result = clp("--key", "produce/a.jpg", "--html", str(tmp_path))

    assert result.exit_code == 0, result.output
    assert _cards(tmp_path / "index.html") == ["produce/a.jpg", "produce/a.jpg"]
    # one thumbnail per version, each read by its version id (the two versions differ in size)
    sizes = sorted(Image.open(p).size for p in (tmp_path / "thumbs").iterdir())
    assert sizes == [(100, 100), (200, 100)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--review", "pending"], "--review is for a gallery: use it with --html"),
        (["--html", "x", "--key", "a", "--label", "b"], "at most one of --key, --label or --review"),
        (["--html", "x", "--review", "later"], "--review must be 'pending' or 'reviewed'"),
        (["--local", "demo-output", "--key", "a"], "--local is for a gallery: use it with --html"),
        ([], "exactly one of --key or --label"),
    ],
)
def test_usage_errors(stack: Stack, args: list[str], message: str) -> None:
    result = clp(*args)

    assert result.exit_code == 2
    assert message in result.stderr


def test_a_card_reads_the_review_attributes_the_detect_path_writes(stack: Stack) -> None:
    # Given a result the detect path's repository marked pending review
    stack.detect("produce/p.jpg", [("ripe", 70.0, BOX)], minutes=1, review=["LOW_CONFIDENCE", "AUDIT"])
    raw = stack.ddb.scan(
        TableName=TABLE, FilterExpression="record_type = :r", ExpressionAttributeValues={":r": {"S": "result"}}
    )["Items"][0]

    # When it becomes a gallery card
    shown = card(plain(raw))

    # Then the card has its review state, reasons, label and box as written
    assert (shown.review, shown.review_reasons) == ("PENDING", ("LOW_CONFIDENCE", "AUDIT"))
    assert [(label.name, label.confidence) for label in shown.labels] == [("ripe", 70.0)]
    assert shown.labels[0].box is not None and shown.labels[0].box.left == pytest.approx(10.0)
