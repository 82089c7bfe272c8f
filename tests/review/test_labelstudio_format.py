"""The Label Studio side of ``clp review`` without a server: labelling configs, predictions, annotations → labels.

Formats from Label Studio's docs (labelstud.io/guide/predictions, /tags/choices, /tags/rectanglelabels: rectangle
values in percent of the image) and the configs read back through the SDK's own parser (``LabelInterface``).
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest
from label_studio_sdk.label_interface.interface import LabelInterface

from clp.errors import AnnotationError, ReviewError, UnknownLabelError
from clp.review.labelstudio import (
    Annotated,
    LabelSet,
    LabelStudioReview,
    config_labels,
    decision,
    labelling_config,
    latest_annotation,
    prediction,
    project_title,
    reviewed_labels,
    task,
)
from lambdas.detect.models import BoundingBox, Label
from lambdas.review.models import PendingReview

ARN = "arn:aws:rekognition:us-east-1:111122223333:project/shelf/version/shelf.v2/1767225600000"


def pending(*labels: Label) -> PendingReview:
    return PendingReview(
        result_id="r-1",
        model_name="shelf",
        project_version_arn=ARN,
        bucket="uploads",
        key="shelf/a b.png",
        object_version="v1",
        labels=labels,
        reasons=("LOW_CONFIDENCE",),
        detected_at=datetime(2026, 1, 2, tzinfo=UTC),
    )


@pytest.mark.parametrize("boxes", [False, True])
def test_the_labelling_config_holds_the_model_labels_and_parses_in_label_studio(boxes: bool) -> None:
    # Given label names with characters XML must escape
    labels = LabelSet.of(["rotten", "a & b", '"quoted" <x>'], boxes=boxes)

    # When the config is built and read back by the SDK's parser
    config = labelling_config(labels)
    control = LabelInterface(config).get_control("label")

    # Then it is one Image and one control of the right kind with exactly those labels
    assert control.tag == ("RectangleLabels" if boxes else "Choices")
    assert sorted(control.labels) == sorted(labels.names)
    assert config_labels(config) == labels


def test_a_config_without_the_control_is_not_ours() -> None:
    assert config_labels('<View><Image name="image" value="$image"/></View>') is None
    assert config_labels("not xml") is None


def test_a_classification_prediction_is_one_choices_item() -> None:
    # Given a result with two labels
    result = pending(Label(name="ripe", confidence=70.0), Label(name="rotten", confidence=85.0))

    # When it becomes a prediction
    made = prediction(result, LabelSet.of(["ripe", "rotten", "raw"], boxes=False))

    # Then the choices are both names, the score the lowest confidence, the version the model version's name
    assert made["result"] == [
        {"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": ["ripe", "rotten"]}}
    ]
    assert made["score"] == pytest.approx(0.70)
    assert made["model_version"] == "shelf.v2"


def test_a_detection_prediction_has_one_rectangle_per_box_in_percent() -> None:
    # Given a boxed label (ratios) and one without a box
    box = BoundingBox(left=0.1, top=0.25, width=0.5, height=0.2)
    result = pending(Label(name="logo", confidence=91.0, bounding_box=box), Label(name="logo", confidence=50.0))

    # When it becomes a prediction
    (item,) = prediction(result, LabelSet.of(["logo"], boxes=True))["result"]

    # Then the rectangle is in percent of the image, upright, with the label's own score
    assert item["type"] == "rectanglelabels"
    value = dict(item["value"])
    assert value.pop("rectanglelabels") == ["logo"]
    assert value == pytest.approx({"x": 10.0, "y": 25.0, "width": 50.0, "height": 20.0, "rotation": 0})
    assert item["score"] == pytest.approx(0.91)


def test_a_task_carries_the_image_the_result_id_and_the_model_labels() -> None:
    made = task(pending(), "/data/local-files/?d=x.png", LabelSet.of(["b", "a"], boxes=False))
    assert made["data"]["image"] == "/data/local-files/?d=x.png"
    assert made["data"]["result_id"] == "r-1"
    assert made["data"]["model_labels"] == ["a", "b"]
    assert made["predictions"][0]["result"] == []  # no label predicted: nothing pre-selected


def test_rectangles_come_back_as_ratios_and_choices_without_boxes() -> None:
    labels = LabelSet.of(["logo", "shelf"], boxes=True)
    items = [
        {
            "from_name": "label",
            "to_name": "image",
            "type": "rectanglelabels",
            "value": {"x": 12.5, "y": 40, "width": 30, "height": 100.4, "rotation": 0, "rectanglelabels": ["logo"]},
        },
        {"from_name": "comment", "type": "textarea", "value": {"text": ["ignored"]}},
    ]
    (label,) = reviewed_labels(items, labels, "shelf")
    assert label.name == "logo"
    assert label.bounding_box == BoundingBox(left=0.125, top=0.4, width=0.3, height=1.0)  # clamped to the image

    choices = [{"from_name": "label", "type": "choices", "value": {"choices": ["shelf", "logo"]}}]
    assert [(lb.name, lb.bounding_box) for lb in reviewed_labels(choices, labels, "shelf")] == [
        ("shelf", None),
        ("logo", None),
    ]


def test_a_label_the_model_does_not_have_is_refused_by_name() -> None:
    items = [{"from_name": "label", "type": "choices", "value": {"choices": ["ripe", "banana"]}}]
    with pytest.raises(UnknownLabelError, match=r"'banana' is not a label of model produce \(known: raw, ripe\)"):
        reviewed_labels(items, LabelSet.of(["ripe", "raw"], boxes=False), "produce")


def test_a_rotated_rectangle_is_refused() -> None:
    value = {"x": 1, "y": 1, "width": 5, "height": 5, "rotation": 30, "rectanglelabels": ["logo"]}
    items = [{"from_name": "label", "type": "rectanglelabels", "value": value}]
    with pytest.raises(AnnotationError, match="rotated"):
        reviewed_labels(items, LabelSet.of(["logo"], boxes=True), "shelf")


def test_the_latest_submitted_annotation_decides() -> None:
    older = {"id": 1, "was_cancelled": False, "updated_at": "2026-01-01T10:00:00Z", "result": []}
    newer = {"id": 2, "was_cancelled": False, "updated_at": "2026-01-01T11:00:00Z", "result": []}
    skipped = {"id": 3, "was_cancelled": True, "updated_at": "2026-01-01T12:00:00Z", "result": []}
    assert latest_annotation([older, skipped, newer]) == newer
    assert latest_annotation([skipped]) == skipped
    assert latest_annotation([]) is None


def test_a_decision_names_the_reviewer_the_annotation_and_its_time() -> None:
    annotation = {
        "id": 42,
        "was_cancelled": False,
        "updated_at": "2026-03-04T05:06:07.891Z",
        "result": [{"from_name": "label", "type": "choices", "value": {"choices": ["ripe"]}}],
    }
    found = Annotated(task_id=7, result_id="r-1", annotation=annotation, data={})
    made = decision(
        pending(Label(name="raw", confidence=60.0)), found, LabelSet.of(["ripe", "raw"], boxes=False), "a@b.c"
    )
    assert made.task_id == "42"
    assert made.reviewer == "a@b.c"
    assert made.source == "label-studio"
    assert made.reviewed_at == datetime(2026, 3, 4, 5, 6, 7, 891000, tzinfo=UTC)
    assert [lb.name for lb in made.reviewed_labels] == ["ripe"]
    assert made.changed


def test_project_titles_fit_label_studio() -> None:
    assert project_title("produce") == "clp review: produce"
    assert len(project_title("m" * 80)) == 50  # Label Studio's PROJECT_TITLE_MAX_LEN


def test_clp_starts_without_importing_the_label_studio_client() -> None:
    # make demo installs the offline extra only (no label-studio-sdk), and the client takes a second to import
    code = "import sys, clp.main; sys.exit('label_studio_sdk' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_without_the_client_clp_review_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "label_studio_sdk", None)  # as if not installed
    with pytest.raises(ReviewError, match=r"pip install -e '\.\[review\]'"):
        LabelStudioReview("http://127.0.0.1:9", "token")
