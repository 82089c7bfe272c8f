"""B5 — rehearsal scaling: ``clp local run`` (the offline runtime on its virtual clock) on generated datasets of
growing size, each run in a fresh interpreter so that its peak RSS is its own.

    .venv/bin/python -m bench.rehearsal --sizes 100 1000 10000    # one JSON line per size
    .venv/bin/python -m bench.rehearsal --one 500 --json           # one run of one size, in this process

This machine's CPU speed wanders (the same pure-Python loop took 0.65 to 1.2 s in consecutive runs): a run of
100 images (about 2 s) feels that fully, one of 10,000 (minutes) averages it out. So smaller sizes are run
several times (:func:`repeats_for`), each in a fresh process, and the run of median wall time stands for the size;
every run of a size must bill the same (the rehearsal is deterministic), or the benchmark fails.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from infra.config import ModelConfig, load_config
from localrun.emulator import Manifest
from localrun.rehearsal import run_directory
from localrun.runtime import RuntimeOptions
from localrun.sample import generate

ROOT = Path(__file__).resolve().parent.parent
SIZES = (100, 1000, 10000)
QUICK_SIZES = (100, 1000)
# Issue targets: billed IU-seconds within 2 % of the analytic band; ms per image flat within ±25 % across sizes;
# 10,000 images in ≤ 4 min wall and ≤ 1.5 GB peak RSS.
BILLING_TOLERANCE = 0.02
FLATNESS_TOLERANCE = 0.25
WALL_TARGET_SECONDS = 240.0
RSS_TARGET_MB = 1536.0
TARGET_IMAGES = 10000
TIMEOUT_SECONDS = 1800.0


def repeats_for(images: int) -> int:
    """How many fresh-process runs measure a size: 5 up to 100 images, 3 up to 1,000, else 1."""
    return 5 if images <= 100 else 3 if images <= 1000 else 1


def analytic_bounds(model: ModelConfig, uploads: int, start_delay: float, stop_delay: float) -> tuple[float, float]:
    """Billed IU-seconds of one session draining ``uploads`` queued before it starts.

    Lower: start delay + N ÷ (TPS × IUs) + idle grace + stop delay, times the IUs. Upper: one drain poll interval
    more, since the controller only sees the queue empty at its next read.
    """
    life = model.lifecycle
    units = life.min_inference_units
    seconds = start_delay + uploads / (model.tps_per_inference_unit * units) + life.idle_grace_seconds + stop_delay
    return units * seconds, units * (seconds + life.poll_interval_seconds)


@dataclass
class ScalingRow:
    """One size of B5. ``uploads`` = the generated images + the sample's 5 bad files (each is a detect call)."""

    images: int
    uploads: int
    generate_seconds: float
    wall_seconds: float  # run_directory: runtime set-up, upload, drain, stop (generation excluded)
    peak_rss_mb: float  # the peak resident set of the process that ran it (_peak_rss_mb)
    sessions: int
    iu_seconds: float
    lower_iu_seconds: float
    upper_iu_seconds: float
    detected: int
    failed: int
    dead_letters: int
    completed: bool
    # User + system CPU of the process during run_directory: on a shared machine it moves less than wall.
    cpu_seconds: float = float("nan")
    # The wall seconds of every run of this size (see the module docstring); the row is the median one.
    wall_runs: tuple[float, ...] = ()

    @property
    def wall_ms_per_image(self) -> float:
        return self.wall_seconds * 1000.0 / self.uploads if self.uploads else float("nan")

    @property
    def relative_error(self) -> float:
        """Billed vs the analytic lower bound (the upper bound is lower + one poll interval)."""
        return (self.iu_seconds - self.lower_iu_seconds) / self.lower_iu_seconds

    @property
    def within_target(self) -> bool:
        """Within 2 % of the analytic figure, which may carry up to one poll interval."""
        return (
            self.lower_iu_seconds * (1 - BILLING_TOLERANCE)
            <= self.iu_seconds
            <= self.upper_iu_seconds * (1 + BILLING_TOLERANCE)
        )

    def row(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "wall_seconds": round(self.wall_seconds, 2),
            "cpu_seconds": round(self.cpu_seconds, 2),
            "generate_seconds": round(self.generate_seconds, 2),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "wall_ms_per_image": round(self.wall_ms_per_image, 2),
            "wall_runs": [round(w, 2) for w in self.wall_runs],
            "relative_error": round(self.relative_error, 4),
            "within_target": self.within_target,
        }

    @classmethod
    def from_row(cls, data: dict[str, Any]) -> ScalingRow:
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        values["wall_runs"] = tuple(values.get("wall_runs", ()))
        return cls(**values)


