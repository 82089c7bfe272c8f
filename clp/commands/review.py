"""``clp review push|pull``: results waiting for review → Label Studio tasks; finished annotations → decisions.

Works on the deployed stack (results table, uploads bucket through presigned GetObject URLs, the pipeline's bus)
or, with ``--local DIR``, on the world ``clp demo --output DIR`` saved (localrun/state.py; images served by Label
Studio as local files). docs/review.md describes both.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Protocol
from urllib.parse import quote

import boto3
import typer
from botocore.config import Config

from clp.deployment import StackContext
from clp.errors import AnnotationError, LocalStateError, ModelSelectionError, ReviewError, UsageError
from clp.handling import handle_errors
from clp.options import JsonOption, ModelOption, RegionOption, StackOption
from clp.render import add_task, err, out, print_json, progress, table
from clp.review.export import ImageSizeOf, LocalImageSizer, S3ImageSizer, export_manifest
from clp.review.labelstudio import Annotated as Task, LabelSet, LabelStudioReview, decision, task
from lambdas.review.events import ReviewedPublisher, record_and_publish
from lambdas.review.models import PendingReview
from lambdas.review.store import ReviewStore
from localrun.emulator import Manifest, ManifestError
from localrun.state import LocalState, LocalWorld, StateError

review_app = typer.Typer(
    help="Human review of uncertain results in Label Studio (docs/review.md).", no_args_is_help=True
)

UrlOption = Annotated[
    str | None, typer.Option("--url", envvar="LABEL_STUDIO_URL", help="Label Studio's URL, e.g. http://127.0.0.1:8080.")
]
TokenOption = Annotated[
    str | None,
    typer.Option("--token", envvar="LABEL_STUDIO_API_KEY", help="Label Studio API token.", show_default=False),
]
LocalOption = Annotated[
    Path | None,
    typer.Option("--local", help="A `clp demo --output` directory: its saved offline world, not the deployed stack."),
]
LabelsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--labels",
        help="The model's label names (comma-separated or repeated), added to those its results (and, with "
        "--local, its labels manifest) show.",
    ),
]
LimitOption = Annotated[int | None, typer.Option("--limit", min=1, help="At most this many new tasks per model.")]
DocumentRootOption = Annotated[
    Path,
    typer.Option(
        "--document-root",
        envvar="LOCAL_FILES_DOCUMENT_ROOT",
        help="With --local: the LOCAL_FILES_DOCUMENT_ROOT Label Studio serves local files from.",
    ),
]
ExpiryOption = Annotated[
    int,
    typer.Option(
        "--url-expiry",
        min=1,
        max=604_800,
        help="Without --local: seconds the presigned image URLs stay valid (SigV4 allows 7 days at most).",
    ),
]
IMPORT_BATCH = 100


class Backend(Protocol):
    """Where the results, images and events are: the deployed stack, or a saved offline world."""

    store: ReviewStore
    publisher: ReviewedPublisher

    def model_names(self, model: str | None) -> list[str]: ...

    def image_url(self, result: PendingReview) -> str: ...

    def known_labels(self, model: str) -> LabelSet: ...

    def prepare(self, labelstudio: LabelStudioReview, project_id: int) -> None: ...


@dataclass
class DeployedBackend:
    """The deployed stack: the results table, presigned GetObject URLs of the exact object version."""

    context: StackContext
    region: str | None = None
    expiry: int = 604_800
    store: ReviewStore = field(init=False)
    publisher: ReviewedPublisher = field(init=False)

    def __post_init__(self) -> None:
        deployment = self.context.deployment
        # boto3 presigns S3 URLs with SigV2 unless told (seen with botocore 1.44 in us-east-1); SigV4 is what AWS
        # recommends and every region accepts (S3 API Reference, "Authenticating Requests: Using Query
        # Parameters (AWS Signature Version 4)").
        self._s3 = boto3.client("s3", region_name=self.region, config=Config(signature_version="s3v4"))
        self.store = ReviewStore(self.context.clients("dynamodb"), deployment.results_table)
        if deployment.event_bus is None:
            raise ReviewError(f"stack {deployment.stack}: its PipelineManifest output names no event_bus (redeploy)")
        self.publisher = ReviewedPublisher(self.context.clients("events"), deployment.event_bus)

    def model_names(self, model: str | None) -> list[str]:
        return [target.name for target in self.context.deployment.select(model)]

    def image_url(self, result: PendingReview) -> str:
        # A SigV4 presigned URL lives at most 604,800 s (AWS CLI reference, `aws s3 presign --expires-in`), and
        # no longer than the temporary credentials that signed it (AWS re:Post knowledge center, "presigned URL
        # expired before the expiration time"). The version id pins the image the model saw (S3 API Reference,
        # GetObject "versionId").
        params: dict[str, Any] = {"Bucket": result.bucket, "Key": result.key}
        if result.version_id:
            params["VersionId"] = result.version_id
        return str(self._s3.generate_presigned_url("get_object", Params=params, ExpiresIn=self.expiry))

    def known_labels(self, model: str) -> LabelSet:
        return LabelSet.of((), boxes=False)

    def prepare(self, labelstudio: LabelStudioReview, project_id: int) -> None:
        """Nothing: the tasks carry presigned URLs the reviewer's browser fetches from S3."""


