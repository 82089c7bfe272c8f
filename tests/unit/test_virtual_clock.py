"""The offline runtime's VirtualClock: time moves only by modelled waits, never while an actor works."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from localrun.clock import DEFAULT_EPOCH, ClockHalted, VirtualClock, VirtualClockError


def _actor(clock: VirtualClock, body: Callable[[], None]) -> threading.Thread:
    """Start ``body`` in a thread that is an actor from now on (the caller must be an actor)."""
    thread = threading.Thread(target=clock.spawned(body), daemon=True)
    thread.start()
    return thread


def test_time_jumps_to_each_deadline_in_order_and_wakes_who_is_due() -> None:
    # Given two actors sleeping 5 and 3 simulated seconds
    clock = VirtualClock()
    woke: list[tuple[str, float]] = []
    with clock.acting():
        a = _actor(clock, lambda: (clock.sleep(5), woke.append(("a", clock.now()))))
        b = _actor(clock, lambda: (clock.sleep(3), woke.append(("b", clock.now()))))
        # When the driver waits longer than both
        clock.sleep(10)
    a.join(5)
    b.join(5)

    # Then each woke at its own deadline, earliest first, and time stopped at the driver's
    assert woke == [("b", DEFAULT_EPOCH + 3), ("a", DEFAULT_EPOCH + 5)]
    assert clock.now() == DEFAULT_EPOCH + 10
    assert clock.jumps == 3


def test_time_stands_still_while_any_actor_is_busy() -> None:
    # Given an actor doing host work until the test lets it finish
    clock = VirtualClock()
    release = threading.Event()
    seen: list[float] = []
    with clock.acting():
        worker = _actor(clock, lambda: (release.wait(5), seen.append(clock.now())))
        sleeper = _actor(clock, lambda: (clock.sleep(60), seen.append(clock.now())))
    # When the driver has left and the sleeper waits: the worker is still busy
    threading.Event().wait(0.2)
    assert clock.now() == DEFAULT_EPOCH
    assert seen == []

    # Then only once the worker is done does time move to the sleeper's deadline
    release.set()
    worker.join(5)
    sleeper.join(5)
    assert seen == [DEFAULT_EPOCH, DEFAULT_EPOCH + 60]


def test_a_spawned_thread_holds_time_before_it_runs() -> None:
    # Given an actor that registers a thread but starts it only later
    clock = VirtualClock()
    target_ran_at: list[float] = []
    with clock.acting():
        run = clock.spawned(lambda: target_ran_at.append(clock.now()))
        waiter = _actor(clock, lambda: clock.sleep(30))
    # When the driver leaves, only the not-yet-started thread is busy: time must not move
    threading.Event().wait(0.2)
    assert clock.now() == DEFAULT_EPOCH

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(5)
    waiter.join(5)
    assert target_ran_at == [DEFAULT_EPOCH]
    assert clock.now() == DEFAULT_EPOCH + 30


def test_notify_ends_a_wait_on_its_channel_at_the_current_instant() -> None:
    clock = VirtualClock()
    result: list[tuple[bool, float]] = []
    with clock.acting():
        _actor(clock, lambda: result.append((clock.wait(300, channel="queue"), clock.now())))
        clock.sleep(7)
        assert clock.notify("queue") == 1
        clock.sleep(1)
    assert result == [(True, DEFAULT_EPOCH + 7)]
    # ... and an unnotified wait times out
    with clock.acting():
        assert clock.wait(5, channel="other") is False
    assert clock.now() == DEFAULT_EPOCH + 13


def test_a_thread_outside_the_simulation_may_sleep() -> None:
    clock = VirtualClock()
    clock.sleep(42)
    assert clock.now() == DEFAULT_EPOCH + 42
    assert clock.busy_actors == 0


def test_halt_ends_every_sleeper_with_clock_halted() -> None:
    clock = VirtualClock()
    outcome: list[str] = []

    def sleeper() -> None:
        try:
            clock.sleep(1000)
        except ClockHalted:
            outcome.append("halted")

    with clock.acting():
        thread = _actor(clock, sleeper)
        clock.halt()
    thread.join(5)
    assert outcome == ["halted"]
    with pytest.raises(ClockHalted):
        clock.sleep(1)


def test_leaving_without_entering_is_refused() -> None:
    clock = VirtualClock()
    with pytest.raises(VirtualClockError):
        clock._leave()


def test_settle_lets_busy_actors_reach_their_wait_while_time_stands_still():
    # Given an actor halfway through host work (real time) before its next wait
    clock = VirtualClock()
    reached: list[float] = []

    def work() -> None:
        time.sleep(0.05)  # host work
        reached.append(clock.now())
        clock.sleep(60.0)

    with clock.acting():
        threading.Thread(target=clock.spawned(work), daemon=True).start()

        # When the driving actor settles the simulation
        settled = clock.settle(timeout=5.0)

        # Then the other actor finished its host work and waits, and no simulated time passed
        assert settled
        assert reached == [DEFAULT_EPOCH]
        assert clock.now() == DEFAULT_EPOCH
        clock.halt()
