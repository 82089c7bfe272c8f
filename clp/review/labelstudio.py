"""Label Studio as the review tool, through ``label-studio-sdk`` (the client of the server's REST API).

One project per model, found by its title (``clp review: <model>``). Its labelling config comes from the model's
label names: ``Choices`` (several allowed, none meaning "no label") for a classification model,
``RectangleLabels`` for an object detection model. A pending result becomes a task whose data carries the image
URL and the result's id (so a second push skips it), with the model's labels as a prediction (pre-annotation).
Finished annotations come back as :class:`lambdas.review.models.ReviewDecision`.

Formats, from Label Studio's docs (labelstud.io/guide/predictions "Import pre-annotated data", /guide/export
"Label Studio JSON format of annotated tasks", /tags/rectanglelabels, /tags/choices): a result item is
``{from_name, to_name, type, value}``; a rectangle's ``x``, ``y``, ``width``, ``height`` are percentages (0-100)
of the image's width and height, with ``rotation`` in degrees. Custom Labels boxes are ratios (0-1) of the same
(Rekognition API Reference, ``BoundingBox``), so the conversion is a factor of 100 each way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from xml.etree import ElementTree

from clp.errors import (
    AnnotationError,
    LabelStudioAuthError,
    LabelStudioUnreachableError,
    ReviewError,
    ReviewProjectNotFoundError,
    UnknownLabelError,
)
from lambdas.common import contract
from lambdas.detect.models import BoundingBox
from lambdas.review.models import PendingReview, ReviewDecision, ReviewedLabel

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio
    from label_studio_sdk.core.api_error import ApiError

# label-studio-sdk is imported where it is used: it takes about a second to import, which every `clp` command
# would pay; and `make demo` installs the offline extra only, without it.
INSTALL_HINT = "clp review needs the Label Studio client: .venv/bin/pip install -e '.[review]' (or make labelstudio)"

FROM_NAME = "label"  # the control tag (Choices / RectangleLabels)
TO_NAME = "image"  # the Image object tag; also the task data field holding the image URL
TITLE_PREFIX = "clp review: "
PROJECT_TITLE_MAX = 50  # Label Studio's PROJECT_TITLE_MAX_LEN (core/settings/base.py)
SOURCE = "label-studio"
Kind = Literal["classification", "object-detection"]


@dataclass(frozen=True)
class LabelSet:
    """A model's label names and whether its results carry boxes (object detection) or not (classification)."""

    names: tuple[str, ...]
    boxes: bool

    @classmethod
    def of(cls, names: Iterable[str], *, boxes: bool) -> LabelSet:
        return cls(tuple(sorted(set(names))), boxes)

    @property
    def kind(self) -> Kind:
        return "object-detection" if self.boxes else "classification"

    @property
    def control(self) -> str:
        return "RectangleLabels" if self.boxes else "Choices"

    @property
    def result_type(self) -> str:
        return self.control.lower()

    def merged(self, other: LabelSet) -> LabelSet:
        return LabelSet.of((*self.names, *other.names), boxes=self.boxes or other.boxes)


def project_title(model_name: str) -> str:
    return (TITLE_PREFIX + model_name)[:PROJECT_TITLE_MAX]


def labelling_config(labels: LabelSet) -> str:
    """The project's labelling config: the image, and one control with the model's labels."""
    view = ElementTree.Element("View")
    ElementTree.SubElement(view, "Image", name=TO_NAME, value=f"${TO_NAME}", zoom="true")
    attributes = {"name": FROM_NAME, "toName": TO_NAME}
    if not labels.boxes:
        attributes |= {"choice": "multiple", "showInline": "true"}
    control = ElementTree.SubElement(view, labels.control, attributes)
    child = "Label" if labels.boxes else "Choice"
    for name in labels.names:
        ElementTree.SubElement(control, child, value=name)
    return ElementTree.tostring(view, encoding="unicode")