@dataclass
class OfflineBackend:
    """A saved offline world: the table in moto, the images on disk, served by Label Studio as local files."""

    state: LocalState
    world: LocalWorld
    document_root: Path
    store: ReviewStore = field(init=False)
    publisher: ReviewedPublisher = field(init=False)

    def __post_init__(self) -> None:
        names = self.world.names
        self.store = ReviewStore(self.world.client("dynamodb"), names.results_table)
        self.publisher = ReviewedPublisher(self.world.client("events"), names.bus)
        self.images = self.state.images_dir
        root = self.document_root.resolve()
        if root not in self.images.parents:
            raise UsageError(
                f"the images ({self.images}) are not under the document root {root}: set --document-root or "
                "LOCAL_FILES_DOCUMENT_ROOT to a parent directory (and start Label Studio with the same)"
            )

    def model_names(self, model: str | None) -> list[str]:
        known = [m.name for m in self.world.config.models]
        if model is None:
            return known
        if model not in known:
            raise ModelSelectionError(f"unknown model {model!r} in {self.state.root} (known: {', '.join(known)})")
        return [model]

    def image_url(self, result: PendingReview) -> str:
        prefix = self.world.config.model(result.model_name).prefix
        relative = result.key.removeprefix(prefix)
        path = os.path.relpath(self.images / relative, self.document_root.resolve())
        return "/data/local-files/?d=" + quote(Path(path).as_posix())

    def known_labels(self, model: str) -> LabelSet:
        path = self.state.manifest
        if path is None:
            return LabelSet.of((), boxes=False)
        try:
            manifest = Manifest.load(path)
        except ManifestError as exc:
            raise LocalStateError(f"cannot read the run's labels manifest: {exc}") from exc
        boxes = any(label.bounding_box is not None for entry in manifest.entries for label in entry.labels)
        return LabelSet.of(manifest.label_names, boxes=boxes)

    def prepare(self, labelstudio: LabelStudioReview, project_id: int) -> None:
        labelstudio.ensure_local_storage(project_id, str(self.images))


@contextmanager
def backend(
    local: Path | None, stack: str | None, region: str | None, document_root: Path, expiry: int
) -> Iterator[Backend]:
    """The deployed stack, or ``local``'s saved world (written back when the block succeeds)."""
    if local is None:
        yield DeployedBackend(StackContext(stack, region), region, expiry)
        return
    state = LocalState(local)
    try:
        with state.world() as world:
            yield OfflineBackend(state, world, document_root)
    except StateError as exc:
        raise LocalStateError(str(exc)) from exc


def labelstudio(url: str | None, token: str | None) -> LabelStudioReview:
    if not url:
        raise UsageError("no Label Studio URL: give --url or set LABEL_STUDIO_URL")
    if not token:
        raise UsageError("no Label Studio API token: give --token or set LABEL_STUDIO_API_KEY")
    return LabelStudioReview(url, token)


def _split(labels: list[str] | None) -> list[str]:
    return [name.strip() for value in labels or [] for name in value.split(",") if name.strip()]


def model_labels(source: Backend, model: str, results: list[PendingReview], extra: list[str]) -> LabelSet:
    """What is known of the model's labels: --labels, the labels manifest (offline), the labels of its results."""
    predicted = [label for result in results for label in result.labels]
    seen = LabelSet.of((label.name for label in predicted), boxes=any(lb.bounding_box for lb in predicted))
    return source.known_labels(model).merged(seen).merged(LabelSet.of(extra, boxes=False))


# -- push ---------------------------------------------------------------------------------------------------------


