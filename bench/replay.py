"""B1 in virtual time: each day-long trace replayed through the offline runtime with the deployed triggers.

What runs: the **real controller definition** in moto's Step Functions, started by the deployed triggers
(:mod:`localrun.triggers`: window schedule, backlog alarm → rule, re-check schedule), the **real detect
handler** driven by the local event source poller, moto S3 / EventBridge / SQS / DynamoDB and the Custom Labels
emulator (start / stop delays, TPS limit, billing meter), all on the runtime's :class:`VirtualClock`. An
uploader actor puts each image of the trace with S3 ``PutObject`` at its arrival instant, so the deployed
ingest path (S3 → EventBridge → rule → SQS) carries it. The run ends when the trace's horizon is past, every
image has a result, the model is stopped and no session holds the lock.

Billed IU-hours and sessions come from the emulator's meter; each image's latency is ``detected_at −
uploaded_at`` of its result (the detect handler's clock and the S3 event's time, both simulated; the event
time has one-second resolution). ``bench.sim``'s copy of the controller rules is kept only as a cross-check:
:func:`run_b1` raises :class:`CrossCheckError` when it bills more than :data:`CROSS_CHECK_TOLERANCE` away from
the real controller on a trace. The always-on and reference policies and the lower bound stay in
``bench.sim``.
"""

from __future__ import annotations

import dataclasses
import io
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache

from PIL import Image

from bench.sim import (
    PROJECT_ARN,
    VERSION_ARN,
    AlwaysOn,
    Controller,
    ControllerSettings,
    Outcome,
    ReferencePolicy,
    controller_settings,
    lower_bound,
    lower_bound_sessions,
    phases,
    simulate,
)
from bench.traces import DAY, Trace
from infra.config import Lifecycle, LifecycleMode, ModelConfig, PipelineConfig, Schedule
from localrun.clock import VirtualClock
from localrun.rehearsal import Rehearsal, ResultRow
from localrun.runtime import LOCAL_BUCKET, OfflineRuntime, RuntimeOptions
from localrun.triggers import Triggers

MODEL = "bench"
PREFIX = "bench/"
TPS = 5.0
START_DELAY = 300.0
STOP_DELAY = 60.0
# The window opens at this UTC time of day (the nightly trace's day runs 02:00 → 02:00).
WINDOW_TIME_OF_DAY = 2 * 3600.0
# The bound on the rules copy: beyond it the benchmark fails.
CROSS_CHECK_TOLERANCE = 0.05
# Simulated time a replay may run past the trace's horizon before it is declared stuck.
OVERRUN_SECONDS = 12 * 3600.0
LOOK_SECONDS = 60.0  # how often (simulated) the driver looks whether the run is over
# Each image is put this long after its arrival time. The controller's reads, the alarm's evaluations and the
# schedules all fall on whole simulated seconds, and so do the trickle trace's arrivals: at a tie, whether the
# read sees the new message is up to thread scheduling (found by the cross-check: 21 or 24 sessions on the full
# trickle). Half a second makes the replay deterministic, with the rules copy's order (a decision at T
# precedes an arrival at T). The cross-check gives the rules copy the same instants.
ARRIVAL_OFFSET_SECONDS = 0.5
PROGRESS_WALL_SECONDS = 15.0


class CrossCheckError(RuntimeError):
    """The rules copy in ``bench.sim`` bills more than the tolerance away from the real controller."""


class ReplayStuckError(RuntimeError):
    """A replay did not finish within its simulated overrun."""


@dataclass
class Replay:
    """One trace through the real controller: the report's row plus how the run went."""

    outcome: Outcome
    wall_seconds: float
    simulated_seconds: float
    executions: dict[str, int]  # per trigger
    alarm_evaluations: int
    dead_letters: int
    clock_jumps: int


@dataclass
class CrossCheck:
    """The rules copy against the real controller on one trace (one lifecycle)."""

    trace: str
    policy: str
    real_iu_hours: float
    rules_iu_hours: float
    real_sessions: int
    rules_sessions: int
    real_phases: list[tuple[float, float, float]] = field(default_factory=list)
    rules_phases: list[tuple[float, float, float]] = field(default_factory=list)
    tolerance: float = CROSS_CHECK_TOLERANCE

    @property
    def relative_difference(self) -> float:
        return (self.rules_iu_hours - self.real_iu_hours) / self.real_iu_hours

    @property
    def agrees(self) -> bool:
        return abs(self.relative_difference) <= self.tolerance


