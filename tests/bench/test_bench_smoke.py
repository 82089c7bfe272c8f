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
    from bench.replay import CrossCheck

    trace = tiny_trace()
    outcomes = [simulate(trace, Controller(ControllerSettings())), lower_bound(trace)]
    check = CrossCheck("tiny", "controller", real_iu_hours=0.2, rules_iu_hours=0.23, real_sessions=1, rules_sessions=1)
    b4 = run_b4(batches=3, batch_size=10)
    results = {
        "machine": {"cpu": "test", "cores": 1, "python": "3", "platform": "x", "packages": {}},
        "quick": True,
        "seconds": 1.0,
        "b1": outcomes,
        "b1_checks": [check],
        "b4": b4,
    }

    path = report.write(results, tmp_path)

    text = path.read_text()
    assert "## B1" in text and "## B4" in text
    assert "The **controller rows are the real thing in virtual time**" in text
    assert "| tiny | controller | 0.200 | 0.230 | +15.0% (DISAGREES) | 1 / 1 |" in text
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


def test_replay_runs_the_real_controller_on_a_tiny_trace_and_the_rules_copy_agrees():
    from bench.replay import cross_check, replay

    # Given 50 uploads at 10 min (under the threshold of 100) with a 30-min target: the alarm's age limit is
    # 30 - 15 = 15 min, so the backlog trigger fires when they are 15 min old
    trace = tiny_trace()

    # When the trace is replayed through the offline runtime, the deployed triggers and the real controller
    run = replay(trace, progress=None)

    # Then one session served every image: started by the alarm's one transition, billed start (300 s) + the
    # drain and the 300-s idle grace (to a 30-s poll) + stop (60 s)
    outcome = run.outcome
    assert outcome.detected == 50 and outcome.sessions == 1 and outcome.over_target == 0
    assert run.executions["backlog"] == 1 and run.dead_letters == 0
    starting, running, stopping = outcome.phases[0]
    assert (starting, stopping) == (300.0, 60.0)
    assert 300.0 + 1.0 <= running <= 300.0 + 60.0
    # ... no image detected before the alarm (15 min) plus the start (5 min), nor after the target
    assert 900.0 + 300.0 <= min(outcome.latencies) <= max(outcome.latencies) <= trace.latency_target_seconds
    # ... and bench.sim's copy of the rules bills the same within the benchmark's tolerance
    assert cross_check(trace, outcome).agrees


def test_b1_fails_when_the_rules_copy_disagrees_with_the_real_controller(monkeypatch: pytest.MonkeyPatch):
    from bench import replay as b1

    trace = tiny_trace()

    def fake_replay(trace: Trace, *, idle_grace: float | None = None, policy: str = "controller", **_: object):
        # a "real" controller billing 10 % more than the copy
        outcome = simulate(trace, Controller(b1.controller_settings(trace, idle_grace=idle_grace)))
        outcome.policy, outcome.iu_hours = policy, outcome.iu_hours * 1.1
        return b1.Replay(outcome, 0.0, 0.0, {}, 0, 0, 0)

    monkeypatch.setattr(b1, "replay", fake_replay)

    with pytest.raises(b1.CrossCheckError, match=r"tiny / controller: real .* \(1 sessions\), rules .*-9\.1%"):
        b1.run_b1([trace], progress=None)
