"""B1 calibration: the REAL controller ASL (moto Step Functions) + the REAL detect handler in the offline
runtime on a small backlog, against the replay in ``bench.sim`` on the same backlog and settings."""

from __future__ import annotations

import contextlib
import io
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.sim import Controller, ControllerSettings, simulate
from bench.traces import Trace
from infra.config import load_config
from localrun.emulator import Manifest
from localrun.rehearsal import run_directory
from localrun.runtime import RuntimeOptions
from localrun.sample import generate


@dataclass
class Calibration:
    images: int
    real_iu_seconds: float
    simulated_iu_seconds: float
    real_sessions: int
    simulated_sessions: int
    detected: int
    wall_seconds: float
    tolerance: float
    real_phases: list[tuple[float, float, float]]
    simulated_phases: list[tuple[float, float, float]]

    @property
    def relative_error(self) -> float:
        return abs(self.simulated_iu_seconds - self.real_iu_seconds) / self.real_iu_seconds

    @property
    def agrees(self) -> bool:
        return self.relative_error <= self.tolerance


def run_calibration(images: int = 20, tolerance: float = 0.15) -> Calibration:
    """A backlog of ``images`` present when a session starts; 5-min start, 1-min stop, cdk.json lifecycle."""
    config = load_config(Path(__file__).resolve().parent.parent / "cdk.json")
    model = config.models[0]
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        dataset = generate(Path(tmp) / "dataset", images=images)
        options = RuntimeOptions(
            start_delay_seconds=300.0,
            stop_delay_seconds=60.0,
            manifest=Manifest.load(dataset.manifest),
        )
        with contextlib.redirect_stdout(io.StringIO()):
            result = run_directory(config, dataset.images_dir, runtime_options=options, timeout_seconds=300)
    wall = time.perf_counter() - began
    # The rehearsal runs the deployed definition's waits (cdk.json's lifecycle) in virtual time.
    life = model.lifecycle
    settings = ControllerSettings(
        idle_grace_seconds=float(life.idle_grace_seconds),
        poll_interval_seconds=float(life.poll_interval_seconds),
        start_poll_interval_seconds=float(life.start_poll_interval_seconds),
        max_runtime_seconds=life.max_runtime_minutes * 60.0,
    )
    uploads = len(result.keys)
    trace = Trace("calibration", tuple(0.0 for _ in range(uploads)), "manual", horizon=0.0)
    sim = simulate(trace, Controller(settings), tps=model.tps_per_inference_unit)
    return Calibration(
        images=uploads,
        real_iu_seconds=result.inference_unit_seconds,
        simulated_iu_seconds=sim.iu_hours * 3600.0,
        real_sessions=len(result.sessions),
        simulated_sessions=sim.sessions,
        detected=sum(1 for r in result.results if r.status == "DETECTED"),
        wall_seconds=wall,
        tolerance=tolerance,
        real_phases=[
            (
                (s.running_at or s.start_requested_at) - s.start_requested_at,
                (s.stop_requested_at or 0.0) - (s.running_at or 0.0),
                (s.ended_at or 0.0) - (s.stop_requested_at or 0.0),
            )
            for s in result.sessions
        ],
        simulated_phases=sim.phases,
    )
