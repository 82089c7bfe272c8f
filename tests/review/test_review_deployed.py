"""``clp review push|pull`` against a "deployed" stack (moto, tests/support/deployed.py: the stack found through its
PipelineManifest output) and the real Label Studio: presigned S3 URLs in the tasks, decisions in the results
table, Reviewed events on the pipeline's bus."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from clp.review.labelstudio import project_title
from lambdas.common import contract
from lambdas.detect.mapping import event_detail
from lambdas.detect.models import DetectionResult, ImageRef, Label
from lambdas.detect.ports import PublishClaim
from lambdas.review.events import review_requested_detail
from lambdas.review.store import ReviewStore
from tests.review.conftest import Studio
from tests.support.deployed import BUCKET, RESULTS_TABLE, STACK, Deployed, deployed_stack
from tests.support.harnesses import ControllerHarness
from tests.support.ids import MODEL, REGION


@pytest.fixture
def deployed(harness: ControllerHarness, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployed]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with deployed_stack(harness) as stack:
        yield stack


def _pending(deployed: Deployed, key: str, labels: list[tuple[str, float]], version: str) -> DetectionResult:
    """A result the detect function marked PENDING (its own repository and event detail)."""
    image = ImageRef(bucket=BUCKET, key=key, version_id=version, etag="e", size=10, uploaded_at=datetime.now(UTC))
    result = DetectionResult(
        image=image,
        model_name=MODEL,
        project_version_arn=deployed.manifest["models"][MODEL]["project_version_arn"],
        status="DETECTED",
        labels=tuple(Label(name=n, confidence=c) for n, c in labels),
        detected_at=datetime(2026, 2, 1, 12, 0, tzinfo=UTC),
    )
    detail = review_requested_detail(result, ("LOW_CONFIDENCE",))
    assert deployed.results.put(result, event_detail(result), PublishClaim("seeded", 0), detail)
    return result


def test_push_presigns_the_object_version_and_pull_records_and_publishes(studio: Studio, deployed: Deployed) -> None:
    # Given two results pending review in the deployed stack
    first = _pending(deployed, "produce/crate 1/a+b.jpg", [("ripe", 61.0)], "ver-1")
    _pending(deployed, "produce/b.jpg", [("rotten", 70.0)], "ver-2")
    stack = ["--stack", STACK, "--region", REGION, "--model", MODEL]

    # When pushed
    report = studio.clp_json("push", *stack, "--labels", "ripe,rotten,raw", "--url-expiry", "3600")["models"][0]

    # Then each task's image is a presigned GetObject URL of that object version, valid for the asked time
    assert report["imported"] == 2
    assert report["labels"] == ["raw", "ripe", "rotten"]
    project = studio.project(project_title(MODEL))
    tasks = {t.data["key"]: t for t in studio.tasks(project.id)}
    url = urlsplit(tasks[first.image.key].data["image"])
    query = parse_qs(url.query)
    assert url.path.endswith("/produce/crate%201/a%2Bb.jpg")
    assert BUCKET in url.netloc + url.path
    assert query["versionId"] == ["ver-1"]
    assert query["X-Amz-Expires"] == ["3600"]
    assert "X-Amz-Signature" in query

    # When the first is annotated and pulled
    annotation = studio.annotate(
        tasks[first.image.key].id,
        [{"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": ["rotten"]}}],
    )
    deployed.harness.events()  # only what pull publishes from here on
    pulled = studio.clp_json("pull", *stack)["models"][0]
    again = studio.clp_json("pull", *stack)["models"][0]

    # Then the results table has the decision, and the bus got one Reviewed event
    assert (pulled["reviewed"], pulled["waiting"], again["reviewed"], again["unchanged"]) == (1, 1, 0, 1)
    (reviewed,) = ReviewStore(deployed.harness.ddb, RESULTS_TABLE).reviewed(MODEL)
    assert reviewed.result_id == first.result_id
    assert [lb.name for lb in reviewed.reviewed_labels] == ["rotten"]
    assert reviewed.task_id == str(annotation.id)
    events = [e for e in deployed.harness.events() if e["detail-type"] == contract.DETAIL_TYPE_REVIEWED]
    assert len(events) == 1
    assert events[0]["detail"]["reviewed_labels"] == [{"name": "rotten", "bounding_box": None}]
    assert events[0]["detail"]["changed"] is True
