"""The gallery page without a browser: thumbnails, placeholders, boxes clipped to the picture, escaping, CSP."""

from __future__ import annotations

import base64
import hashlib
import io
import re
from pathlib import Path

import pytest
from PIL import Image

from clp.gallery import Box, render_gallery
from clp.gallery.sources import LocalImages, state_items
from clp.gallery.thumbnails import THUMBNAIL_SIZE
from tests.gallery.pictures import picture, result

BOX = {"left": 0.25, "top": 0.2, "width": 0.5, "height": 0.6}


class Fetches:
    """An ``image_bytes`` that serves fixed bytes per key and records what it was asked for."""

    def __init__(self, images: dict[str, bytes | None]) -> None:
        self.images = images
        self.calls: list[tuple[str, str, str | None]] = []

    def __call__(self, bucket: str, key: str, version_id: str | None) -> bytes | None:
        self.calls.append((bucket, key, version_id))
        return self.images.get(key)


def test_one_thumbnail_per_object_version_fetched_once(tmp_path: Path) -> None:
    # Given the same object version labelled by two models, and another version of it
    results = [
        result("a.jpg", labels=[("bolt", 90.0, BOX)]),
        result("a.jpg", labels=[("nut", 80.0, None)], model="other-model"),
        result("a.jpg", version="v2"),
    ]
    fetch = Fetches({"a.jpg": picture(800, 600)})
    ticks: list[None] = []

    # When the gallery is rendered
    page = render_gallery(results, fetch, tmp_path, on_image=lambda: ticks.append(None))

    # Then each object version was read once, by its version id, and scaled to the thumbnail size
    assert sorted(fetch.calls) == [("uploads", "a.jpg", "v1"), ("uploads", "a.jpg", "v2")]
    assert len(ticks) == 2
    thumbs = sorted((tmp_path / "thumbs").iterdir())
    assert len(thumbs) == 2
    assert Image.open(thumbs[0]).size == (THUMBNAIL_SIZE, THUMBNAIL_SIZE * 3 // 4)
    html = page.read_text(encoding="utf-8")
    assert html.count('<article class="card"') == 3
    assert all(f"thumbs/{t.name}" in html for t in thumbs)


def test_rendering_again_reuses_thumbnails_and_drops_stale_ones(tmp_path: Path) -> None:
    # Given a gallery of two images
    fetch = Fetches({"a.jpg": picture(100, 100), "b.jpg": picture(100, 100)})
    render_gallery([result("a.jpg"), result("b.jpg")], fetch, tmp_path)
    fetch.calls.clear()

    # When it is rendered again with one of them and a new one
    fetch.images["c.jpg"] = picture(100, 100)
    render_gallery([result("a.jpg"), result("c.jpg")], fetch, tmp_path)

    # Then only the new image is read, and the thumbnail of the image no longer shown is gone
    assert [call[1] for call in fetch.calls] == ["c.jpg"]
    assert len(list((tmp_path / "thumbs").iterdir())) == 2


def test_unreadable_images_get_a_placeholder_saying_why(tmp_path: Path) -> None:
    # Given a deleted object and a file that is no picture
    results = [result("gone.jpg"), result("notes.txt", status="FAILED", reason="InvalidImageFormat")]
    fetch = Fetches({"gone.jpg": None, "notes.txt": b"delivery notes"})

    # When the gallery is rendered
    html = render_gallery(results, fetch, tmp_path).read_text(encoding="utf-8")

    # Then neither has a thumbnail; each card says why, and the failure's reason is shown
    assert list((tmp_path / "thumbs").iterdir()) == []
    assert "image not available" in html
    assert "no preview: not an image Pillow can read" in html
    assert "InvalidImageFormat: Request has invalid image format" in html


def test_exif_orientation_is_applied_to_the_thumbnail(tmp_path: Path) -> None:
    # Given a JPEG stored 200x100 whose EXIF says "rotate 90° clockwise to display" (orientation 6)
    image = Image.new("RGB", (200, 100), (200, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes())

    # When the gallery is rendered
    render_gallery([result("turned.jpg")], Fetches({"turned.jpg": buffer.getvalue()}), tmp_path)

    # Then the thumbnail is upright (100x200), as Rekognition reads it
    (thumb,) = (tmp_path / "thumbs").iterdir()
    assert Image.open(thumb).size == (100, 200)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"left": 0.25, "top": 0.2, "width": 0.5, "height": 0.6}, Box(25.0, 20.0, 50.0, 60.0)),
        # Rekognition may report a box reaching past an edge (negative left, right beyond 1): the visible part
        ({"left": -0.1, "top": 0.5, "width": 0.3, "height": 0.8}, Box(0.0, 50.0, 20.0, 50.0)),
        ({"left": 1.2, "top": 0.1, "width": 0.1, "height": 0.1}, None),
        ({"left": 0.1}, None),
        (None, None),
    ],
)
def test_boxes_are_percentages_clipped_to_the_picture(raw: object, expected: Box | None) -> None:
    box = Box.of(raw)
    if expected is None:
        assert box is None
    else:
        assert box is not None
        assert (box.left, box.top, box.width, box.height) == pytest.approx(
            (expected.left, expected.top, expected.width, expected.height)
        )