@dataclass
class B1Result:
    outcomes: list[Outcome]
    replays: list[Replay]
    checks: list[CrossCheck]


# -- configuration -------------------------------------------------------------------------------------


def day_start(trace: Trace, now: float) -> float:
    """The trace's t = 0 in simulated epoch seconds: ``now`` for on-demand traces; for a scheduled one, the first
    instant from ``now`` at which the window opens at :data:`WINDOW_TIME_OF_DAY` UTC."""
    if trace.mode != "scheduled" or trace.window_open is None:
        return now
    return now + (WINDOW_TIME_OF_DAY - (now + trace.window_open)) % DAY


def trace_config(trace: Trace, settings: ControllerSettings, t0: float) -> PipelineConfig:
    """The pipeline config whose model lifecycle is the one ``bench.sim`` replays for ``trace``."""
    common = {
        "min_inference_units": settings.inference_units,
        "max_inference_units": settings.inference_units,
        "backlog_threshold": settings.backlog_threshold,
        "idle_grace_seconds": round(settings.idle_grace_seconds),
        "poll_interval_seconds": round(settings.poll_interval_seconds),
        "start_poll_interval_seconds": round(settings.start_poll_interval_seconds),
        "max_runtime_minutes": round(settings.max_runtime_seconds / 60),
    }
    if trace.mode == "scheduled":
        assert trace.window_open is not None
        opens = datetime.fromtimestamp(t0 + trace.window_open, UTC)
        window = Schedule(
            cron=f"cron({opens.minute} {opens.hour} * * ? *)",
            timezone="UTC",
            window_minutes=round(trace.window_seconds / 60),
            lead_minutes=round(settings.lead_seconds / 60),
        )
        lifecycle = Lifecycle(mode=LifecycleMode.SCHEDULED, schedules=(window,), **common)
    elif trace.mode == "on_demand":
        assert trace.latency_target_seconds is not None
        target = round(trace.latency_target_seconds / 60)
        lifecycle = Lifecycle(mode=LifecycleMode.ON_DEMAND, latency_target_minutes=target, **common)
    else:
        raise ValueError(f"trace {trace.name!r}: mode {trace.mode!r} has no deployed trigger")
    model = ModelConfig(
        name=MODEL,
        project_arn=PROJECT_ARN,
        project_version_arn=VERSION_ARN,
        prefix=PREFIX,
        tps_per_inference_unit=TPS,
        lifecycle=lifecycle,
    )
    return PipelineConfig(models=(model,))


