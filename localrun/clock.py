"""Clocks for the offline runtime and the Custom Labels emulator.

Every time-dependent behaviour of the emulator (start/stop delays, the TPS limit, the billing
meter) reads a ``Clock``. The offline runtime runs on a :class:`VirtualClock`: simulated time
moves only by modelled time and jumps to the next deadline whenever every actor waits, so the
host's own speed never shows in the bill. Tests move time explicitly with ``ManualClock``;
``ScaledClock`` (real time times a factor) remains for code that wants paced real time.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Protocol, runtime_checkable

# 2026-01-01T00:00:00Z: a fixed, readable default start for simulated time.
DEFAULT_EPOCH = 1767225600.0


@runtime_checkable
class Clock(Protocol):
    """Source of (possibly simulated) wall-clock time in epoch seconds."""

    def now(self) -> float:
        """Return the current time in epoch seconds."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class SystemClock:
    """Real time."""

    def now(self) -> float:
        """Return ``time.time()``."""
        return time.time()

    def sleep(self, seconds: float) -> None:
        """Sleep for real."""
        time.sleep(max(0.0, seconds))


class ScaledClock:
    """Simulated time that runs ``scale`` times faster than real time.

    ``now()`` starts at ``start`` (default: the real time at construction) and advances
    ``scale`` simulated seconds per real second; ``sleep(s)`` blocks ``s / scale`` real seconds.
    """

    def __init__(self, scale: float = 60.0, start: float | None = None) -> None:
        if scale <= 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        self.scale = scale
        self._start = time.time() if start is None else start
        # monotonic, so that a wall-clock adjustment on the host cannot move simulated time backwards
        self._mono_start = time.monotonic()

    def now(self) -> float:
        """Return simulated epoch seconds."""
        return self._start + (time.monotonic() - self._mono_start) * self.scale

    def sleep(self, seconds: float) -> None:
        """Block for ``seconds / scale`` real seconds."""
        time.sleep(max(0.0, seconds) / self.scale)

    def to_real_seconds(self, seconds: float) -> float:
        """Convert a simulated duration to real seconds."""
        return seconds / self.scale


class ManualClock:
    """Time that only moves when told to; ``sleep`` advances it instead of blocking."""

    def __init__(self, start: float = DEFAULT_EPOCH) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        """Return the current manual time."""
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        """Advance by ``seconds`` without blocking, so code that polls terminates in tests."""
        self.advance(seconds)

    def advance(self, seconds: float) -> float:
        """Move time forward by ``seconds`` and return the new time."""
        if seconds < 0:
            raise ValueError(f"time cannot move backwards ({seconds} s)")
        with self._lock:
            self._now += seconds
            return self._now


class VirtualClockError(RuntimeError):
    """The virtual clock was used against its rules (a thread left that never entered, a stalled run)."""


class ClockHalted(BaseException):
    """Raised in a thread that sleeps on a :class:`VirtualClock` after :meth:`VirtualClock.halt`.

    A ``BaseException``, like ``GeneratorExit``: the code a halted actor runs (moto's interpreter, the batch
    processor, botocore) catches ``Exception`` to carry on, and a halted rehearsal's threads must not carry
    on (a controller execution would go on to tear down against the next test's moto, or real AWS)."""


class _Sleeper:
    __slots__ = ("deadline", "notified", "woken")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.woken = False
        self.notified = False