def flatness(rows: Sequence[ScalingRow]) -> list[float]:
    """Each row's ms per image relative to the smallest size's (0.1 = 10 % slower per image)."""
    if not rows:
        return []
    base = min(rows, key=lambda r: r.images).wall_ms_per_image
    return [r.wall_ms_per_image / base - 1 for r in rows]


def marginal_ms(rows: Sequence[ScalingRow]) -> list[float | None]:
    """Each row's ms per upload beyond the next smaller size's: (wall − its wall) ÷ (uploads − its uploads).

    What one more image costs once the fixed start-up (runtime set-up, the controller's start and stop) is
    paid; ``None`` for the smallest size. Rows in any order; the answer follows ``rows``.
    """
    ordered = sorted(rows, key=lambda r: r.uploads)
    by_row: dict[int, float | None] = {id(ordered[0]): None} if ordered else {}
    for smaller, larger in itertools.pairwise(ordered):
        extra = larger.uploads - smaller.uploads
        by_row[id(larger)] = (larger.wall_seconds - smaller.wall_seconds) * 1000.0 / extra if extra else None
    return [by_row[id(r)] for r in rows]


def fixed_seconds(rows: Sequence[ScalingRow]) -> float | None:
    """The fixed start-up the two smallest sizes imply: wall − uploads × marginal ms (a straight line's intercept)."""
    ordered = sorted(rows, key=lambda r: r.uploads)
    if len(ordered) < 2 or ordered[1].uploads == ordered[0].uploads:
        return None
    slope = (ordered[1].wall_seconds - ordered[0].wall_seconds) / (ordered[1].uploads - ordered[0].uploads)
    return ordered[0].wall_seconds - slope * ordered[0].uploads


def measure_one(images: int, *, bad_files: bool = True, timeout_seconds: float = TIMEOUT_SECONDS) -> ScalingRow:
    """Generate ``images`` sample images and run them like ``clp local run --labels``, in this process.

    ``bad_files=False`` leaves out the sample's 5 bad files (``rejects/``).
    """
    config = load_config(ROOT / "cdk.json")
    model = config.models[0]
    with tempfile.TemporaryDirectory(prefix="bench-b5-") as tmp:
        began = time.perf_counter()
        dataset = generate(Path(tmp) / "dataset", images=images)
        generated = time.perf_counter() - began
        if not bad_files:
            shutil.rmtree(dataset.images_dir / "rejects")
        options = RuntimeOptions(manifest=Manifest.load(dataset.manifest))
        began, cpu_began = time.perf_counter(), _cpu_seconds()
        # Powertools' EMF flushes go to stdout: to /dev/null, not a buffer that would grow with the run.
        with open(os.devnull, "w", encoding="utf-8") as sink, contextlib.redirect_stdout(sink):
            result = run_directory(config, dataset.images_dir, runtime_options=options, timeout_seconds=timeout_seconds)
        wall, cpu = time.perf_counter() - began, _cpu_seconds() - cpu_began
    lower, upper = analytic_bounds(model, len(result.keys), options.start_delay_seconds, options.stop_delay_seconds)
    return ScalingRow(
        images=images,
        uploads=len(result.keys),
        generate_seconds=generated,
        wall_seconds=wall,
        peak_rss_mb=_peak_rss_mb(),
        sessions=len(result.sessions),
        iu_seconds=result.inference_unit_seconds,
        lower_iu_seconds=lower,
        upper_iu_seconds=upper,
        detected=sum(1 for r in result.results if r.status == "DETECTED"),
        failed=sum(1 for r in result.results if r.status == "FAILED"),
        dead_letters=result.dead_letters,
        completed=result.completed,
        cpu_seconds=cpu,
    )


