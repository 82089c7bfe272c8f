"""B1's simulated policies: a discrete-event replay against the Custom Labels emulator on a ManualClock.

B1's controller rows run the real controller in virtual time (``bench.replay``); this module keeps the
policies that only exist here (``AlwaysOn``, ``ReferencePolicy``), the lower bound, and ``Controller``, a copy
of the controller's decision rules and triggers that ``bench.replay`` runs as a cross-check only (the benchmark
fails when it bills more than 5 % away from the real controller on a trace).

What is real here: the emulator (model lifecycle STOPPED → STARTING → RUNNING → STOPPING → STOPPED with its
start/stop delays, and its billing meter in IU-seconds). What is simulated: the queue (FIFO, visible depth,
in flight and age of the oldest message), the detect throughput (TPS × IUs images per second while the
mapping is enabled and the model RUNNING) and the Step Functions timing (one decision per poll, 1-s steps).
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from bench.traces import DAY, Trace
from localrun.clock import DEFAULT_EPOCH, ManualClock
from localrun.emulator import BillingSession, CustomLabelsEmulator

PROJECT_ARN = "arn:aws:rekognition:us-east-1:111122223333:project/bench/1767225600000"
VERSION_ARN = "arn:aws:rekognition:us-east-1:111122223333:project/bench/version/bench.1/1767225600000"
PRICE_PER_IU_HOUR = 4.0
START_LATENCY_MARGIN = 15 * 60.0  # CONTROLLER_START_LATENCY_MARGIN_MINUTES
RECHECK_SECONDS = 10 * 60.0  # CONTROLLER_RECHECK_MINUTES
ALARM_PERIOD = 60.0  # CONTROLLER_BACKLOG_PERIOD_MINUTES


@dataclass(frozen=True)
class ControllerSettings:
    """The ``Lifecycle`` fields the controller's decisions depend on (seconds)."""

    backlog_threshold: int = 100
    idle_grace_seconds: float = 300.0
    poll_interval_seconds: float = 30.0
    start_poll_interval_seconds: float = 30.0
    max_runtime_seconds: float = 240 * 60.0
    lead_seconds: float = 300.0
    inference_units: int = 1


class World:
    """Queue + emulator + mapping, advanced one second at a time."""

    def __init__(self, trace: Trace, *, tps: float, start_delay: float, stop_delay: float, units: int) -> None:
        self.trace = trace
        self.clock = ManualClock(DEFAULT_EPOCH)
        self.t0 = DEFAULT_EPOCH
        self.emulator = CustomLabelsEmulator(
            clock=self.clock, start_delay_seconds=start_delay, stop_delay_seconds=stop_delay
        )
        self.emulator.add_model(project_arn=PROJECT_ARN, project_version_arn=VERSION_ARN, tps_per_inference_unit=tps)
        self.capacity = tps * units
        self.units = units
        self.queue: deque[float] = deque()
        self.in_flight: deque[float] = deque()  # when each image being detected is done (and deleted)
        self.latencies: list[float] = []
        self.mapping_enabled = False
        self._next_arrival = 0
        self._credit = 0.0

    @property
    def t(self) -> float:
        return self.clock.now() - self.t0

    def status(self) -> str:
        return self.emulator.status(VERSION_ARN)

    def start_model(self) -> None:
        self.emulator.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=self.units)

    def stop_model(self) -> None:
        self.emulator.stop_project_version(ProjectVersionArn=VERSION_ARN)

    def visible(self) -> int:
        return len(self.queue)

    def depth(self) -> int:
        """Visible + in flight. An image whose detection ends at this very instant is still in flight: the real
        controller's queue read at the instant a detect batch ends sees the batch before the poller deletes it
        (found by the cross-check against the real controller, bench.replay)."""
        return len(self.queue) + len(self.in_flight)

    def oldest_age(self) -> float:
        return self.t - self.queue[0] if self.queue else 0.0

    def arrivals_done(self) -> bool:
        return self._next_arrival >= len(self.trace.arrivals)

    def step(self) -> None:
        """Enqueue what arrived, detect up to capacity for one second, then advance the clock."""
        now = self.t
        while self.in_flight and self.in_flight[0] <= now:
            self.in_flight.popleft()
        arrivals = self.trace.arrivals
        while self._next_arrival < len(arrivals) and arrivals[self._next_arrival] <= now:
            self.queue.append(arrivals[self._next_arrival])
            self._next_arrival += 1
        if self.mapping_enabled and self.queue and self.status() == "RUNNING":
            self._credit = min(self._credit + self.capacity, self.capacity)
            while self.queue and self._credit >= 1.0:
                self._credit -= 1.0
                self.latencies.append(now + 1.0 - self.queue.popleft())
                self.in_flight.append(now + 1.0)
        else:
            self._credit = 0.0
        self.clock.advance(1.0)


class Policy(Protocol):
    name: str

    def tick(self, world: World) -> None: ...

    def idle(self, world: World) -> bool: ...