def config_labels(label_config: str) -> LabelSet | None:
    """The labels of a project's config as :func:`labelling_config` writes it (parsed by the SDK's own
    ``LabelInterface``); ``None`` when it has no such control (not a project this command made)."""
    from label_studio_sdk.label_interface.interface import LabelInterface  # noqa: PLC0415 - slow import

    try:
        control = LabelInterface(label_config).get_control(FROM_NAME)  # type: ignore[no-untyped-call]
    except Exception:  # the SDK raises bare exceptions for a config without that control
        return None
    if control.tag not in ("Choices", "RectangleLabels"):
        return None
    return LabelSet.of(control.labels or (), boxes=control.tag == "RectangleLabels")


def _model_version(project_version_arn: str) -> str:
    parts = contract.parse_project_version_arn(project_version_arn)
    return parts.version if parts is not None else project_version_arn[-200:]


def prediction(result: PendingReview, labels: LabelSet) -> dict[str, Any]:
    """The model's labels of ``result`` as a Label Studio prediction (pre-annotation).

    Classification: one ``choices`` item with every predicted name. Object detection: one ``rectanglelabels``
    item per boxed label (a label without a box has no rectangle to show and is left out).
    """
    score = min((label.confidence for label in result.labels), default=0.0) / 100
    items: list[dict[str, Any]] = []
    if not labels.boxes:
        names = sorted({label.name for label in result.labels})
        if names:
            items.append(_item(labels, {"choices": names}))
    else:
        for index, label in enumerate(result.labels):
            box = label.bounding_box
            if box is None:
                continue
            value = {
                "x": box.left * 100,
                "y": box.top * 100,
                "width": box.width * 100,
                "height": box.height * 100,
                "rotation": 0,
                "rectanglelabels": [label.name],
            }
            items.append({**_item(labels, value), "id": f"p{index}", "score": label.confidence / 100})
    return {"model_version": _model_version(result.project_version_arn), "score": score, "result": items}


def _item(labels: LabelSet, value: dict[str, Any]) -> dict[str, Any]:
    return {"from_name": FROM_NAME, "to_name": TO_NAME, "type": labels.result_type, "value": value}


def task(result: PendingReview, image_url: str, labels: LabelSet) -> dict[str, Any]:
    """The task to import for ``result``: its image, what identifies it, and the model's prediction."""
    data = {
        TO_NAME: image_url,
        "result_id": result.result_id,
        "model_name": result.model_name,
        "key": result.key,
        "object_version": result.object_version,
        "reasons": ", ".join(result.reasons),
        # What the model's labels were at the push: the pull checks annotations against these, not against the
        # project's config, which anyone may widen in Label Studio.
        "model_labels": list(labels.names),
    }
    return {"data": data, "predictions": [prediction(result, labels)]}


def _ratio(percent: Any) -> float:
    return min(1.0, max(0.0, float(percent) / 100))


def reviewed_labels(items: list[dict[str, Any]], labels: LabelSet, model_name: str) -> tuple[ReviewedLabel, ...]:
    """An annotation's result items as the model's labels (boxes as ratios for object detection).

    Raises UnknownLabelError for a name the model does not have, AnnotationError for a rotated rectangle (Custom
    Labels boxes are axis-aligned). Items of other controls are ignored.
    """
    reviewed: list[ReviewedLabel] = []
    for item in items:
        if item.get("from_name") != FROM_NAME:
            continue
        value = item.get("value") or {}
        names = value.get("choices") or value.get("rectanglelabels") or value.get("labels") or []
        unknown = sorted(set(names) - set(labels.names))
        if unknown:
            known = ", ".join(labels.names) or "none"
            raise UnknownLabelError(
                f"label {', '.join(map(repr, unknown))} is not a label of model {model_name} (known: {known})"
            )
        box = None
        if item.get("type") == "rectanglelabels":
            if float(value.get("rotation") or 0) % 360:
                raise AnnotationError(f"a rotated rectangle ({value['rotation']}°): Custom Labels boxes are upright")
            box = BoundingBox(
                left=_ratio(value["x"]),
                top=_ratio(value["y"]),
                width=_ratio(value["width"]),
                height=_ratio(value["height"]),
            )
        reviewed.extend(ReviewedLabel(name=name, bounding_box=box) for name in names)
    return tuple(reviewed)


