"""Smoke test of the benchmark package on tiny inputs (no timing asserts; `make bench` measures)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.handler import run_b4
from bench.sim import AlwaysOn, Controller, ControllerSettings, ReferencePolicy, lower_bound, simulate
from bench.traces import Trace


def tiny_trace() -> Trace:
    # 50 images at 10:00 on a 1-hour day, on-demand with a 30-min latency target.
    return Trace("tiny", tuple(600.0 for _ in range(50)), "on_demand", latency_target_seconds=1800.0, horizon=3600.0)


def test_controller_replay_bills_one_session_from_start_to_stopped():
    # Given a backlog of 50 (under the threshold of 100), the age trigger fires at 15 min
    settings = ControllerSettings(idle_grace_seconds=0.0, poll_interval_seconds=30.0, start_poll_interval_seconds=30.0)

    # When the controller replay serves it
    outcome = simulate(tiny_trace(), Controller(settings))

    # Then every image is detected within the target in one session, billed start → STOPPED
    assert outcome.detected == 50
    assert outcome.sessions == 1
    assert outcome.over_target == 0
    # start 300 s + first queue read 30 s later (drained) + stop 60 s, polls aligned to 30 s
    assert 300 + 30 + 60 <= outcome.iu_hours * 3600 <= 300 + 30 + 60 + 60


def test_reference_and_always_on_cost_more_than_the_controller_and_the_bound_is_lowest():
    trace = tiny_trace()
    controller = simulate(trace, Controller(ControllerSettings(idle_grace_seconds=0.0)))
    reference = simulate(trace, ReferencePolicy())
    always = simulate(trace, AlwaysOn())
    bound = lower_bound(trace)

    assert bound.iu_hours <= controller.iu_hours < reference.iu_hours < always.iu_hours
    assert reference.detected == always.detected == 50


def test_report_writes_markdown_and_plot(tmp_path: Path):
    pytest.importorskip("matplotlib", reason="the bench extra is not installed")
    from bench import report

    trace = tiny_trace()
    outcomes = [simulate(trace, Controller(ControllerSettings())), lower_bound(trace)]
    b4 = run_b4(batches=3, batch_size=10)
    results = {
        "machine": {"cpu": "test", "cores": 1, "python": "3", "platform": "x", "packages": {}},
        "quick": True,
        "seconds": 1.0,
        "b1": outcomes,
        "b4": b4,
    }

    path = report.write(results, tmp_path)

    text = path.read_text()
    assert "## B1" in text and "## B4" in text
    assert (tmp_path / "benchmarks" / "b1-cost.png").stat().st_size > 0
    assert b4.cpu_us_per_record > 0


def test_rehearsal_scaling_row_bills_within_the_analytic_bounds():
    pytest.importorskip("matplotlib", reason="the bench extra is not installed")
    from bench.rehearsal import analytic_bounds, measure_one
    from bench.report import b5_section
    from infra.config import load_config

    # Given cdk.json's model (5 TPS, 1 IU, idle grace 300 s, drain poll 60 s), a 300 s start and a 60 s stop
    model = load_config().models[0]

    # When 10 generated images (without the bad files) are rehearsed in this process
    row = measure_one(10, bad_files=False, timeout_seconds=300)

    # Then the bounds are start + N / (TPS x IUs) + idle grace + stop, and that plus one poll interval
    assert analytic_bounds(model, 10, 300.0, 60.0) == (662.0, 722.0)
    assert (row.lower_iu_seconds, row.upper_iu_seconds) == (662.0, 722.0)
    # ... one session billed between them, every image detected
    assert row.completed and row.sessions == 1
    assert row.uploads == row.detected == 10 and row.failed == 0
    assert row.lower_iu_seconds <= row.iu_seconds <= row.upper_iu_seconds
    assert row.within_target and 0.0 <= row.relative_error <= 60.0 / 662.0
    # ... and the report renders the row with its verdict
    text = "\n".join(b5_section([row], command="pytest"))
    assert "## B5 — rehearsal scaling (virtual time)" in text
    assert "| 10 | 10 |" in text and "**met** (1 of 1 sizes)" in text
