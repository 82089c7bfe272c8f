"""The gallery of a saved offline run (``clp demo``, ``clp results --html --local``): the results table the run
left in ``<output>/state/`` and the uploaded files the pictures came from."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clp.gallery.page import render_gallery
from clp.gallery.sources import LocalImages
from clp.queries import plain
from localrun.state import LocalState


def saved_items(state: LocalState) -> list[dict[str, Any]]:
    """The result items of the saved table (label items left out), as plain values, in key order."""
    items = (plain(raw) for raw in state.items())
    return [item for item in items if item.get("record_type") == "result"]


def write_saved_gallery(
    state: LocalState, out_dir: Path, items: Sequence[dict[str, Any]] | None = None, notice: str | None = None
) -> Path:
    """``out_dir/index.html`` of ``items`` (default: every result of the saved run), pictures read from the run's
    uploads (key = a model's prefix + the path under the images directory)."""
    shown = saved_items(state) if items is None else list(items)
    prefixes = [model.prefix for model in state.config().models]
    images = LocalImages(state.images_dir, *prefixes)
    if notice is None:
        where = state.images_dir
        shown_at = where.relative_to(Path.cwd()) if where.is_relative_to(Path.cwd()) else where
        notice = f"Offline run: {len(shown)} results, pictures read from {shown_at}."
    return render_gallery(shown, images, out_dir, title="Offline run results", notices=[notice])
