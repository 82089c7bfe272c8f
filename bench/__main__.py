"""``python -m bench`` (``make bench``; ``BENCH_QUICK=1`` or ``--quick`` for ``make bench-quick``).

Writes docs/benchmarks.md and docs/benchmarks/*.png, and prints one JSON line per figure on stdout. ``--quick``
also replays B1's smaller traces (``bench.traces.all_traces(quick=True)``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import report
from bench.handler import run_b3, run_b4
from bench.rehearsal import QUICK_SIZES, SIZES, run_b5
from bench.replay import run_b1
from bench.throughput import run_b2
from bench.traces import all_traces

ROOT = Path(__file__).resolve().parent.parent


def emit(figure: str, data: Any) -> None:
    """One JSON line per figure on stdout (the contract of ``make bench``)."""
    stream = sys.__stdout__ or sys.stderr
    stream.write(json.dumps({"figure": figure, **data}, default=str) + "\n")
    stream.flush()


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    packages = {}
    for name in ("boto3", "botocore", "aws-lambda-powertools", "pydantic", "moto", "jsonata-python", "matplotlib"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            packages[name] = metadata.version(name)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": packages,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", default=os.environ.get("BENCH_QUICK") == "1")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--only", choices=["b1", "b2", "b3", "b4", "b5"], action="append")
    args = parser.parse_args(argv)
    quick: bool = args.quick
    only = set(args.only or ["b1", "b2", "b3", "b4", "b5"])
    began = time.perf_counter()
    results: dict[str, Any] = {"machine": machine(), "quick": quick}
    emit("machine", results["machine"])
    # Powertools Metrics flushes EMF JSON to stdout when a buffer fills: keep stdout for our JSON lines.
    with contextlib.redirect_stdout(io.StringIO()):
        if "b1" in only:
            # The real controller in virtual time: minutes for the full traces; progress on stderr. Raises
            # CrossCheckError (nonzero exit, no report) when bench.sim's rules copy disagrees beyond 5 %.
            b1 = run_b1(all_traces(quick=quick))
            results["b1"], results["b1_replays"], results["b1_checks"] = b1.outcomes, b1.replays, b1.checks
            emit("b1-cost", {"rows": [o.row() for o in b1.outcomes]})
            emit(
                "b1-cross-check",
                {
                    "rows": [
                        {
                            "trace": c.trace,
                            "policy": c.policy,
                            "real_iu_hours": round(c.real_iu_hours, 4),
                            "rules_iu_hours": round(c.rules_iu_hours, 4),
                            "relative_difference": round(c.relative_difference, 4),
                        }
                        for c in b1.checks
                    ],
                    "wall_seconds": [round(r.wall_seconds, 1) for r in b1.replays],
                },
            )
        if "b2" in only:
            b2 = run_b2(seconds_of_work=20.0 if quick else 40.0)
            results["b2"] = b2
            emit(
                "b2-throughput",
                {
                    "rows": [
                        {**r.__dict__, "achieved_tps": round(r.achieved_tps, 2), "share": round(r.share, 3)} for r in b2
                    ]
                },
            )
        if "b3" in only:
            b3 = run_b3(runs=10)
            results["b3"] = b3
            emit("b3-import", {"rows": [r.__dict__ for r in b3]})
        if "b4" in only:
            b4 = run_b4(batches=100 if quick else 500)
            results["b4"] = b4
            emit("b4-handler", b4.__dict__)
        if "b5" in only:
            # One fresh process per size (peak RSS per run); one line per size as each finishes.
            results["b5"] = run_b5(QUICK_SIZES if quick else SIZES, on_row=lambda row: emit("b5-rehearsal", row.row()))
    results["seconds"] = time.perf_counter() - began
    written = report.write(results, args.out)
    emit("report", {"path": str(written), "seconds": round(results["seconds"], 1)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