def push_model(
    source: Backend, studio: LabelStudioReview, model: str, *, limit: int | None, labels: list[str], show: bool
) -> dict[str, Any]:
    """One model's pending results → tasks of its project (created or widened first); already-pushed ones skipped."""
    pending = source.store.pending(model)
    known = model_labels(source, model, pending, labels)
    if not known.names:
        raise ReviewError(f"no label names known for model {model}: give them with --labels")
    project_id, project_labels, created = studio.ensure_project(model, known)
    source.prepare(studio, project_id)
    existing = studio.task_result_ids(project_id)
    new = [result for result in pending if result.result_id not in existing][:limit]
    tasks = [task(result, source.image_url(result), project_labels) for result in new]
    imported = 0
    with _bar(show, "push", len(tasks), model) as advance:
        for start in range(0, len(tasks), IMPORT_BATCH):
            imported += studio.import_tasks(project_id, tasks[start : start + IMPORT_BATCH])
            advance(imported)
    return {
        "model": model,
        "project_id": project_id,
        "project_url": f"{studio.url}/projects/{project_id}",
        "project_created": created,
        "kind": project_labels.kind,
        "labels": list(project_labels.names),
        "pending": len(pending),
        "imported": imported,
        "already_tasks": sum(1 for result in pending if result.result_id in existing),
    }


@contextmanager
def _bar(show: bool, description: str, total: int, status: str) -> Iterator[Callable[[int], None]]:
    """The progress bar on stderr (none with --json); yields "this many done"."""
    if not show:
        yield lambda _done: None
        return
    with progress() as bar:
        task_id = add_task(bar, description, total, status=status)
        yield lambda done: bar.update(task_id, completed=done)


@review_app.command("push")
@handle_errors
def push_command(
    model: ModelOption = None,
    limit: LimitOption = None,
    local: LocalOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
    labels: LabelsOption = None,
    document_root: DocumentRootOption = Path("/"),
    url_expiry: ExpiryOption = 604_800,
    as_json: JsonOption = False,
    stack: StackOption = None,
    region: RegionOption = None,
) -> None:
    """Import the results waiting for review into Label Studio, one project per model, with the model's labels as
    pre-annotations. A result already imported is not imported again."""
    studio = labelstudio(url, token)
    with backend(local, stack, region, document_root, url_expiry) as source:
        reports = [
            push_model(source, studio, name, limit=limit, labels=_split(labels), show=not as_json)
            for name in source.model_names(model)
        ]
    if as_json:
        print_json({"models": reports})
        return
    shown = table("model", "project", "kind", "labels", "pending", "imported", "already tasks")
    for r in reports:
        project = f"{r['project_url']}{' (created)' if r['project_created'] else ''}"
        shown.add_row(
            r["model"], project, r["kind"], ", ".join(r["labels"]), str(r["pending"]), str(r["imported"]),
            str(r["already_tasks"]),
        )  # fmt: skip
    out.print(shown)


# -- pull ---------------------------------------------------------------------------------------------------------


@dataclass
class PullReport:
    model: str
    project_id: int
    reviewed: int = 0
    unchanged: int = 0
    waiting: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)
    invalid: int = 0

    def skip(self, found: Task, reason: str, *, invalid: bool = False) -> None:
        annotation = found.annotation or {}
        self.skipped.append(
            {
                "task_id": found.task_id,
                "annotation_id": annotation.get("id"),
                "result_id": found.result_id,
                "reason": reason,
            }
        )
        self.invalid += int(invalid)

    def document(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "project_id": self.project_id,
            "reviewed": self.reviewed,
            "unchanged": self.unchanged,
            "waiting": self.waiting,
            "skipped": self.skipped,
        }


def _pull_task(
    source: Backend, studio: LabelStudioReview, found: Task, results: dict[str, PendingReview], labels: LabelSet,
    report: PullReport,
) -> None:  # fmt: skip
    if found.annotation is None:
        report.waiting += 1
        return
    result = results.get(found.result_id or "")
    if result is None:
        report.skip(found, "its result is not in the results table (not a task `clp review push` made?)")
        return
    if found.cancelled:
        report.skip(found, "skipped by the annotator in Label Studio")
        return
    model_labels = labels.merged(LabelSet.of(found.model_labels, boxes=labels.boxes))
    try:
        made = decision(result, found, model_labels, studio.reviewer(found.annotation.get("completed_by")))
    except AnnotationError as exc:
        report.skip(found, str(exc), invalid=True)
        return
    if record_and_publish(made, source.store, source.publisher):
        report.reviewed += 1
    else:
        report.unchanged += 1


