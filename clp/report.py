"""Human and JSON reports of an offline run (demo and ``clp local run``)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from lambdas.common.contract import REVIEW_PENDING
from localrun.rehearsal import RunResult

HOURS_PER_DAY = 24


def _hms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:d}:{minutes:02d}:{secs:02d}"


def _clock(epoch: float | None) -> str:
    return "-" if epoch is None else datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S")


def summary(result: RunResult, price_per_iu_hour: float, period_hours: float = HOURS_PER_DAY) -> dict[str, Any]:
    """Everything the demo reports, as plain data (also written as JSON)."""
    statuses = Counter(row.status for row in result.results)
    reasons = Counter(row.reason for row in result.results if row.status == "FAILED")
    labels = Counter(label["name"] for row in result.results for label in row.labels)
    unlabelled = sum(1 for row in result.results if row.status == "DETECTED" and not row.labels)
    pending_review = sum(1 for row in result.results if row.review == REVIEW_PENDING)
    iu_hours = result.inference_unit_seconds / 3600
    units = max((s.inference_units for s in result.sessions), default=1)
    always_on_iu_hours = units * period_hours
    return {
        **result.contract(),
        "summary": {
            "uploaded": len(result.keys),
            "detected": statuses.get("DETECTED", 0),
            "failed": statuses.get("FAILED", 0),
            "failed_by_reason": dict(sorted(reasons.items())),
            "labels": dict(sorted(labels.items())),
            "detected_without_labels": unlabelled,
            "pending_review": pending_review,
            "sessions": [
                {
                    "start_requested_at": s.start_requested_at,
                    "starting_seconds": None if s.running_at is None else s.running_at - s.start_requested_at,
                    "running_seconds": None
                    if s.running_at is None or s.stop_requested_at is None
                    else s.stop_requested_at - s.running_at,
                    "stopping_seconds": None
                    if s.stop_requested_at is None or s.ended_at is None
                    else s.ended_at - s.stop_requested_at,
                    "inference_units": s.inference_units,
                    "inference_unit_seconds": round(s.inference_unit_seconds, 1),
                    "end_status": s.end_status,
                }
                for s in result.sessions
            ],
            "billed_inference_unit_hours": round(iu_hours, 4),
            "billed_usd": round(iu_hours * price_per_iu_hour, 2),
            "always_on_period_hours": period_hours,
            "always_on_inference_unit_hours": always_on_iu_hours,
            "always_on_usd": round(always_on_iu_hours * price_per_iu_hour, 2),
            "price_per_inference_unit_hour": price_per_iu_hour,
            "simulated_seconds": round(result.ended_at - result.started_at, 1),
            "wall_seconds": round(result.wall_seconds, 2),
            "images_per_second_wall": round(len(result.keys) / result.wall_seconds, 2) if result.wall_seconds else None,
            "completed": result.completed,
        },
    }


def render(console: Console, report: dict[str, Any]) -> None:
    """Tables for people: outcomes, labels, sessions and cost."""
    s = report["summary"]
    outcome = Table(title="Images", show_edge=False)
    outcome.add_column("outcome")
    outcome.add_column("count", justify="right")
    outcome.add_row("uploaded", str(s["uploaded"]))
    outcome.add_row("detected", str(s["detected"]))
    outcome.add_row("  of which without a label above the threshold", str(s["detected_without_labels"]))
    outcome.add_row("  of which pending review", str(s["pending_review"]))
    for reason, count in s["failed_by_reason"].items():
        outcome.add_row(f"failed: {reason}", str(count))
    outcome.add_row("dead-lettered", str(report["dead_letters"]))
    console.print(outcome)

    if s["labels"]:
        labels = Table(title="Labels", show_edge=False)
        labels.add_column("label")
        labels.add_column("images", justify="right")
        for name, count in s["labels"].items():
            labels.add_row(name, str(count))
        console.print(labels)

    sessions = Table(title="Model sessions (simulated time)", show_edge=False)
    for column in ("start requested", "starting", "running", "stopping", "IUs", "IU-hours", "ended"):
        sessions.add_column(column, justify="right")
    for session in s["sessions"]:
        sessions.add_row(
            _clock(session["start_requested_at"]),
            _hms(session["starting_seconds"]),
            _hms(session["running_seconds"]),
            _hms(session["stopping_seconds"]),
            str(session["inference_units"]),
            f"{session['inference_unit_seconds'] / 3600:.3f}",
            session["end_status"] or "open",
        )
    console.print(sessions)

    cost = Table(title="Cost (simulated: the emulator's meter in simulated time)", show_edge=False)
    cost.add_column("policy")
    cost.add_column("IU-hours", justify="right")
    cost.add_column("dollars", justify="right")
    cost.add_row("this pipeline (billed)", f"{s['billed_inference_unit_hours']:.3f}", f"${s['billed_usd']:.2f}")
    cost.add_row(
        f"always-on for the {s['always_on_period_hours']:g} h this daily window covers",
        f"{s['always_on_inference_unit_hours']:.1f}",
        f"${s['always_on_usd']:.2f}",
    )
    console.print(cost)
    console.print(
        f"model {report['model']['final_status']} after {report['model']['sessions']} session(s); "
        f"{s['simulated_seconds'] / 60:.1f} simulated minutes in {s['wall_seconds']:.1f} s of wall time "
        f"at ${s['price_per_inference_unit_hour']:.2f} per inference-unit hour."
    )
    console.print(
        "Simulated: session times, IU-hours and dollars (virtual time: the same on any machine). "
        "Measured: the wall time only."
    )
