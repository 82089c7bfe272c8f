"""The gallery page: cards, thumbnails and one self-contained ``index.html``."""

from __future__ import annotations

import base64
import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, StrictUndefined
from markupsafe import Markup

from clp.gallery.cards import NO_LABEL, REVIEW_NONE, Card, ImageRef, card, label_names
from clp.gallery.thumbnails import ThumbnailError, write_thumbnail

# (bucket, key, S3 version id or None) -> the object's bytes, or None when it cannot be read (deleted, denied).
ImageSource = Callable[[str, str, str | None], bytes | None]
# Saturated colours no produce photo is made of, so a box stands out (and a screenshot can find it).
BOX_COLOURS = {"predicted": "#ff00ff", "reviewed": "#00c8ff"}
THUMBS = "thumbs"
_THUMB_NAME = re.compile(r"^[0-9a-f]{24}\.jpg$")


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _hash_source(text: str) -> str:
    """A CSP hash source for an inline element's text (CSP Level 3, 'hash-source')."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def image_refs(results: Iterable[Mapping[str, Any]]) -> list[ImageRef]:
    """The distinct object versions of ``results``, in order: the images of :func:`render_gallery` (each fetched at
    most once, and not at all when its thumbnail is in the output directory already)."""
    seen: dict[str, ImageRef] = {}
    for item in results:
        ref = card(item).image
        seen.setdefault(ref.digest, ref)
    return list(seen.values())


def _thumbnails(
    cards: Sequence[Card], image_bytes: ImageSource, directory: Path, on_image: Callable[[], None] | None
) -> tuple[dict[str, str | None], dict[str, str]]:
    """One thumbnail per object version: the page's relative path to it, or the reason there is none."""
    directory.mkdir(parents=True, exist_ok=True)
    thumbs: dict[str, str | None] = {}
    notes: dict[str, str] = {}
    for c in cards:
        digest = c.image.digest
        if digest in thumbs:
            continue
        path = directory / f"{digest}.jpg"
        # An object version's bytes never change (the ETag stands in for it when the bucket is unversioned), so a
        # thumbnail from an earlier run is still right: rendering again fetches only the new images.
        if not path.is_file():
            data = image_bytes(c.image.bucket, c.image.key, c.image.version_id)
            if data is None:
                notes[digest] = "image not available"
            else:
                try:
                    write_thumbnail(data, path)
                except ThumbnailError:
                    notes[digest] = "no preview: not an image Pillow can read"
        if on_image is not None:
            on_image()
        thumbs[digest] = f"{THUMBS}/{path.name}" if digest not in notes else None
    for stale in directory.iterdir():  # thumbnails of results no longer shown
        if _THUMB_NAME.match(stale.name) and stale.name[:-4] not in thumbs:
            stale.unlink()
    return thumbs, notes


def _counts(cards: Sequence[Card]) -> dict[str, int]:
    counts = Counter(c.status for c in cards) + Counter(c.review for c in cards)
    return {"total": len(cards), **{name: counts[name] for name in ("DETECTED", "FAILED", "PENDING", "REVIEWED")}}


def render_gallery(
    results: Sequence[Mapping[str, Any]],
    image_bytes: ImageSource,
    out_dir: Path,
    *,
    title: str = "Custom Labels results",
    notices: Sequence[str] = (),
    on_image: Callable[[], None] | None = None,
) -> Path:
    """Write ``out_dir/index.html`` and ``out_dir/thumbs/*.jpg`` for ``results`` (result items, shown in this
    order) and return the page's path.

    ``image_bytes`` is called once per object version without a thumbnail yet; ``on_image`` once per object version
    when its thumbnail is done (for a progress bar of :func:`image_refs` steps). ``notices`` are shown under the
    title (how the results were chosen, what was left out).
    """
    cards = [card(item) for item in results]
    out_dir.mkdir(parents=True, exist_ok=True)
    thumbs, notes = _thumbnails(cards, image_bytes, out_dir / THUMBS, on_image)
    script = _asset("gallery.js")
    css = ":root { " + " ".join(f"--{k}: {v};" for k, v in BOX_COLOURS.items()) + " }\n" + _asset("gallery.css")
    # Nothing on the page may load or run but its own script (by hash) and its thumbnails: even markup that got
    # past the escaping could not execute.
    csp = (
        f"default-src 'none'; script-src {_hash_source(script)}; style-src 'unsafe-inline'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'"
    )
    environment = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    page = environment.from_string(_asset("index.html")).render(
        title=title,
        notices=list(notices),
        cards=cards,
        thumbs=thumbs,
        notes=notes,
        labels=label_names(cards),
        models=sorted({c.model_name for c in cards if c.model_name}),
        counts=_counts(cards),
        no_label=NO_LABEL,
        review_none=REVIEW_NONE,
        generated_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        csp=csp,
        # our own files, verbatim: escaping would break them (and change the script's hash)
        css=Markup(css),
        script=Markup(script),
    )
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
