"""The gallery in a real browser (headless Chromium, from file://): filters, boxes on the screenshot, escaping."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from clp.gallery import BOX_COLOURS, render_gallery
from tests.gallery.browser import Browser
from tests.gallery.pictures import picture, result

BOLT = {"left": 0.25, "top": 0.2, "width": 0.5, "height": 0.6}
NUT = {"left": 0.55, "top": 0.1, "width": 0.3, "height": 0.35}
RESULTS = [
    result("parts/bolt-1.jpg", labels=[("bolt", 97.5, BOLT)]),
    result("parts/nut-2.jpg", labels=[("nut", 71.0, None)], review="PENDING", reasons=["LOW_CONFIDENCE"]),
    result("parts/empty-3.jpg", review="PENDING", reasons=["NO_LABEL"]),
    result("parts/nut-4.jpg", labels=[("bolt", 60.0, BOLT)], review="REVIEWED", reviewed=[("nut", NUT)]),
    result("parts/notes.txt", status="FAILED", reason="InvalidImageFormat"),
]
PICTURES = {
    "parts/bolt-1.jpg": picture(400, 300, BOLT),
    "parts/nut-2.jpg": picture(300, 300),
    "parts/empty-3.jpg": picture(300, 200),
    "parts/nut-4.jpg": picture(400, 300, NUT),
    "parts/notes.txt": b"delivery notes",
}


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    value = int(hex_colour.lstrip("#"), 16)
    return (value >> 16) & 255, (value >> 8) & 255, value & 255


def _near(image: Image.Image, x: float, y: float, colour: tuple[int, int, int], radius: int = 2) -> bool:
    """Whether a pixel within ``radius`` of (x, y) has ``colour`` (give or take anti-aliasing)."""
    for dx in range(-radius, radius + 1):
        for dy in range(-radius, radius + 1):
            px, py = round(x) + dx, round(y) + dy
            if 0 <= px < image.width and 0 <= py < image.height:
                pixel = image.getpixel((px, py))
                assert isinstance(pixel, tuple)
                if sum(abs(a - b) for a, b in zip(pixel[:3], colour, strict=True)) < 60:
                    return True
    return False


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_gallery(RESULTS, lambda _b, key, _v: PICTURES.get(key), tmp_path_factory.mktemp("gallery"))


@pytest.fixture
def page(browser: Browser, gallery: Path) -> Iterator[Browser]:
    browser.open(gallery)
    yield browser
    assert [entry for entry in browser.console() if entry["level"] == "SEVERE"] == []


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("", ["parts/bolt-1.jpg", "parts/empty-3.jpg", "parts/notes.txt", "parts/nut-2.jpg", "parts/nut-4.jpg"]),
        # a label the model predicted, or that a reviewer set
        ("bolt", ["parts/bolt-1.jpg", "parts/nut-4.jpg"]),
        ("nut", ["parts/nut-2.jpg", "parts/nut-4.jpg"]),
        ("(no label)", ["parts/empty-3.jpg"]),
    ],
)
def test_filter_by_label(page: Browser, label: str, expected: list[str]) -> None:
    # When a label is chosen
    page.select("filter-label", label)

    # Then exactly the cards with that label are shown, and the count says so
    assert page.visible_keys() == expected
    assert page.script("return document.getElementById('shown-count').textContent") == str(len(expected))


@pytest.mark.parametrize(
    ("status", "review", "expected"),
    [
        ("FAILED", "", ["parts/notes.txt"]),
        ("DETECTED", "", ["parts/bolt-1.jpg", "parts/empty-3.jpg", "parts/nut-2.jpg", "parts/nut-4.jpg"]),
        ("", "PENDING", ["parts/empty-3.jpg", "parts/nut-2.jpg"]),
        ("", "REVIEWED", ["parts/nut-4.jpg"]),
        ("", "NONE", ["parts/bolt-1.jpg", "parts/notes.txt"]),
        ("DETECTED", "NONE", ["parts/bolt-1.jpg"]),
    ],
)
def test_filter_by_status_and_review_state(page: Browser, status: str, review: str, expected: list[str]) -> None:
    page.select("filter-status", status)
    page.select("filter-review", review)

    assert page.visible_keys() == expected


def test_no_match_says_so(page: Browser) -> None:
    # When the filters exclude everything (a failure has no label)
    page.select("filter-status", "FAILED")
    page.select("filter-label", "bolt")

    # Then no card is shown and the page says why
    assert page.visible_keys() == []
    assert page.script("return document.getElementById('empty').hidden") is False


def test_filter_by_key_text(page: Browser) -> None:
    page.type("filter-key", "NUT-")

    assert page.visible_keys() == ["parts/nut-2.jpg", "parts/nut-4.jpg"]


def _edges(frame: Image.Image, box: dict[str, float]) -> tuple[float, float, float, float]:
    left, top = box["left"] * frame.width, box["top"] * frame.height
    return left, top, left + box["width"] * frame.width, top + box["height"] * frame.height


def test_the_box_is_drawn_where_the_result_says(page: Browser) -> None:
    # Given the card of an image whose object fills BOLT, labelled with that box
    colour = _rgb(BOX_COLOURS["predicted"])

    # When its picture is screenshot
    frame = page.element_image("article.card[data-key='parts/bolt-1.jpg'] .pic")

    # Then the frame is the picture, at its proportions (the object, dark, sits where the result says) ...
    assert frame.width / frame.height == pytest.approx(400 / 300, abs=0.02)
    left, top, right, bottom = _edges(frame, BOLT)
    middle_x, middle_y = (left + right) / 2, (top + bottom) / 2
    assert sum(frame.getpixel((round(middle_x), round(middle_y)))) < 150  # type: ignore[arg-type]
    # ... the box colour is on each of the four edges (the top one right of the label tag) ...
    assert _near(frame, left + 1, middle_y, colour)
    assert _near(frame, right - 2, middle_y, colour)
    assert _near(frame, left + 0.75 * (right - left), top + 1, colour)
    assert _near(frame, middle_x, bottom - 2, colour)
    # ... and nowhere else: not inside the box, not a few pixels outside it
    assert not _near(frame, middle_x, middle_y, colour, radius=10)
    for x, y in ((left - 8, middle_y), (right + 8, middle_y), (middle_x, top - 8), (middle_x, bottom + 8)):
        assert not _near(frame, x, y, colour)


def test_reviewed_boxes_have_their_own_colour_and_can_be_hidden(page: Browser) -> None:
    # Given a reviewed result: predicted "bolt" at BOLT, corrected to "nut" at NUT
    predicted, reviewed = _rgb(BOX_COLOURS["predicted"]), _rgb(BOX_COLOURS["reviewed"])
    card = "article.card[data-key='parts/nut-4.jpg'] .pic"

    # When its picture is screenshot
    frame = page.element_image(card)

    # Then the reviewer's box is drawn at NUT in the reviewed colour, the prediction's at BOLT in its own
    n_left, n_top, n_right, n_bottom = _edges(frame, NUT)
    assert _near(frame, n_right - 2, (n_top + n_bottom) / 2, reviewed)
    assert _near(frame, (n_left + n_right) / 2, n_bottom - 2, reviewed)
    b_left, b_top, _, b_bottom = _edges(frame, BOLT)
    assert _near(frame, b_left + 1, (b_top + b_bottom) / 2, predicted)

    # When the predicted boxes are switched off
    page.driver.find_element("id", "show-predicted").click()
    frame = page.element_image(card)

    # Then only the reviewer's box is left
    assert not _near(frame, b_left + 1, (b_top + b_bottom) / 2, predicted)
    assert _near(frame, n_right - 2, (n_top + n_bottom) / 2, reviewed)


def test_a_malicious_key_and_label_are_shown_as_text(browser: Browser, tmp_path: Path) -> None:
    # Given results whose key and label are markup that would run script if it were parsed
    key = 'evil/<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">\'.jpg'
    label = '<svg onload="window.__pwned = 3">'
    page_path = render_gallery(
        [result(key, labels=[(label, 99.0, BOLT)]), result("fine.jpg")],
        lambda _b, k, _v: picture(200, 150) if k == key else None,
        tmp_path,
    )

    # When the page is opened and that label is chosen in the filter
    browser.open(page_path)
    browser.select("filter-label", label)

    # Then nothing ran, the key and the label read as text, and the filter matched the card by that label
    assert browser.script("return window.__pwned") is None
    assert browser.visible_keys() == [key]
    assert browser.script("return document.querySelector('article.card .box .tag').textContent") == f"{label} 99.0"
    assert browser.script("return document.querySelectorAll('script, svg, img[src=x]').length") == 1
    assert [entry for entry in browser.console() if entry["level"] == "SEVERE"] == []
