"""Upload traces for B1: when each image lands in the queue, in seconds from the start of the day."""

from __future__ import annotations

import random
from dataclasses import dataclass

DAY = 86_400.0


@dataclass(frozen=True)
class Trace:
    """A day of uploads and how the model is configured to serve it."""

    name: str
    arrivals: tuple[float, ...]
    mode: str  # "scheduled" or "on_demand"
    latency_target_seconds: float | None = None
    window_open: float | None = None  # scheduled: when the batch window opens (seconds from trace start)
    window_seconds: float = 2 * 3600.0
    horizon: float = DAY

    @property
    def images(self) -> int:
        return len(self.arrivals)


def nightly(images: int = 5000, seed: int = 1) -> Trace:
    """Uploads spread uniformly over the 24 h before a 02:00 window (the day runs 02:00 → 02:00)."""
    rng = random.Random(seed)
    arrivals = tuple(sorted(rng.uniform(0, DAY) for _ in range(images)))
    return Trace("nightly", arrivals, "scheduled", window_open=DAY, horizon=DAY + 2 * 3600.0)


def bursty(bursts: int = 10, per_burst: int = 300, seed: int = 2, burst_seconds: float = 60.0) -> Trace:
    """``bursts`` bursts of ``per_burst`` images (each over ``burst_seconds``) at random times of the day."""
    rng = random.Random(seed)
    starts = sorted(rng.uniform(0, DAY - 3600.0) for _ in range(bursts))
    arrivals = tuple(sorted(s + rng.uniform(0, burst_seconds) for s in starts for _ in range(per_burst)))
    return Trace("bursty", arrivals, "on_demand", latency_target_seconds=30 * 60.0)


def trickle(every_seconds: float = 300.0) -> Trace:
    """One image every five minutes for 24 h."""
    count = int(DAY // every_seconds)
    return Trace("trickle", tuple(i * every_seconds for i in range(count)), "on_demand", latency_target_seconds=3600.0)


def all_traces(quick: bool = False) -> list[Trace]:
    if quick:
        return [nightly(1000), bursty(bursts=4, per_burst=150), trickle(every_seconds=600.0)]
    return [nightly(), bursty(), trickle()]
