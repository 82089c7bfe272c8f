"""Bad input through the real handler, the emulator and the real controller: one offline run for the
whole matrix (module fixture), one parametrized test per input with its documented outcome."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from infra.constants import DLQ_MAX_RECEIVE_COUNT
from lambdas.common.observability import SERVICE
from localrun.runtime import LOCAL_BUCKET, OfflineRuntime
from tests.support import ids
from tests.support.events import s3_test_event
from tests.support.images import Size, image, jpeg, noise
from tests.support.reliability import Outcome, check_invariants, record
from tests.support.scenarios import run_scenario

SUITE = "bad input"
MODEL = ids.MODEL
BROWN = (120, 60, 30)


def _image(fmt: str, size: Size = (96, 96)) -> bytes:
    return image(fmt, size, BROWN)


def _big_png() -> bytes:
    # Noise does not compress: a 2,400 px square PNG is about 17 MB, over the 15 MB S3-object limit.
    return noise("PNG", (2400, 2400), compress_level=0)


# (case, relative key, body factory, expected status, expected reason)
MATRIX: list[tuple[str, str, Any, str, str | None]] = [
    ("zero-byte file", "zero.jpg", lambda: b"", "FAILED", "InvalidImageFormat"),
    ("text file", "notes.txt", lambda: b"not an image\n", "FAILED", "InvalidImageFormat"),
    ("text named .png", "text-named.png", lambda: b"still not an image", "FAILED", "InvalidImageFormat"),
    ("GIF", "anim.gif", lambda: _image("GIF"), "FAILED", "InvalidImageFormat"),
    ("BMP", "bitmap.bmp", lambda: _image("BMP"), "FAILED", "InvalidImageFormat"),
    ("WebP", "photo.webp", lambda: _image("WEBP"), "FAILED", "InvalidImageFormat"),
    ("truncated JPEG", "truncated.jpg", lambda: jpeg(5, (256, 256))[:300], "FAILED", "InvalidImageFormat"),
    ("32 px image", "tiny.png", lambda: _image("PNG", (32, 32)), "FAILED", "InvalidParameter"),
    ("5000 px wide image", "wide.jpg", lambda: _image("JPEG", (5000, 80)), "FAILED", "InvalidParameter"),
    ("17 MB PNG", "huge.png", _big_png, "FAILED", "ImageTooLarge"),
    ("key with spaces", "a key with spaces.jpg", lambda: jpeg(11), "DETECTED", None),
    ("key with +", "a+b+c.jpg", lambda: jpeg(12), "DETECTED", None),
    ("key with %", "100% ripe %2B.jpg", lambda: jpeg(13), "DETECTED", None),
    ("unicode key", "桃 pêche ñ.jpg", lambda: jpeg(14), "DETECTED", None),
    ("key with brackets", "[crate] (1) {a}.jpg", lambda: jpeg(15), "DETECTED", None),
    ("key with #", "lot #7.jpg", lambda: jpeg(16), "DETECTED", None),
    ("deep prefix", "a/b/c/d/e/f/g/h/deep.jpg", lambda: jpeg(17), "DETECTED", None),
    ("upper-case .JPG", "UPPER.JPG", lambda: jpeg(18), "DETECTED", None),
    ("upper-case .PNG", "UPPER.PNG", lambda: _image("PNG"), "DETECTED", None),
]
OUTSIDE_KEY = "elsewhere/not-for-any-model.jpg"
MALFORMED_BODY = '{"this is": "not an S3 notification"'
TEST_EVENT = json.dumps(s3_test_event(LOCAL_BUCKET))


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


CAPTURE = _Capture()


@pytest.fixture(scope="module")
def matrix_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Outcome, Path]:
    log = tmp_path_factory.mktemp("badinput") / "lambda.log"

    def outside(runtime: OfflineRuntime) -> None:
        runtime.client("s3").put_object(Bucket=LOCAL_BUCKET, Key=OUTSIDE_KEY, Body=jpeg(99))
        logging.getLogger(SERVICE).addHandler(CAPTURE)

    outcome = run_scenario(
        {key: factory() for _, key, factory, _, _ in MATRIX},
        before_run=outside,
        extra_messages={MODEL: [TEST_EVENT, MALFORMED_BODY]},
        log_path=log,
    )
    logging.getLogger(SERVICE).removeHandler(CAPTURE)
    return outcome, log


@pytest.mark.parametrize(
    ("case", "key", "status", "reason"),
    [(case, key, status, reason) for case, key, _, status, reason in MATRIX],
    ids=[case for case, *_ in MATRIX],
)
def test_bad_input_gets_its_documented_outcome(
    matrix_run: tuple[Outcome, Path], case: str, key: str, status: str, reason: str | None
) -> None:
    # Given the whole matrix uploaded in one offline run
    outcome, _ = matrix_run
    rows = {row.key: row for row in outcome.runs[MODEL].results}
    prefix = outcome.runs[MODEL].keys[0].split("/")[0] + "/"

    # Then this input has exactly the documented terminal result
    row = rows[prefix + key]
    observed = f"{row.status} {row.reason or ''}".strip()
    record(SUITE, case, key, f"{status} {reason or ''}".strip(), observed, (row.status, row.reason) == (status, reason))
    assert (row.status, row.reason) == (status, reason)


def test_matrix_run_keeps_the_invariants(matrix_run: tuple[Outcome, Path]) -> None:
    outcome, _ = matrix_run
    check_invariants(outcome)
    assert len(outcome.runs[MODEL].results) == len(MATRIX)


def test_object_outside_every_model_prefix_is_ignored(matrix_run: tuple[Outcome, Path]) -> None:
    # Given an upload under no model's prefix
    outcome, _ = matrix_run
    # Then it has no result and no event (S3 never notifies a queue for it)
    assert all(row.key != OUTSIDE_KEY for row in outcome.runs[MODEL].results)
    assert all(key != OUTSIDE_KEY for key, _, _ in outcome.events)
    record(SUITE, "object outside every model prefix", OUTSIDE_KEY, "ignored (no result)", "no result, no event")


def test_s3_test_event_is_consumed_without_a_result(matrix_run: tuple[Outcome, Path]) -> None:
    # Given the s3:TestEvent S3 sends when notifications are configured
    outcome, _ = matrix_run
    # Then it is consumed (not dead-lettered) and produces nothing
    assert TEST_EVENT not in outcome.dead_letter_bodies[MODEL]
    assert outcome.queued[MODEL] == 0
    record(SUITE, "s3:TestEvent", "message on the queue", "consumed, no result", "consumed, no result, not in DLQ")


def test_malformed_sqs_body_is_dead_lettered_with_a_logged_reason(matrix_run: tuple[Outcome, Path]) -> None:
    # Given a message that is not an S3 notification
    outcome, _log = matrix_run
    # Then it ends in the DLQ (after maxReceiveCount) and the reason was logged, with no crash loop
    assert outcome.dead_letter_bodies[MODEL] == [MALFORMED_BODY]
    logged = [str(getattr(r, "reason", "")) for r in CAPTURE.records if r.getMessage() == "malformed message"]
    assert len(logged) >= DLQ_MAX_RECEIVE_COUNT
    assert all(reason.startswith("body is not JSON") for reason in logged)
    assert outcome.runs[MODEL].completed
    record(
        SUITE,
        "malformed SQS body",
        "non-JSON message on the queue",
        "DLQ with a logged reason",
        f"DLQ after {len(logged)} logged failures, reason {logged[0]!r}",
    )