@dataclass
class Controller:
    """Replay of the controller ASL's decisions plus its triggers (schedule, backlog alarm, re-check)."""

    settings: ControllerSettings
    name: str = "controller"
    state: str = "IDLE"
    next_at: float = 0.0
    idle_since: float | None = None
    run_deadline: float = math.inf
    window_end: float | None = None
    alarm: bool = False
    scheduled_done: bool = False
    executions: int = 0

    def _start(self, world: World, window_end: float | None) -> None:
        self.executions += 1
        world.start_model()
        self.state, self.window_end, self.idle_since = "STARTING", window_end, None
        self.next_at = world.t + self.settings.start_poll_interval_seconds

    def _triggers(self, world: World) -> None:
        trace, t, s = world.trace, world.t, self.settings
        if trace.mode == "scheduled" and not self.scheduled_done and trace.window_open is not None:
            fire = trace.window_open - s.lead_seconds
            if t >= fire:
                self.scheduled_done = True
                window_end = fire + s.lead_seconds + trace.window_seconds
                if self.state == "IDLE":
                    self._start(world, window_end)
            return
        if trace.mode != "on_demand" or t % ALARM_PERIOD != 0:
            return
        assert trace.latency_target_seconds is not None
        age_limit = max(60.0, trace.latency_target_seconds - START_LATENCY_MARGIN)
        was = self.alarm
        self.alarm = world.visible() >= s.backlog_threshold or world.oldest_age() >= age_limit
        transition = self.alarm and not was
        recheck = self.alarm and t % RECHECK_SECONDS == 0
        # The lock admits one session: a trigger during a session ends LockHeld without side effect.
        if (transition or recheck) and self.state == "IDLE":
            self._start(world, None)

    def tick(self, world: World) -> None:
        self._triggers(world)
        t, s = world.t, self.settings
        if self.state == "IDLE" or t < self.next_at:
            return
        status = world.status()
        if self.state == "STARTING":
            if status == "RUNNING":
                world.mapping_enabled = True
                self.state, self.run_deadline = "DRAINING", t + s.max_runtime_seconds
                self.next_at = t + s.poll_interval_seconds  # EnableMapping → WaitPoll → ReadQueue
            else:
                self.next_at = t + s.start_poll_interval_seconds
        elif self.state == "DRAINING":
            depth = world.depth()
            self.idle_since = (self.idle_since if self.idle_since is not None else t) if depth == 0 else None
            drained = self.idle_since is not None and t - self.idle_since >= s.idle_grace_seconds
            window_over = self.window_end is not None and t >= self.window_end
            if drained or window_over or t >= self.run_deadline:
                world.mapping_enabled = False
                world.stop_model()
                self.state, self.next_at = "STOPPING", t + s.start_poll_interval_seconds
            else:
                self.next_at = t + s.poll_interval_seconds
        elif self.state == "STOPPING":
            if status in ("STOPPED", "FAILED"):
                self.state = "IDLE"
            else:
                self.next_at = t + s.start_poll_interval_seconds

    def idle(self, world: World) -> bool:
        return self.state == "IDLE"


@dataclass
class ReferencePolicy:
    """The public AWS batch-processing sample: hourly check, start when visible > 0, poll every 15 min while
    starting, hold 59 min once running, stop at an hourly check only when no *visible* message remains."""

    name: str = "reference"
    state: str = "IDLE"
    next_poll: float = 0.0
    hold_until: float = 0.0
    units: int = 1

    def tick(self, world: World) -> None:
        t = world.t
        hourly = t % 3600.0 == 0
        if self.state == "IDLE" and hourly and world.visible() > 0:
            world.start_model()
            self.state, self.next_poll = "STARTING", t + 900.0
        elif self.state == "STARTING" and t >= self.next_poll:
            if world.status() == "RUNNING":
                world.mapping_enabled = True
                self.state, self.hold_until = "RUNNING", t + 59 * 60.0
            else:
                self.next_poll = t + 900.0
        elif self.state == "RUNNING" and hourly and t >= self.hold_until and world.visible() == 0:
            world.mapping_enabled = False
            world.stop_model()
            self.state = "STOPPING"
        elif self.state == "STOPPING" and t % 60.0 == 0 and world.status() == "STOPPED":
            self.state = "IDLE"

    def idle(self, world: World) -> bool:
        return self.state == "IDLE"


@dataclass
class AlwaysOn:
    """A model kept RUNNING all day (started before the day begins, so no start is billed in the day)."""

    name: str = "always-on"
    started: bool = False

    def tick(self, world: World) -> None:
        if not self.started:
            self.started = True
            world.mapping_enabled = True

    def idle(self, world: World) -> bool:
        return True