class VirtualClock:
    """Simulated time that moves only by modelled time: an autojump clock (the model of trio's MockClock).

    *Actors* are the threads whose work the simulation is made of (the rehearsal's driver, the event source
    pollers, controller executions). An actor is *busy* while it runs host code and *waiting* while it is in
    :meth:`sleep`. Host work takes no simulated time: ``now()`` stands still while any actor is busy. When
    the last busy actor starts to wait, time jumps to the earliest deadline and the actors due then wake, all
    at that instant. A thread becomes an actor with :meth:`acting` (or, for a thread another actor starts,
    :meth:`spawned`, which reserves its place before it exists so time cannot move in between). A thread
    that is not an actor and calls :meth:`sleep` is an actor for the length of that sleep.

    Rules for deterministic runs: an actor must not block on anything but this clock while other actors
    could need time to move (it would stall them: time cannot advance past a busy actor), and nothing an
    actor does may depend on real time.
    """

    def __init__(self, start: float = DEFAULT_EPOCH) -> None:
        self._now = start
        self._cond = threading.Condition(threading.Lock())
        self._busy = 0
        self._sleepers: list[tuple[float, int, _Sleeper]] = []
        self._order = itertools.count()
        self._local = threading.local()
        self.jumps = 0  # how many times time moved (progress displays, benchmarks)
        self._halted = False
        self._channels: dict[Hashable, list[_Sleeper]] = {}
        self._notified: dict[Hashable, int] = {}

    # -- reading --------------------------------------------------------------------------------------

    def now(self) -> float:
        """Simulated epoch seconds."""
        with self._cond:
            return self._now

    @property
    def busy_actors(self) -> int:
        with self._cond:
            return self._busy

    def next_deadline(self) -> float | None:
        """The earliest deadline any actor waits for (``None`` when none waits)."""
        with self._cond:
            waiting = [deadline for deadline, _, sleeper in self._sleepers if not sleeper.woken]
            return min(waiting) if waiting else None

    # -- actors ---------------------------------------------------------------------------------------

    def _depth(self) -> int:
        return int(getattr(self._local, "depth", 0))

    @contextmanager
    def acting(self) -> Iterator[None]:
        """The current thread is an actor inside the block (re-entrant)."""
        depth = self._depth()
        if depth == 0:
            with self._cond:
                self._busy += 1
        self._local.depth = depth + 1
        try:
            yield
        finally:
            self._local.depth = depth
            if depth == 0:
                self._leave()

    @contextmanager
    def idle(self) -> Iterator[None]:
        """Inside the block the calling actor is not busy (it waits for other actors, e.g. joins their
        threads); time may move meanwhile. It is busy again from the end of the block."""
        depth = self._depth()
        if depth == 0:
            yield
            return
        self._local.depth = 0
        self._leave()
        try:
            yield
        finally:
            with self._cond:
                self._busy += 1
            self._local.depth = depth

    def spawned(self, target: Callable[[], None]) -> Callable[[], None]:
        """Wrap ``target`` for a new thread: it is an actor from the moment this is called (by an actor, so
        time cannot move before the thread starts) until ``target`` returns."""
        with self._cond:
            self._busy += 1

        def run() -> None:
            self._local.depth = 1
            try:
                target()
            except ClockHalted:
                pass  # the simulation is over: the thread ends here
            finally:
                self._local.depth = 0
                self._leave()

        return run

    def _leave(self) -> None:
        with self._cond:
            if self._busy <= 0:
                raise VirtualClockError("an actor left that never entered")
            self._busy -= 1
            self._advance_if_idle()

    # -- waiting --------------------------------------------------------------------------------------

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of simulated time (returns at once for ``seconds <= 0``)."""
        self.wait(seconds)

    def wait(self, seconds: float, channel: Hashable | None = None) -> bool:
        """Wait up to ``seconds`` of simulated time; with a ``channel``, :meth:`notify` of that channel ends
        the wait early, at the current instant (a long poll that returns when a message arrives).

        Returns ``True`` when notified, ``False`` when the time was up.
        """
        if seconds <= 0:
            return False
        if self._depth() == 0:  # a thread outside the simulation: an actor for this wait only
            with self.acting():
                return self.wait(seconds, channel)
        with self._cond:
            if self._halted:
                raise ClockHalted
            sleeper = _Sleeper(self._now + seconds)
            heapq.heappush(self._sleepers, (sleeper.deadline, next(self._order), sleeper))
            if channel is not None:
                self._channels.setdefault(channel, []).append(sleeper)
            self._busy -= 1
            self._advance_if_idle()
            while not sleeper.woken:
                self._cond.wait()
            if channel is not None and sleeper in self._channels.get(channel, ()):
                self._channels[channel].remove(sleeper)
            if self._halted:
                raise ClockHalted
            return sleeper.notified

    def notify(self, channel: Hashable) -> int:
        """Wake, now, every actor sleeping on ``channel``; returns how many."""
        with self._cond:
            self._notified[channel] = self._notified.get(channel, 0) + 1
            sleepers = [s for s in self._channels.pop(channel, []) if not s.woken]
            for sleeper in sleepers:
                sleeper.woken = sleeper.notified = True
                self._busy += 1
            if sleepers:
                self._cond.notify_all()
            return len(sleepers)

    def notifications(self, channel: Hashable) -> int:
        """How many times ``channel`` was notified so far: a reader that remembers it knows whether what the
        channel announces (a mapping update) happened since it last looked."""
        with self._cond:
            return self._notified.get(channel, 0)

    def sleep_until(self, deadline: float) -> None:
        """Wait until simulated time ``deadline``."""
        self.sleep(deadline - self.now())

    def settle(self, timeout: float = 10.0) -> bool:
        """Let every other busy actor finish its host work and wait (or end) while simulated time stands still;
        ``False`` when some are still busy after ``timeout`` real seconds.

        Call as an actor, before :meth:`halt`: an actor halfway through host work when the simulation halts (a
        Step Functions execution between two states, started at the instant the run ends) would otherwise run on
        until its next wait, against whatever moto is active by then."""
        own = 1 if self._depth() > 0 else 0
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                if self._busy <= own:
                    return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.001)  # real time: the others run; simulated time cannot move while this actor is busy

    def halt(self) -> None:
        """End the simulation: time stops, and every sleeping actor (and any that sleeps later) gets
        :class:`ClockHalted`, so the threads of a finished rehearsal end instead of waiting forever."""
        with self._cond:
            self._halted = True
            while self._sleepers:
                _, _, sleeper = heapq.heappop(self._sleepers)
                if not sleeper.woken:
                    sleeper.woken = True
                    self._busy += 1
            self._cond.notify_all()

    def _advance_if_idle(self) -> None:
        """With the lock held: when no actor is busy, jump to the earliest deadline and wake who is due."""
        while self._sleepers and self._sleepers[0][2].woken:  # notified early: no longer waiting
            heapq.heappop(self._sleepers)
        if self._halted or self._busy > 0 or not self._sleepers:
            return
        deadline = self._sleepers[0][0]
        if deadline > self._now:
            self._now = deadline
            self.jumps += 1
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, sleeper = heapq.heappop(self._sleepers)
            if not sleeper.woken:
                sleeper.woken = True
                self._busy += 1  # on the sleeper's behalf, before anyone can see an idle simulation
        self._cond.notify_all()


__all__ = [
    "DEFAULT_EPOCH",
    "Clock",
    "ClockHalted",
    "ManualClock",
    "ScaledClock",
    "SystemClock",
    "VirtualClock",
    "VirtualClockError",
]
