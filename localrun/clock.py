"""Clocks for the offline runtime and the Custom Labels emulator.

Every time-dependent behaviour of the emulator (start/stop delays, the TPS window, the
billing meter) reads a ``Clock`` so that a day of traffic can be rehearsed in minutes
(``ScaledClock``) and tests can move time explicitly (``ManualClock``).
"""

from __future__ import annotations

import threading
import time
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


__all__ = ["DEFAULT_EPOCH", "Clock", "ManualClock", "ScaledClock", "SystemClock"]