def test_keys_and_labels_are_escaped(tmp_path: Path) -> None:
    # Given a key and a label made of markup
    key = "x/<script>alert(1)</script>\"'.jpg"
    label = "<img src=x onerror=alert(2)>"

    # When the gallery is rendered
    html = render_gallery([result(key, labels=[(label, 99.0, BOX)])], Fetches({}), tmp_path).read_text(encoding="utf-8")

    # Then neither appears as markup, only escaped
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "x/&lt;script&gt;alert(1)&lt;/script&gt;&#34;&#39;.jpg" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html


def test_the_content_security_policy_allows_exactly_the_page_script(tmp_path: Path) -> None:
    # When a gallery is rendered
    html = render_gallery([result("a.jpg")], Fetches({}), tmp_path).read_text(encoding="utf-8")

    # Then its CSP names the hash of its one inline script, and nothing else may run or load
    (script,) = re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', html)
    assert policy is not None
    assert f"script-src &#39;sha256-{digest}&#39;;" in policy.group(1)
    assert "default-src &#39;none&#39;" in policy.group(1)
    assert "http://" not in html and "https://" not in html  # no CDN, nothing fetched from the network


def test_local_images_stay_inside_their_directory(tmp_path: Path) -> None:
    # Given uploaded files under a directory, and a secret beside it
    images = tmp_path / "images"
    (images / "crate 1").mkdir(parents=True)
    (images / "crate 1" / "a.jpg").write_bytes(b"picture")
    (tmp_path / "secret.txt").write_text("no")
    source = LocalImages(images, "produce/")

    # Then a key maps to its file under the prefix, and nothing else is read
    assert source("b", "produce/crate 1/a.jpg", None) == b"picture"
    assert source("b", "produce/../secret.txt", None) is None
    assert source("b", "other/crate 1/a.jpg", None) is None
    assert source("b", "produce/crate 1", None) is None


def test_state_items_reads_the_result_items_of_a_saved_table(tmp_path: Path) -> None:
    # Given a saved table: a result item, a label item and a blank line, in DynamoDB JSON
    saved = tmp_path / "results.jsonl"
    saved.write_text(
        '{"record_type": {"S": "result"}, "key": {"S": "a.jpg"}, "labels": {"L": [{"M": {"name": {"S": "ripe"}, '
        '"confidence": {"N": "91.5"}}}]}}\n\n{"record_type": {"S": "label"}, "key": {"S": "a.jpg"}}\n',
        encoding="utf-8",
    )

    # Then only the result item is read, with plain numbers
    assert state_items(saved) == [
        {"record_type": "result", "key": "a.jpg", "labels": [{"name": "ripe", "confidence": 91.5}]}
    ]