def pull_model(source: Backend, studio: LabelStudioReview, model: str, *, labels: list[str], show: bool) -> PullReport:
    """One model's finished annotations → decisions written once (conditional) and announced once."""
    project_id, _ = studio.require_project(model)
    pending = source.store.pending(model)
    reviewed = source.store.reviewed(model)
    results: dict[str, PendingReview] = {r.result_id: r for r in [*reviewed, *pending]}
    known = model_labels(source, model, [*pending, *reviewed], labels)
    known = known.merged(LabelSet.of((lb.name for r in reviewed for lb in r.reviewed_labels), boxes=known.boxes))
    report = PullReport(model, project_id)
    found_tasks = list(studio.tasks(project_id))
    with _bar(show, "pull", len(found_tasks), model) as advance:
        for index, found in enumerate(found_tasks, start=1):
            _pull_task(source, studio, found, results, known, report)
            advance(index)
    return report


@review_app.command("pull")
@handle_errors
def pull_command(
    model: ModelOption = None,
    local: LocalOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
    labels: LabelsOption = None,
    document_root: DocumentRootOption = Path("/"),
    as_json: JsonOption = False,
    stack: StackOption = None,
    region: RegionOption = None,
) -> None:
    """Record the finished annotations as review decisions (REVIEWED, the reviewer's labels, who and when) and
    publish a Custom Labels Reviewed event for each. A second pull changes nothing.

    Exit status 1 when some annotation could not be recorded (a label the model does not have, a rotated box):
    the others are recorded, and the reasons are listed.
    """
    studio = labelstudio(url, token)
    with backend(local, stack, region, document_root, 1) as source:
        reports = [
            pull_model(source, studio, name, labels=_split(labels), show=not as_json)
            for name in source.model_names(model)
        ]
    invalid = sum(r.invalid for r in reports)
    if as_json:
        print_json({"models": [r.document() for r in reports]})
    else:
        _render_pull(reports)
    if invalid:
        err.print(f"[bold red]error:[/] {invalid} annotation(s) could not be recorded (reasons above)", highlight=False)
        raise typer.Exit(1)


def _render_pull(reports: list[PullReport]) -> None:
    shown = table("model", "project", "reviewed", "unchanged", "waiting", "skipped")
    for r in reports:
        shown.add_row(
            r.model, str(r.project_id), str(r.reviewed), str(r.unchanged), str(r.waiting), str(len(r.skipped))
        )
    out.print(shown)
    for r in reports:
        for skipped in r.skipped:
            out.print(f"skipped task {skipped['task_id']} ({r.model}): {skipped['reason']}", highlight=False)


# -- export -------------------------------------------------------------------------------------------------------

OutOption = Annotated[Path, typer.Option("--out", help="The manifest file to write (JSON Lines).")]


def image_sizer(source: Backend, model: str) -> ImageSizeOf:
    """Where export reads image sizes: the saved images offline, the uploads bucket (checking the version) else."""
    if isinstance(source, OfflineBackend):
        return LocalImageSizer(source.images, strip_prefix=source.world.config.model(model).prefix)
    assert isinstance(source, DeployedBackend)
    return S3ImageSizer(source.context.clients("s3"))


@review_app.command("export")
@handle_errors
def export_command(
    out_path: OutOption,
    model: ModelOption = None,
    local: LocalOption = None,
    as_json: JsonOption = False,
    stack: StackOption = None,
    region: RegionOption = None,
) -> None:
    """Write the model's reviewed images with the reviewers' labels as a SageMaker Ground Truth manifest that a
    Custom Labels dataset imports (object detection when the reviewers drew boxes, else classification)."""
    with backend(local, stack, region, Path("/"), 1) as source:
        names = source.model_names(model)
        if len(names) != 1:
            raise ModelSelectionError(f"give --model: one of {', '.join(names)}")
        export = export_manifest(source.store.reviewed(names[0]), image_sizer(source, names[0]), out_path)
    summary = {"model": names[0], "out": str(out_path), **export.summary()}
    if as_json:
        print_json({**summary, "skipped": export.skipped_unavailable})
        return
    out.print(
        f"{summary['images']} image(s) written to {out_path} ({summary['format']} manifest); left out: "
        f"{summary['skipped_no_label']} with no label, {summary['skipped_unavailable']} unreadable, "
        f"{summary['superseded_reviews']} older review(s) of the same image",
        highlight=False,
    )
    for reason in export.skipped_unavailable:
        out.print(f"skipped {reason}", highlight=False)
