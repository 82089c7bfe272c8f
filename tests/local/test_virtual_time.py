"""A rehearsal is a simulation whose clock moves only by modelled time: the same inputs give the same
sessions and bill whatever the host is doing and whatever the pacing, and the bill is the analytic one."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from infra.config import load_config
from localrun.rehearsal import RunResult, run_directory
from localrun.runtime import RuntimeOptions
from tests.support.images import write_image

IMAGES = 40


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("vt") / "images"
    for n in range(IMAGES):
        write_image(root / f"img-{n:03d}.jpg", "JPEG", (96, 72), (n * 5 % 255, 90, 30))
    return root


def _rehearse(images: Path, time_scale: float | None = None) -> RunResult:
    options = RuntimeOptions(start_delay_seconds=300.0, stop_delay_seconds=60.0, time_scale=time_scale)
    return run_directory(load_config(), images, runtime_options=options, timeout_seconds=300)


def _timeline(result: RunResult) -> list[tuple[float | None, ...]]:
    return [
        (s.start_requested_at, s.running_at, s.stop_requested_at, s.ended_at, s.inference_unit_seconds)
        for s in result.sessions
    ]


@contextmanager
def _cpu_burner() -> Iterator[None]:
    """A thread spinning in Python the whole time (it competes with the rehearsal for the interpreter)."""
    stop = threading.Event()

    def burn() -> None:
        n = 0
        while not stop.is_set():
            n = (n * 31 + 7) % 1_000_003

    thread = threading.Thread(target=burn, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


def test_the_same_rehearsal_gives_the_same_timeline_paced_or_not_idle_or_loaded(images: Path) -> None:
    # Given the same uploads rehearsed as fast as possible, paced for watching, and beside a CPU-burning thread
    fast = _rehearse(images)
    paced = _rehearse(images, time_scale=5000.0)
    with _cpu_burner():
        loaded = _rehearse(images)

    # Then every session starts, runs and stops at the same simulated second, and the bill is identical
    assert fast.completed and paced.completed and loaded.completed
    assert _timeline(fast) == _timeline(paced) == _timeline(loaded)
    assert fast.inference_unit_seconds == paced.inference_unit_seconds == loaded.inference_unit_seconds
    assert sorted(r.key for r in fast.results) == sorted(r.key for r in loaded.results)
    # ... and pacing took real time: at least the simulated span / 5000
    assert paced.wall_seconds >= (paced.ended_at - paced.started_at) / 5000.0


def test_the_bill_is_the_analytic_one(images: Path) -> None:
    # Given cdk.json's model: 5 TPS on 1 IU, 300 s idle grace, 60 s drain polls; a 300 s start, a 60 s stop
    model = load_config().models[0]
    life = model.lifecycle
    result = _rehearse(images)

    # Then one session billed start + N / (TPS x IUs) + idle grace + stop, plus at most one poll interval
    [session] = result.sessions
    analytic = 300.0 + IMAGES / (model.tps_per_inference_unit * life.min_inference_units) + life.idle_grace_seconds + 60
    assert analytic <= session.inference_unit_seconds <= analytic + life.poll_interval_seconds
    assert session.running_at is not None and session.running_at - session.start_requested_at == 300.0
    assert session.ended_at is not None and session.stop_requested_at is not None
    assert session.ended_at - session.stop_requested_at == 60.0
