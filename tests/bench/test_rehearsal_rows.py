"""bench/rehearsal.py's bookkeeping: a size measured several times (no timing: `make bench` measures)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bench.rehearsal import ScalingRow, median_run, repeats_for
from bench.report import b5_section


def _run(wall: float, rss: float, iu_seconds: float = 720.0) -> ScalingRow:
    return ScalingRow(
        images=100, uploads=105, generate_seconds=0.5, wall_seconds=wall, peak_rss_mb=rss, sessions=1,
        iu_seconds=iu_seconds, lower_iu_seconds=701.0, upper_iu_seconds=761.0, detected=100, failed=5,
        dead_letters=0, completed=True, cpu_seconds=wall,
    )  # fmt: skip


def test_the_run_of_median_wall_stands_for_the_size() -> None:
    # Given five runs of one size, billed the same, at different speeds of the machine
    runs = [_run(2.4, 230.0), _run(1.9, 240.0), _run(3.1, 228.0), _run(2.0, 235.0), _run(2.2, 231.0)]
    # When they are reduced to the size's row
    row = median_run(runs)
    # Then it is the median run's, with every run's wall time kept and the highest peak RSS
    assert row.wall_seconds == 2.2 and row.cpu_seconds == 2.2
    assert row.wall_runs == (2.4, 1.9, 3.1, 2.0, 2.2)
    assert row.peak_rss_mb == 240.0
    # ... which survives the JSON line a child process prints, and shows in the report
    assert ScalingRow.from_row(row.row()) == replace(row, wall_runs=(2.4, 1.9, 3.1, 2.0, 2.2))
    assert "| 100 | 105 | 5: 1.9–3.1 | 2.2 |" in "\n".join(b5_section([row], command="pytest"))
    # ... and an even number of runs takes the faster of the two middle ones
    assert median_run(runs[:4]).wall_seconds == 2.0


def test_runs_that_bill_differently_fail_the_benchmark() -> None:
    # Given two runs of the same inputs that billed different IU-seconds (the rehearsal is meant to be deterministic)
    runs = [_run(2.0, 230.0), _run(2.1, 230.0, iu_seconds=780.0)]
    # When they are reduced, Then the benchmark fails and says so
    with pytest.raises(RuntimeError, match="billed differently"):
        median_run(runs)


def test_short_sizes_are_measured_more_often() -> None:
    assert [repeats_for(n) for n in (10, 100, 101, 1000, 1001, 10000)] == [5, 5, 3, 3, 1, 1]