def _peak_rss_mb() -> float:
    """This process's own peak RSS. Linux's ``ru_maxrss`` carries the parent's peak across fork + exec (a size
    run from ``python -m bench`` after B1 reported B1's 2 GB at 100 images); ``VmHWM`` is the peak of this
    process's own memory map."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux, bytes on macOS


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure_in_child(images: int) -> ScalingRow:
    """:func:`measure_one` in a fresh interpreter (``python -m bench.rehearsal --one N --json``)."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.rehearsal", "--one", str(images), "--json"],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return ScalingRow.from_row(json.loads(out.stdout.strip().splitlines()[-1]))


def median_run(runs: Sequence[ScalingRow]) -> ScalingRow:
    """The run of median wall time among ``runs`` of one size, carrying every run's wall time and the highest
    peak RSS. Every run must have billed the same: the rehearsal is deterministic (``RuntimeError`` if not)."""
    bills = {(r.uploads, r.sessions, r.iu_seconds, r.detected, r.failed, r.dead_letters) for r in runs}
    if len(bills) != 1:
        raise RuntimeError(f"{runs[0].images} images billed differently across runs: {sorted(bills)}")
    ordered = sorted(runs, key=lambda r: r.wall_seconds)
    middle = ordered[(len(ordered) - 1) // 2]
    return replace(middle, peak_rss_mb=max(r.peak_rss_mb for r in runs), wall_runs=tuple(r.wall_seconds for r in runs))


def run_b5(
    sizes: Sequence[int] = SIZES, on_row: Callable[[ScalingRow], None] | None = None, repeats: int | None = None
) -> list[ScalingRow]:
    """Each size ``repeats`` times (default :func:`repeats_for`), one fresh process per run, smallest size first;
    ``on_row`` sees each size's row as it is measured."""
    rows = []
    for images in sorted(sizes):
        row = median_run([measure_in_child(images) for _ in range(repeats or repeats_for(images))])
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return rows


def _line(row: ScalingRow) -> str:
    return json.dumps({"figure": "b5-rehearsal", **row.row()})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rehearsal", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="images per run, one process each")
    parser.add_argument("--one", type=int, metavar="N", help="measure N images in this process")
    parser.add_argument("--json", action="store_true", help="with --one: print only the row as one JSON line")
    parser.add_argument(
        "--repeats", type=int, metavar="K", help="runs per size (default: 5 up to 100 images, 3 up to 1,000, else 1)"
    )
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.one is not None:
        row = measure_one(args.one)
        if args.json:
            print(_line(row), flush=True)
        else:
            print(
                f"{row.images} images ({row.uploads} uploads): {row.wall_seconds:.1f} s wall, "
                f"{row.wall_ms_per_image:.1f} ms per upload, {row.cpu_seconds:.1f} s CPU, "
                f"peak RSS {row.peak_rss_mb:.0f} MB, "
                f"{row.iu_seconds:.0f} IU-s billed in {row.sessions} session(s) "
                f"(analytic {row.lower_iu_seconds:.0f}–{row.upper_iu_seconds:.0f}), "
                f"{row.detected} detected, {row.failed} failed, completed={row.completed}"
            )
        return 0
    run_b5(args.sizes, on_row=lambda row: print(_line(row), flush=True), repeats=args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
