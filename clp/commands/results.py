"""``clp results``: the results table by image (``--key``) or by label (``--label``), without a scan."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from clp import queries
from clp.deployment import StackContext
from clp.errors import UsageError
from clp.handling import handle_errors
from clp.options import JsonOption, ModelOption, RegionOption, StackOption
from clp.render import out, print_json, table

KeyOption = Annotated[str | None, typer.Option("--key", help="Object key in the uploads bucket: every result of it.")]
LabelOption = Annotated[str | None, typer.Option("--label", help="Label name: the images that have it.")]
MinConfidenceOption = Annotated[
    float | None,
    typer.Option("--min-confidence", min=0.0, max=100.0, help="With --label: at least this confidence."),
]
LimitOption = Annotated[int, typer.Option("--limit", min=1, max=1000, help="With --label: at most this many images.")]
ByOption = Annotated[
    str, typer.Option("--by", help="With --label: 'confidence' (best first) or 'time' (newest first).")
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


def _check_usage(key: str | None, label: str | None, by: str) -> None:
    if (key is None) == (label is None):
        raise UsageError("give exactly one of --key or --label")
    if by not in ("confidence", "time"):
        raise UsageError(f"--by must be 'confidence' or 'time', not {by!r}")


@handle_errors
def results_command(
    key: KeyOption = None,
    label: LabelOption = None,
    model: ModelOption = None,
    min_confidence: MinConfidenceOption = None,
    limit: LimitOption = 50,
    by: ByOption = "confidence",
    as_json: JsonOption = False,
    stack: StackOption = None,
    region: RegionOption = None,
) -> None:
    """Query the results table by image (--key) or by label (--label), without a scan."""
    _check_usage(key, label, by)
    context = StackContext(stack, region)
    if label is None:
        rows = by_key(context, str(key), model)
    else:
        rows = by_label(context, label, model, min_confidence=min_confidence, limit=limit, by=by)
    if as_json:
        print_json({"results": rows})
    elif not rows:
        out.print("no results")
    elif label is None:
        render_by_key(rows)
    else:
        render_by_label(label, rows)
