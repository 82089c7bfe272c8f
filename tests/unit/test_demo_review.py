"""The demo's review policy (localrun/sample.py) and the report's count of results pending review."""

from __future__ import annotations

from clp.report import summary
from infra.config import load_config
from lambdas.review.models import ReviewPolicy
from localrun.rehearsal import ResultRow, RunResult
from localrun.sample import DEMO_REVIEW, with_demo_review


def test_the_demo_reviews_its_model_while_cdk_json_keeps_review_off() -> None:
    # Given the shipped cdk.json (what `cdk deploy` reads)
    shipped = load_config()
    # When the demo applies its policy
    demo = with_demo_review(shipped)
    # Then the demo's model reviews, the shipped config still does not, and nothing else changed
    assert shipped.models[0].review.enabled is False
    assert demo.models[0].review == DEMO_REVIEW
    assert demo.models[0].model_copy(update={"review": ReviewPolicy()}) == shipped.models[0]


def test_a_config_with_its_own_review_policy_keeps_it() -> None:
    shipped = load_config()
    own = ReviewPolicy(enabled=True, min_confidence=70.0)
    config = shipped.model_copy(update={"models": (shipped.models[0].model_copy(update={"review": own}),)})

    assert with_demo_review(config).models[0].review == own


def test_the_report_counts_results_pending_review() -> None:
    # Given a run with two results pending review, one reviewed, one not selected and one failed
    rows = [
        ResultRow("a.jpg", "DETECTED", None, [], review="PENDING"),
        ResultRow(
            "b.jpg", "DETECTED", None, [{"name": "ripe", "confidence": 70.0, "bounding_box": None}], review="PENDING"
        ),
        ResultRow("c.jpg", "DETECTED", None, [], review="REVIEWED"),
        ResultRow("d.jpg", "DETECTED", None, [{"name": "ripe", "confidence": 99.0, "bounding_box": None}]),
        ResultRow("e.txt", "FAILED", "InvalidImageFormat", []),
    ]
    run = RunResult(
        model="produce-quality",
        keys=[row.key for row in rows],
        results=rows,
        final_status="STOPPED",
        sessions=[],
        inference_unit_seconds=0.0,
        dead_letters=0,
        controller_executions=[],
        started_at=0.0,
        ended_at=60.0,
        wall_seconds=1.0,
        completed=True,
    )
    # When the report is built / Then it counts the pending ones only, and the §5 contract is untouched
    report = summary(run, 4.0)
    assert report["summary"]["pending_review"] == 2
    assert "review" not in report["results"][0]
