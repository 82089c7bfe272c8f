"""``clp results``: the results table by image (``--key``) or by label (``--label``), without a scan; with
``--html DIR``, those results (or the ones pending or past review, or a bounded Scan) as a static gallery, from the
deployed stack or, with ``--local``, from a saved offline run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from clp import queries
from clp.deployment import StackContext
from clp.errors import LocalStateError, UsageError
from clp.gallery import image_refs, render_gallery
from clp.gallery.offline import saved_items, write_saved_gallery
from clp.gallery.sources import S3Images, batch_get, result_keys, review_items, scan_results, select_saved
from clp.handling import handle_errors
from clp.options import JsonOption, ModelOption, RegionOption, StackOption
from clp.render import add_task, err, out, print_json, progress, table
from lambdas.common import contract
from localrun.state import LocalState, StateError

DEFAULT_LIMIT = 50
KeyOption = Annotated[str | None, typer.Option("--key", help="Object key in the uploads bucket: every result of it.")]
LabelOption = Annotated[str | None, typer.Option("--label", help="Label name: the images that have it.")]
MinConfidenceOption = Annotated[
    float | None,
    typer.Option("--min-confidence", min=0.0, max=100.0, help="With --label: at least this confidence."),
]
LimitOption = Annotated[
    int | None,
    typer.Option(
        "--limit",
        min=1,
        max=1000,
        help=f"With --label or --html: at most this many results (default {DEFAULT_LIMIT}; with --local: all).",
    ),
]
ByOption = Annotated[
    str, typer.Option("--by", help="With --label: 'confidence' (best first) or 'time' (newest first).")
]
HtmlOption = Annotated[
    Path | None,
    typer.Option(
        "--html",
        file_okay=False,
        help="Write a static gallery to this directory (index.html, thumbs/) instead of a table: the results of "
        "--key, --label or --review, or else the first --limit results a Scan of the table finds.",
    ),
]
ReviewOption = Annotated[
    str | None,
    typer.Option("--review", help="With --html: the results 'pending' review or 'reviewed' (by_review index)."),
]
LocalOption = Annotated[
    Path | None,
    typer.Option(
        "--local",
        file_okay=False,
        help="With --html: a `clp demo --output` directory: the results of its saved offline run, not the stack's.",
    ),
]


def result_row(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": item.get("key"),
        "model": item.get("model_name"),
        "status": item.get("status"),
        "reason": item.get("reason"),
        "labels": [{"name": lb.get("name"), "confidence": lb.get("confidence")} for lb in item.get("labels", [])],
        "object_version": item.get("object_version"),
        "detected_at": item.get("detected_at"),
        "result_id": item.get("result_id"),
    }


def label_row(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": item.get("key"),
        "model": item.get("model_name"),
        "label": item.get("label"),
        "confidence": item.get("confidence"),
        "object_version": item.get("object_version"),
        "detected_at": item.get("detected_at"),
    }


def by_key(context: StackContext, key: str, model: str | None) -> list[dict[str, Any]]:
    deployment = context.deployment
    target = deployment.select(model)[0] if model else None
    items = queries.results_by_key(
        context.clients("dynamodb"), deployment.results_table, deployment.bucket, key, target
    )
    return [result_row(i) for i in items]


def by_label(
    context: StackContext, label: str, model: str | None, *, min_confidence: float | None, limit: int, by: str
) -> list[dict[str, Any]]:
    (target,) = context.deployment.select(model, one=True)
    items = queries.results_by_label(
        context.clients("dynamodb"),
        context.deployment.results_table,
        target.name,
        label,
        min_confidence=min_confidence,
        limit=limit,
        by=by,
    )
    return [label_row(i) for i in items]


def render_by_key(rows: list[dict[str, Any]]) -> None:
    shown = table("model", "status", "labels / reason", "object version", "detected at")
    for row in rows:
        labels = ", ".join(f"{lb['name']} {lb['confidence']:.1f}" for lb in row["labels"]) or (row["reason"] or "")
        shown.add_row(row["model"], row["status"], labels, row["object_version"], row["detected_at"])
    out.print(shown)


def render_by_label(label: str, rows: list[dict[str, Any]]) -> None:
    shown = table("key", "confidence", "detected at", title=f"{label} · model {rows[0]['model']}")
    for row in rows:
        shown.add_row(row["key"], f"{row['confidence']:.1f}", row["detected_at"])
    out.print(shown)


def _check_usage(
    key: str | None, label: str | None, by: str, html: Path | None, review: str | None, local: Path | None
) -> None:
    if html is None:
        for name, value in (("--review", review), ("--local", local)):
            if value is not None:
                raise UsageError(f"{name} is for a gallery: use it with --html")
        if (key is None) == (label is None):
            raise UsageError("give exactly one of --key or --label")
    elif sum(option is not None for option in (key, label, review)) > 1:
        raise UsageError("with --html, give at most one of --key, --label or --review")
    if by not in ("confidence", "time"):
        raise UsageError(f"--by must be 'confidence' or 'time', not {by!r}")
    if review is not None and review.upper() not in contract.REVIEW_STATES:
        raise UsageError(f"--review must be 'pending' or 'reviewed', not {review!r}")


# -- the gallery ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """Which results a gallery shows (at most one of key, label, review; none: all), as the options give it."""

    key: str | None
    label: str | None
    review: str | None  # PENDING or REVIEWED
    model: str | None
    min_confidence: float | None
    limit: int | None
    by: str

    @property
    def count(self) -> int:
        return self.limit or DEFAULT_LIMIT

    def describe(self, models: str) -> str:
        """How the results were chosen, for the page (the Scan describes itself)."""
        if self.key is not None:
            return f"Every result of {self.key}."
        if self.label is not None:
            order = "best first" if self.by == "confidence" else "newest first"
            return f"Images labelled {self.label} by {models}, {order}."
        if self.review is not None:
            state = "pending review" if self.review == contract.REVIEW_PENDING else "reviewed"
            return f"Results {state} of {models}, oldest first."
        return f"Every result of {models}, newest first."


def _review_selection(context: StackContext, selection: Selection) -> tuple[list[dict[str, Any]], str]:
    ddb, table_name = context.clients("dynamodb"), context.deployment.results_table
    items: list[dict[str, Any]] = []
    targets = context.deployment.select(selection.model)
    for target in targets:
        if len(items) < selection.count:
            items += review_items(ddb, table_name, target.name, str(selection.review), selection.count - len(items))
    return items, selection.describe(", ".join(t.name for t in targets))


def _scan_selection(context: StackContext, selection: Selection) -> tuple[list[dict[str, Any]], str]:
    names = [t.name for t in context.deployment.select(selection.model)] if selection.model else None
    limit = selection.count
    items, complete = scan_results(context.clients("dynamodb"), context.deployment.results_table, names, limit)
    items.sort(key=lambda item: str(item.get("detected_at", "")), reverse=True)
    notice = f"No index lists every result: these are the {len(items)} results a Scan of the results table found"
    if complete:
        return items, notice + " (all of them), newest first."
    return items, (
        f"{notice}, stopped at --limit {limit} (newest first among them). A Scan reads the table in no particular "
        "order and is billed for every item it reads: choose with --label, --key or --review for an index query."
    )


def stack_items(context: StackContext, selection: Selection) -> tuple[list[dict[str, Any]], str]:
    """The result items a gallery of the deployed stack shows, and a sentence saying how they were chosen."""
    deployment = context.deployment
    ddb = context.clients("dynamodb")
    if selection.key is not None:
        target = deployment.select(selection.model)[0] if selection.model else None
        found = queries.results_by_key(ddb, deployment.results_table, deployment.bucket, selection.key, target)
        return found, selection.describe("")
    if selection.label is not None:
        (target,) = deployment.select(selection.model, one=True)
        labelled = queries.results_by_label(
            ddb,
            deployment.results_table,
            target.name,
            selection.label,
            min_confidence=selection.min_confidence,
            limit=selection.count,
            by=selection.by,
        )
        # A label item carries one label; its result item carries all of them, with boxes and review state.
        return batch_get(ddb, deployment.results_table, result_keys(labelled)), selection.describe(target.name)
    if selection.review is not None:
        return _review_selection(context, selection)
    return _scan_selection(context, selection)


def _render(
    items: list[dict[str, Any]], images: Callable[[str, str, str | None], bytes | None], out_dir: Path, notice: str
) -> Path:
    with progress() as bar:
        task = add_task(bar, "images", len(image_refs(items)), status="thumbnails")
        return render_gallery(items, images, out_dir, notices=[notice], on_image=lambda: bar.advance(task))


def stack_gallery(context: StackContext, selection: Selection, out_dir: Path) -> tuple[Path, int]:
    """The gallery of the deployed stack: pictures from the uploads bucket, a progress bar on stderr meanwhile."""
    items, notice = stack_items(context, selection)
    images = S3Images(context.clients("s3"))
    path = _render(items, images, out_dir, notice)
    if images.unreadable:
        codes = ", ".join(f"{code} {count}" for code, count in sorted(images.unreadable.items()))
        err.print(f"{sum(images.unreadable.values())} image(s) could not be read ({codes}): shown without a picture")
    return path, len(items)


def local_gallery(local: Path, selection: Selection, out_dir: Path) -> tuple[Path, int]:
    """The gallery of a saved offline run: the same selections, made in memory over its saved table."""
    state = LocalState(local)
    try:
        everything = saved_items(state)
        models = ", ".join(m.name for m in state.config().models if selection.model in (None, m.name))
        chosen = select_saved(
            everything,
            key=selection.key,
            label=selection.label,
            review=selection.review,
            model=selection.model,
            min_confidence=selection.min_confidence,
            limit=selection.limit,
            by=selection.by,
        )
        notice = f"{selection.describe(models)} Saved offline run {local}: {len(chosen)} of {len(everything)} results."
        return write_saved_gallery(state, out_dir, chosen, notice), len(chosen)
    except StateError as exc:
        raise LocalStateError(str(exc)) from exc


@handle_errors
def results_command(
    key: KeyOption = None,
    label: LabelOption = None,
    model: ModelOption = None,
    min_confidence: MinConfidenceOption = None,
    limit: LimitOption = None,
    by: ByOption = "confidence",
    html: HtmlOption = None,
    review: ReviewOption = None,
    local: LocalOption = None,
    as_json: JsonOption = False,
    stack: StackOption = None,
    region: RegionOption = None,
) -> None:
    """Query the results table by image (--key) or by label (--label), without a scan; or write a gallery (--html)."""
    _check_usage(key, label, by, html, review, local)
    if html is not None:
        selection = Selection(key, label, review.upper() if review else None, model, min_confidence, limit, by)
        if local is not None:
            path, count = local_gallery(local, selection, html)
        else:
            path, count = stack_gallery(StackContext(stack, region), selection, html)
        if as_json:
            print_json({"gallery": str(path), "results": count})
        else:
            out.print(f"gallery of {count} result(s): {path}", highlight=False)
        return
    context = StackContext(stack, region)
    if label is None:
        rows = by_key(context, str(key), model)
    else:
        rows = by_label(context, label, model, min_confidence=min_confidence, limit=limit or DEFAULT_LIMIT, by=by)
    if as_json:
        print_json({"results": rows})
    elif not rows:
        out.print("no results")
    elif label is None:
        render_by_key(rows)
    else:
        render_by_label(label, rows)