@cache
def image_bytes() -> bytes:
    """One small valid PNG (the emulator checks format and size; without a manifest it finds no label)."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 60, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


# -- the replay ----------------------------------------------------------------------------------------


class _Uploader:
    """An actor that puts each image of the trace at ``t0 + arrival`` (simulated)."""

    def __init__(self, runtime: OfflineRuntime, arrivals: tuple[float, ...], t0: float) -> None:
        self.keys = [f"{PREFIX}{i:05d}.png" for i in range(len(arrivals))]
        self.uploaded = 0
        self._runtime = runtime
        self._arrivals = arrivals
        self._t0 = t0
        self._s3 = runtime.client("s3")

    def start(self) -> None:
        threading.Thread(target=self._runtime.clock.spawned(self._run), name="uploader", daemon=True).start()

    @property
    def done(self) -> bool:
        return self.uploaded >= len(self.keys)

    def _run(self) -> None:
        body, clock = image_bytes(), self._runtime.clock
        for key, arrival in zip(self.keys, self._arrivals, strict=True):
            clock.sleep_until(self._t0 + arrival + ARRIVAL_OFFSET_SECONDS)
            self._s3.put_object(Bucket=LOCAL_BUCKET, Key=key, Body=body, ContentType="image/png")
            self.uploaded += 1


def _latency(row: ResultRow) -> float:
    assert row.uploaded_at is not None and row.detected_at is not None
    return (_parse(row.detected_at) - _parse(row.uploaded_at)).total_seconds()


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


Progress = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def replay(
    trace: Trace, *, idle_grace: float | None = None, policy: str = "controller", progress: Progress | None = _stderr
) -> Replay:
    """``trace`` through the real controller and detect handler in virtual time (module docstring)."""
    settings = controller_settings(trace, idle_grace=idle_grace)
    began = time.perf_counter()
    options = RuntimeOptions(start_delay_seconds=START_DELAY, stop_delay_seconds=STOP_DELAY)
    probe = VirtualClock()  # the runtime's clock starts at the same epoch
    t0 = day_start(trace, probe.now())
    config = trace_config(trace, settings, t0)
    with OfflineRuntime(config, options) as runtime:
        rehearsal = Rehearsal(runtime)
        triggers = Triggers.of(runtime)
        uploader = _Uploader(runtime, trace.arrivals, t0)
        # The day starts at t0: a scheduled trace's runtime waits for it (its triggers must not fire the window
        # of the night before, which the trace does not include).
        runtime.clock.sleep_until(t0)
        with triggers.running():
            uploader.start()
            simulated = _drive(runtime, rehearsal, uploader, trace, t0, _Reporter(trace, policy, progress, began))
        model = triggers.models[MODEL]
        results = rehearsal.results()
        emulator = runtime.emulator
        assert emulator is not None
        billing = emulator.billing(VERSION_ARN)
        dead_letters = rehearsal.dead_letters()
        jumps = runtime.clock.jumps
    latencies = [_latency(results[key]) for key in uploader.keys if key in results]
    target = trace.latency_target_seconds
    bound = lower_bound(trace, tps=TPS, start_delay=START_DELAY)
    outcome = Outcome(
        trace=trace.name,
        policy=policy,
        images=trace.images,
        detected=sum(1 for row in results.values() if row.status == "DETECTED"),
        iu_hours=billing.total_inference_unit_seconds / 3600.0,
        sessions=len(billing.sessions),
        latencies=latencies,
        lower_bound_iu_hours=bound.iu_hours,
        start_latency_hours=lower_bound_sessions(trace, START_DELAY) * START_DELAY / 3600.0,
        over_target=sum(1 for x in latencies if target is not None and x > target),
        phases=[phases(s) for s in billing.sessions],
    )
    return Replay(
        outcome=outcome,
        wall_seconds=time.perf_counter() - began,
        simulated_seconds=simulated,
        executions=dict(Counter(f.trigger for f in model.firings)),
        alarm_evaluations=model.alarm_evaluations,
        dead_letters=dead_letters,
        clock_jumps=jumps,
    )


class _Reporter:
    """Progress lines on stderr, at most one per :data:`PROGRESS_WALL_SECONDS` of wall time."""

    def __init__(self, trace: Trace, policy: str, sink: Progress | None, began: float) -> None:
        self.trace, self.policy, self.sink, self.began = trace, policy, sink, began
        self.last = 0.0

    def __call__(self, runtime: OfflineRuntime, t0: float, uploaded: int, *, final: bool = False) -> None:
        wall = time.perf_counter() - self.began
        if self.sink is None or (not final and wall - self.last < PROGRESS_WALL_SECONDS):
            return
        self.last = wall
        now = runtime.clock.now()
        emulator = runtime.emulator
        assert emulator is not None
        written = sum(n for (model, _), n in runtime.results_written.items() if model == MODEL)
        self.sink(
            f"[b1] {self.trace.name} / {self.policy}: simulated {datetime.fromtimestamp(now, UTC):%Y-%m-%d %H:%M} "
            f"(t = {(now - t0) / 3600:5.1f} h of {self.trace.horizon / 3600:.1f} h), uploaded {uploaded}/"
            f"{self.trace.images}, results {written}, model {emulator.status(VERSION_ARN)}, sessions "
            f"{len(emulator.billing(VERSION_ARN).sessions)}, wall {wall:.0f} s"
        )


def _drive(
    runtime: OfflineRuntime, rehearsal: Rehearsal, uploader: _Uploader, trace: Trace, t0: float, report: _Reporter
) -> float:
    """Let simulated time run until the replay is over; returns the simulated seconds from t0."""
    clock, emulator = runtime.clock, runtime.emulator
    assert emulator is not None
    deadline = t0 + trace.horizon + OVERRUN_SECONDS
    while True:
        clock.sleep(LOOK_SECONDS)  # the driver is the runtime's actor: time moves only while it waits
        report(runtime, t0, uploader.uploaded)
        now = clock.now()
        written = runtime.results_written[(MODEL, "DETECTED")] + runtime.results_written[(MODEL, "FAILED")]
        over = now >= t0 + trace.horizon and uploader.done and written >= trace.images
        if over and emulator.status(VERSION_ARN) in ("STOPPED", "FAILED") and not rehearsal.lock_held():
            report(runtime, t0, uploader.uploaded, final=True)
            return now - t0
        if now > deadline:
            raise ReplayStuckError(
                f"{trace.name}: not over {OVERRUN_SECONDS / 3600:.0f} h past the horizon: {written}/{trace.images} "
                f"results, model {emulator.status(VERSION_ARN)}, queue depth {rehearsal.queue_depth()}"
            )


# -- B1 ------------------------------------------------------------------------------------------------


def cross_check(trace: Trace, real: Outcome, idle_grace: float | None = None) -> CrossCheck:
    """The rules copy (``bench.sim.Controller``) on the same trace (arrivals as the uploader puts them) and
    lifecycle."""
    offset = tuple(arrival + ARRIVAL_OFFSET_SECONDS for arrival in trace.arrivals)
    rules = simulate(
        dataclasses.replace(trace, arrivals=offset),
        Controller(controller_settings(trace, idle_grace=idle_grace)),
        tps=TPS,
        start_delay=START_DELAY,
        stop_delay=STOP_DELAY,
    )
    return CrossCheck(
        trace=trace.name,
        policy=real.policy,
        real_iu_hours=real.iu_hours,
        rules_iu_hours=rules.iu_hours,
        real_sessions=real.sessions,
        rules_sessions=rules.sessions,
        real_phases=real.phases,
        rules_phases=rules.phases,
    )


def run_b1(traces: list[Trace], *, progress: Progress | None = _stderr) -> B1Result:
    """Per trace: the real controller (and, on demand, with idle grace 0), the always-on and reference policies,
    the lower bound; raises :class:`CrossCheckError` when the rules copy disagrees beyond the tolerance."""
    outcomes: list[Outcome] = []
    replays: list[Replay] = []
    checks: list[CrossCheck] = []
    for trace in traces:
        lifecycles: list[tuple[str, float | None]] = [("controller", None)]
        if trace.mode == "on_demand":
            lifecycles.append(("controller (idle grace 0)", 0.0))
        for policy, idle_grace in lifecycles:
            run = replay(trace, idle_grace=idle_grace, policy=policy, progress=progress)
            replays.append(run)
            outcomes.append(run.outcome)
            checks.append(cross_check(trace, run.outcome, idle_grace))
        outcomes.append(simulate(trace, AlwaysOn(), tps=TPS, start_delay=START_DELAY, stop_delay=STOP_DELAY))
        outcomes.append(simulate(trace, ReferencePolicy(), tps=TPS, start_delay=START_DELAY, stop_delay=STOP_DELAY))
        outcomes.append(lower_bound(trace, tps=TPS, start_delay=START_DELAY))
    failed = [c for c in checks if not c.agrees]
    if failed:
        raise CrossCheckError(
            "bench.sim's controller rules disagree with the real controller beyond "
            f"{CROSS_CHECK_TOLERANCE:.0%}: "
            + "; ".join(
                f"{c.trace} / {c.policy}: real {c.real_iu_hours:.3f} IU-h ({c.real_sessions} sessions), rules "
                f"{c.rules_iu_hours:.3f} IU-h ({c.rules_sessions} sessions), {c.relative_difference:+.1%}"
                for c in failed
            )
        )
    return B1Result(outcomes=outcomes, replays=replays, checks=checks)


__all__ = [
    "CROSS_CHECK_TOLERANCE",
    "B1Result",
    "CrossCheck",
    "CrossCheckError",
    "Replay",
    "ReplayStuckError",
    "cross_check",
    "day_start",
    "replay",
    "run_b1",
    "trace_config",
]
