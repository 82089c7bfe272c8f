"""Clocks: simulated time for the emulator and the offline runtime."""

from __future__ import annotations

import time

import pytest

from localrun.clock import DEFAULT_EPOCH, Clock, ManualClock, ScaledClock, SystemClock


def test_scaled_clock_runs_scale_times_faster_than_real_time() -> None:
    # Given a clock 600x faster than real time
    clock = ScaledClock(scale=600.0, start=1000.0)
    # When 50 ms of real time pass
    time.sleep(0.05)
    # Then about 30 simulated seconds have passed (generous bounds for a loaded CI machine)
    elapsed = clock.now() - 1000.0
    assert 29.0 <= elapsed < 300.0


def test_scaled_clock_sleep_blocks_for_the_scaled_down_duration() -> None:
    # Given a clock 100x faster than real time
    clock = ScaledClock(scale=100.0)
    # When sleeping 5 simulated seconds
    started = time.monotonic()
    clock.sleep(5.0)
    real = time.monotonic() - started
    # Then about 50 ms of real time passed, and the conversion helper agrees
    assert 0.045 <= real < 1.0
    assert clock.to_real_seconds(5.0) == pytest.approx(0.05)


def test_scaled_clock_rejects_a_non_positive_scale() -> None:
    with pytest.raises(ValueError, match="scale"):
        ScaledClock(scale=0)


def test_manual_clock_moves_only_when_told() -> None:
    # Given a manual clock
    clock = ManualClock()
    # When time is advanced and slept
    first = clock.now()
    clock.advance(10)
    clock.sleep(5)
    # Then it started at the default epoch and moved exactly 15 s, without blocking
    assert first == DEFAULT_EPOCH
    assert clock.now() == DEFAULT_EPOCH + 15


def test_manual_clock_refuses_to_go_backwards() -> None:
    with pytest.raises(ValueError, match="backwards"):
        ManualClock().advance(-1)


def test_every_clock_satisfies_the_protocol() -> None:
    # Given one clock of each kind, Then each is a Clock and SystemClock tracks real time
    clocks = [SystemClock(), ScaledClock(), ManualClock()]
    assert all(isinstance(c, Clock) for c in clocks)
    assert abs(SystemClock().now() - time.time()) < 1.0