@dataclass(frozen=True)
class Annotated:
    """A task of the project, with its latest annotation (``None`` when it has none yet)."""

    task_id: int
    result_id: str | None
    annotation: dict[str, Any] | None
    data: dict[str, Any]

    @property
    def model_labels(self) -> tuple[str, ...]:
        """The model's label names as the push knew them (task data: not changed by editing the project)."""
        names = self.data.get("model_labels")
        return tuple(str(name) for name in names) if isinstance(names, list) else ()

    @property
    def cancelled(self) -> bool:
        return bool(self.annotation and self.annotation.get("was_cancelled"))


def _moment(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def latest_annotation(annotations: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The annotation that decides: the latest submitted one, else the latest skipped one."""
    if not annotations:
        return None
    submitted = [a for a in annotations if not a.get("was_cancelled")] or annotations
    return max(submitted, key=lambda a: (_moment(a.get("updated_at") or a.get("created_at")), a.get("id") or 0))


def decision(result: PendingReview, annotated: Annotated, labels: LabelSet, reviewer: str) -> ReviewDecision:
    """The reviewer's decision on ``result`` from its task's annotation (reviewer: the annotator's email)."""
    annotation = annotated.annotation
    assert annotation is not None
    return ReviewDecision(
        result=result,
        reviewed_labels=reviewed_labels(annotation.get("result") or [], labels, result.model_name),
        reviewer=reviewer,
        reviewed_at=_moment(annotation.get("updated_at") or annotation.get("created_at")),
        source=SOURCE,
        task_id=str(annotation["id"]),
    )


def _api_detail(exc: ApiError) -> str:
    body = exc.body
    if isinstance(body, dict):
        errors = body.get("validation_errors")
        return str(errors or body.get("detail") or body)
    return str(body)


class LabelStudioReview:
    """The project side of ``clp review``: one Label Studio server, reached with one API token."""

    def __init__(self, url: str, token: str, *, client: LabelStudio | None = None, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        if client is None:
            try:
                from label_studio_sdk import LabelStudio  # noqa: PLC0415 - slow import
            except ImportError as exc:
                raise ReviewError(INSTALL_HINT) from exc
        self._client = client or LabelStudio(base_url=self.url, api_key=token, timeout=timeout)  # type: ignore[no-untyped-call]
        self._users: dict[int, str] = {}

    @contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        """Label Studio's and the network's errors as the ones an operator can act on."""
        import httpx  # noqa: PLC0415 - with the SDK
        from label_studio_sdk.core.api_error import ApiError  # noqa: PLC0415 - slow import

        try:
            yield
        except httpx.TransportError as exc:
            raise LabelStudioUnreachableError(f"cannot reach Label Studio at {self.url} ({what}): {exc}") from exc
        except ApiError as exc:
            if exc.status_code in (401, 403):
                raise LabelStudioAuthError(
                    f"Label Studio at {self.url} refused the API token ({exc.status_code} on {what}): "
                    "check --token / LABEL_STUDIO_API_KEY"
                ) from exc
            if exc.status_code == 404:
                raise ReviewProjectNotFoundError(f"Label Studio at {self.url}: not found ({what})") from exc
            raise ReviewError(
                f"Label Studio at {self.url} refused {what} ({exc.status_code}): {_api_detail(exc)}"
            ) from exc

    # -- projects -------------------------------------------------------------------------------------------

    def find_project(self, model_name: str) -> tuple[int, LabelSet | None] | None:
        """The model's project (its id and labels), or ``None``."""
        title = project_title(model_name)
        with self._calling("listing projects"):
            listed: list[Any] = list(self._client.projects.list(title=title))
            found = [p for p in listed if p.title == title]
        if not found:
            return None
        project = min(found, key=lambda p: p.id or 0)
        assert project.id is not None
        with self._calling(f"reading project {project.id}"):
            config = self._client.projects.get(project.id).label_config or ""
        return project.id, config_labels(config)

    def require_project(self, model_name: str) -> tuple[int, LabelSet]:
        """The model's project; ReviewProjectNotFoundError when it is missing (never pushed, or deleted)."""
        found = self.find_project(model_name)
        if found is None:
            raise ReviewProjectNotFoundError(
                f"no Label Studio project {project_title(model_name)!r} at {self.url}: "
                "run `clp review push` first (or was it deleted since the push?)"
            )
        project_id, labels = found
        if labels is None:
            raise ReviewError(
                f"Label Studio project {project_id} ({project_title(model_name)!r}) has no {FROM_NAME!r} Choices or "
                "RectangleLabels control: its labelling config was not made by `clp review push`"
            )
        return project_id, labels

    def ensure_project(self, model_name: str, labels: LabelSet) -> tuple[int, LabelSet, bool]:
        """Create the model's project, or widen its labels (never narrowed: annotations may use them).

        Returns its id, the labels it now has, and whether it was created.
        """
        found = self.find_project(model_name)
        if found is None:
            with self._calling("creating the project"):
                project = self._client.projects.create(
                    title=project_title(model_name),
                    description=f"Custom Labels Pipeline: results of model {model_name} waiting for review",
                    label_config=labelling_config(labels),
                )
            assert project.id is not None
            return project.id, labels, True
        project_id, current = found
        wanted = labels if current is None else current.merged(labels)
        if wanted != current:
            with self._calling(f"updating the labelling config of project {project_id}"):
                self._client.projects.update(project_id, label_config=labelling_config(wanted))
        return project_id, wanted, False

    # -- tasks ----------------------------------------------------------------------------------------------

    def tasks(self, project_id: int) -> Iterator[Annotated]:
        """Every task of the project with its deciding annotation (annotations included in the listing)."""
        with self._calling(f"listing the tasks of project {project_id}"):
            listed: Iterable[Any] = self._client.tasks.list(project=project_id, fields="all")
            for found in listed:
                data = found.data or {}
                annotations = [a for a in (getattr(found, "annotations", None) or []) if isinstance(a, dict)]
                result_id = data.get("result_id")
                assert found.id is not None
                yield Annotated(
                    found.id, str(result_id) if result_id else None, latest_annotation(annotations), dict(data)
                )

    def task_result_ids(self, project_id: int) -> set[str]:
        """The result ids the project already has a task for."""
        return {t.result_id for t in self.tasks(project_id) if t.result_id is not None}

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> int:
        """Import tasks with their predictions; returns how many tasks Label Studio created."""
        if not tasks:
            return 0
        with self._calling(f"importing tasks into project {project_id}"):
            # Task dicts as Label Studio's import API takes them (the SDK sends them as given).
            request: Any = tasks
            response = self._client.projects.import_tasks(project_id, request=request, return_task_ids=True)
        return int(response.task_count or 0)

    def ensure_local_storage(self, project_id: int, directory: str) -> None:
        """A Local Files storage for ``directory``: Label Studio serves ``/data/local-files/`` only from under one
        (``io_storages/localfiles/views.py``); never synced, the tasks are imported with their predictions."""
        with self._calling(f"listing the storages of project {project_id}"):
            existing = self._client.import_storage.local.list(project=project_id)
        if any((storage.path or "").rstrip("/") == directory.rstrip("/") for storage in existing):
            return
        with self._calling(f"adding a Local Files storage for {directory}"):
            self._client.import_storage.local.create(
                project=project_id, path=directory, use_blob_urls=True, title="clp review images"
            )

    def reviewer(self, user_id: int | None) -> str:
        """The annotator's email (the reviewer recorded with the decision)."""
        if user_id is None:
            return "unknown"
        if user_id not in self._users:
            with self._calling(f"reading user {user_id}"):
                user = self._client.users.get(user_id)
            self._users[user_id] = user.email or user.username or str(user_id)
        return self._users[user_id]