@dataclass
class Outcome:
    trace: str
    policy: str
    images: int
    detected: int
    iu_hours: float
    sessions: int
    latencies: list[float] = field(repr=False)
    lower_bound_iu_hours: float = 0.0
    start_latency_hours: float = 0.0
    over_target: int = 0
    phases: list[tuple[float, float, float]] = field(default_factory=list)  # per session: starting, running, stopping

    @property
    def dollars(self) -> float:
        return self.iu_hours * PRICE_PER_IU_HOUR

    @property
    def ratio(self) -> float:
        return self.iu_hours / self.lower_bound_iu_hours if self.lower_bound_iu_hours else math.nan

    def latency(self, q: float) -> float:
        if not self.latencies:
            return math.nan
        if q >= 1.0:
            return max(self.latencies)
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[round(q * 100) - 1]

    def row(self) -> dict[str, object]:
        return {
            "trace": self.trace,
            "policy": self.policy,
            "images": self.images,
            "detected": self.detected,
            "iu_hours": round(self.iu_hours, 3),
            "dollars": round(self.dollars, 2),
            "ratio_to_lower_bound": round(self.ratio, 2),
            "latency_p50_s": round(self.latency(0.5), 1),
            "latency_p95_s": round(self.latency(0.95), 1),
            "latency_max_s": round(self.latency(1.0), 1),
            "sessions": self.sessions,
            "over_latency_target": self.over_target,
        }


def lower_bound_sessions(trace: Trace, start_delay: float) -> int:
    """Fewest sessions that can serve the trace: one per window/burst; for a trickle, one per
    (latency target − start latency) of arrivals."""
    if trace.mode != "on_demand":
        return 1
    assert trace.latency_target_seconds is not None
    span = trace.latency_target_seconds - start_delay
    groups = 1
    first = trace.arrivals[0]
    for a in trace.arrivals:
        if a - first > span:
            groups, first = groups + 1, a
    return groups


def simulate(
    trace: Trace,
    policy: Policy,
    *,
    tps: float = 5.0,
    units: int = 1,
    start_delay: float = 300.0,
    stop_delay: float = 60.0,
) -> Outcome:
    world = World(trace, tps=tps, start_delay=start_delay, stop_delay=stop_delay, units=units)
    always_on = isinstance(policy, AlwaysOn)
    if always_on:
        world.emulator = CustomLabelsEmulator(clock=world.clock)
        world.emulator.add_model(
            project_arn=PROJECT_ARN, project_version_arn=VERSION_ARN, tps_per_inference_unit=tps, status="RUNNING"
        )
    end = (DAY if always_on else trace.horizon) + 12 * 3600.0
    while world.t < end:
        policy.tick(world)
        world.step()
        if always_on and world.t >= DAY and not world.queue:
            break
        if world.t >= trace.horizon and world.arrivals_done() and not world.queue and policy.idle(world):
            break
    billing = world.emulator.billing(VERSION_ARN)
    iu_seconds = units * DAY if always_on else billing.total_inference_unit_seconds
    sessions = 0 if always_on else len(billing.sessions)
    lb_sessions = lower_bound_sessions(trace, start_delay)
    lower = units * (trace.images / (tps * units) + lb_sessions * start_delay)
    target = trace.latency_target_seconds
    return Outcome(
        trace=trace.name,
        policy=policy.name,
        images=trace.images,
        detected=len(world.latencies),
        iu_hours=iu_seconds / 3600.0,
        sessions=sessions,
        latencies=world.latencies,
        lower_bound_iu_hours=lower / 3600.0,
        start_latency_hours=lb_sessions * start_delay / 3600.0,
        over_target=sum(1 for x in world.latencies if target is not None and x > target),
        phases=[] if always_on else [phases(b) for b in billing.sessions],
    )


def phases(session: BillingSession) -> tuple[float, float, float]:
    """Seconds STARTING, RUNNING (until stop requested) and STOPPING of one billed session."""
    start, running = session.start_requested_at, session.running_at or session.start_requested_at
    stop = session.stop_requested_at or running
    end = session.ended_at or stop
    return running - start, stop - running, end - stop


def controller_settings(trace: Trace, *, idle_grace: float | None = None) -> ControllerSettings:
    """Settings per trace as an operator following docs/controller.md would set them."""
    if trace.mode == "scheduled":
        # "Zero [idle grace] for pure batch windows"; lead = the observed start latency.
        return ControllerSettings(idle_grace_seconds=0.0 if idle_grace is None else idle_grace, lead_seconds=300.0)
    return ControllerSettings(idle_grace_seconds=300.0 if idle_grace is None else idle_grace)


def lower_bound(trace: Trace, *, tps: float = 5.0, start_delay: float = 300.0) -> Outcome:
    sessions = lower_bound_sessions(trace, start_delay)
    hours = (trace.images / tps + sessions * start_delay) / 3600.0
    return Outcome(
        trace=trace.name,
        policy="lower bound",
        images=trace.images,
        detected=trace.images,
        iu_hours=hours,
        sessions=sessions,
        latencies=[],
        lower_bound_iu_hours=hours,
        start_latency_hours=sessions * start_delay / 3600.0,
    )
