"""docs/benchmarks.md and its PNG figures from the results of ``python -m bench``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.handler import ImportResult, OverheadResult
from bench.rehearsal import (
    BILLING_TOLERANCE,
    FLATNESS_TOLERANCE,
    RSS_TARGET_MB,
    TARGET_IMAGES,
    WALL_TARGET_SECONDS,
    ScalingRow,
    fixed_seconds,
    flatness,
    marginal_ms,
)
from bench.replay import CROSS_CHECK_TOLERANCE, CrossCheck, Replay
from bench.sim import Outcome
from bench.throughput import ThroughputResult

CMD = "make bench            # or: BENCH_QUICK=1 make bench-quick; .venv/bin/python -m bench --only b1"
B5_CMD = ".venv/bin/python -m bench --only b5   # or: .venv/bin/python -m bench.rehearsal --sizes 100 1000 10000"


def _fmt_s(seconds: float) -> str:
    if math.isnan(seconds):
        return "–"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"


def _phase_cells(phases: list[tuple[float, float, float]]) -> str:
    if not phases:
        return "– | – | –"
    return " | ".join(f"{sum(p[i] for p in phases):.0f}" for i in range(3))


def _plot_b1(outcomes: list[Outcome], path: Path) -> None:
    traces = list(dict.fromkeys(o.trace for o in outcomes))
    policies = ["controller", "controller (idle grace 0)", "reference", "always-on", "lower bound"]
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.16
    for i, policy in enumerate(policies):
        xs, ys = [], []
        for j, trace in enumerate(traces):
            match = [o for o in outcomes if o.trace == trace and o.policy == policy]
            if match:
                xs.append(j + (i - 2) * width)
                ys.append(match[0].iu_hours)
        ax.bar(xs, ys, width, label=policy)
    ax.set_xticks(range(len(traces)), traces)
    ax.set_yscale("log")
    ax.set_ylabel("billed IU-hours per day (log)")
    ax.set_title("B1: billed inference-unit hours, 1 IU, 5 TPS, 5-min start")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_b2(rows: list[ThroughputResult], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    labels = [f"{r.inference_units} IU" for r in rows]
    ax.bar([i - 0.2 for i in range(len(rows))], [r.capacity_tps for r in rows], 0.4, label="capacity (TPS × IUs)")
    ax.bar([i + 0.2 for i in range(len(rows))], [r.achieved_tps for r in rows], 0.4, label="achieved detections/s")
    ax.set_xticks(range(len(rows)), labels)
    ax.set_ylabel("images / s")
    ax.set_title("B2: throughput while draining")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_b3(rows: list[ImportResult], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.barh([r.module for r in rows], [r.median_ms for r in rows])
    ax.set_xlabel("import time, median of fresh interpreters (ms)")
    ax.set_title("B3: cold-start import time")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _b1_section(
    outcomes: list[Outcome], replays: list[Replay] | None = None, checks: list[CrossCheck] | None = None
) -> list[str]:
    replays, checks = replays or [], checks or []
    lines = [
        "## B1 — cost efficiency (headline)",
        "",
        "One model, 1 IU, 5 TPS per IU, emulator start delay 5 min and stop delay 1 min (both billed, as the",
        "emulator's meter bills from `StartProjectVersion` to `STOPPED`), $4 per IU-hour. Controller settings per",
        "trace as docs/controller.md advises: nightly = `scheduled`, window 02:00 UTC for 120 min, lead 5 min (=",
        "the start latency), idle grace 0; bursty and trickle = `on_demand`, backlog threshold 100, latency target",
        "30 / 60 min, idle grace 300 s (the default) and a second row with idle grace 0; poll intervals 30 s.",
        "",
        "The **controller rows are the real thing in virtual time** (`bench/replay.py`): the real controller",
        "definition in moto's Step Functions, started by the deployed triggers run offline (`localrun/triggers.py`:",
        "window schedule, backlog alarm → rule, 10-min re-check), the real detect handler fed by the local event",
        "source poller, moto S3 / EventBridge / SQS / DynamoDB and the emulator, all on the runtime's",
        "`VirtualClock`; every image is put with S3 `PutObject` at its arrival instant and travels the deployed",
        "ingest path (S3 → EventBridge → rule → SQS). Billed IU-hours and sessions are the emulator's meter;",
        "latency is each result's `detected_at − uploaded_at` (one-second resolution). The always-on and reference",
        "rows and the lower bound come from `bench/sim.py`.",
        "",
        "| trace | policy | images | billed IU-h | $ | × lower bound | latency p50 | p95 | max | sessions "
        "| over target |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for o in outcomes:
        lat = ("–", "–", "–") if o.policy == "lower bound" else tuple(_fmt_s(o.latency(q)) for q in (0.5, 0.95, 1.0))
        lines.append(
            f"| {o.trace} | {o.policy} | {o.images} | {o.iu_hours:.2f} | {o.dollars:.2f} | {o.ratio:.2f} | "
            f"{lat[0]} | {lat[1]} | {lat[2]} | {o.sessions} | {o.over_target if o.policy != 'lower bound' else '–'} |"
        )
    lines += ["", "![B1 billed IU-hours](benchmarks/b1-cost.png)", ""]
    by = {(o.trace, o.policy): o for o in outcomes}
    lines += ["### Targets", ""]
    nightly = by.get(("nightly", "controller"))
    if nightly is not None:
        excl = (nightly.iu_hours - nightly.start_latency_hours) / (
            nightly.lower_bound_iu_hours - nightly.start_latency_hours
        )
        lines.append(
            f"* Nightly ≤ 1.2× lower bound excluding start latency: **{excl:.2f}×** "
            f"({'met' if excl <= 1.2 else 'missed'}); {nightly.ratio:.2f}× including it."
        )
    for trace in ("nightly", "trickle", "bursty"):
        ctl, ref = by.get((trace, "controller")), by.get((trace, "reference"))
        tuned = by.get((trace, "controller (idle grace 0)"))
        if ctl is None or ref is None:
            continue
        factor = ref.iu_hours / ctl.iu_hours
        text = f"* {trace}: reference / controller = **{factor:.1f}×**"
        if tuned is not None:
            text += f" (idle grace 0: {ref.iu_hours / tuned.iu_hours:.1f}×)"
        if trace != "bursty":
            text += f" — target ≥ 10×: {'met' if factor >= 10 else 'missed'}"
            if tuned is not None and factor < 10:
                best = ref.iu_hours / tuned.iu_hours
                text += f"{' (met with idle grace 0)' if best >= 10 else ''}"
        lines.append(text + ".")
    over = [o for o in outcomes if o.policy.startswith("controller") and o.over_target]
    on_demand = [o for o in outcomes if o.policy.startswith("controller") and o.trace != "nightly"]
    worst = max((o.latency(1.0) for o in on_demand), default=float("nan"))
    lines.append(
        f"* No image over its latency target in on-demand mode: **{'met' if not over else 'missed'}** "
        f"(worst controller max latency {_fmt_s(worst)} against 30 min for bursty / 60 min for trickle)."
    )
    trickle_lb = by.get(("trickle", "lower bound"))
    if trickle_lb is not None:
        lines += [
            "",
            "What limits trickle: every session pays a 5-min start plus a 1-min stop for ~10 images, and the",
            "latency target caps how many images a session can wait for (60 min − start latency); the lower bound",
            f"itself is {trickle_lb.iu_hours:.2f} IU-h. The reference policy stays billed ~2 h per 3-h cycle",
            "(15-min status polls, 59-min hold, hourly stop check), so the achievable factor on this trace is",
            f"at most {by[('trickle', 'reference')].iu_hours / trickle_lb.iu_hours:.1f}× even for a perfect policy.",
        ]
    if replays or checks:
        lines += _b1_runs(replays, checks)
    return lines


def _b1_runs(replays: list[Replay], checks: list[CrossCheck]) -> list[str]:
    """How each real-controller replay ran, and the rules copy against it."""
    lines = [
        "",
        "### The real controller against the rules copy",
        "",
        f"The benchmark fails (`CrossCheckError`, nonzero exit) when `bench.sim.Controller` bills more than "
        f"{CROSS_CHECK_TOLERANCE:.0%} away from the real controller on a trace. Phases are summed over the sessions.",
        "",
        "| trace | policy | real IU-h | rules copy IU-h | difference | sessions real / copy | STARTING s | RUNNING s "
        "(until stop requested) | STOPPING s | rules copy STARTING / RUNNING / STOPPING s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for c in checks:
        copy_phases = _phase_cells(c.rules_phases).replace(" | ", " / ")
        lines.append(
            f"| {c.trace} | {c.policy} | {c.real_iu_hours:.3f} | {c.rules_iu_hours:.3f} | "
            f"{c.relative_difference:+.1%} ({'agrees' if c.agrees else 'DISAGREES'}) | {c.real_sessions} / "
            f"{c.rules_sessions} | {_phase_cells(c.real_phases)} | {copy_phases} |"
        )
    if replays:
        lines += [
            "",
            "Each replay's run (one offline runtime per row, this machine): simulated span from the trace's t = 0 to",
            "the end of the run, executions started per trigger, backlog alarm evaluations, clock jumps.",
            "",
            "| trace | policy | images | wall s | simulated h | executions (trigger: n) | alarm evaluations "
            "| dead letters | clock jumps |",
            "|---|---|---:|---:|---:|---|---:|---:|---:|",
        ]
        for r in replays:
            o = r.outcome
            started = ", ".join(f"{k}: {v}" for k, v in sorted(r.executions.items()))
            lines.append(
                f"| {o.trace} | {o.policy} | {o.images} | {r.wall_seconds:.0f} | {r.simulated_seconds / 3600:.1f} "
                f"| {started} | {r.alarm_evaluations} | {r.dead_letters} | {r.clock_jumps} |"
            )
        total = sum(r.wall_seconds for r in replays)
        lines += ["", f"Wall time of the real-controller replays: {total:.0f} s in all."]
    return lines


def _met(ok: bool) -> str:
    return "met" if ok else "missed"


def _runs(row: ScalingRow) -> str:
    """``5: 1.9–2.4`` (runs: fastest–slowest wall s), or ``1`` for a single run."""
    walls = row.wall_runs or (row.wall_seconds,)
    if len(walls) == 1:
        return "1"
    return f"{len(walls)}: {min(walls):.1f}–{max(walls):.1f}"


def b5_section(rows: list[ScalingRow], command: str = B5_CMD) -> list[str]:
    """The B5 table and its targets; ``command`` is the one that measured ``rows``."""
    lines = [
        "## B5 — rehearsal scaling (virtual time)",
        "",
        "`clp local run --labels` on the `clp demo` dataset (`localrun.sample.generate`: N images, a tenth of",
        "them unknown to the model, plus its 5 bad files, so N + 5 uploads) through the whole offline runtime",
        "(`localrun.rehearsal.run_directory`: real controller ASL in moto Step Functions, real detect handler,",
        "moto S3 / SQS / DynamoDB / EventBridge, the emulator), default `RuntimeOptions` (start 300 s, stop",
        "60 s, unpaced `VirtualClock`) and cdk.json's model (5 TPS, 1 IU, idle grace 300 s, drain poll 60 s).",
        "Each run is a fresh interpreter (`python -m bench.rehearsal --one N --json`), so peak RSS",
        "(`VmHWM`) is that run's alone. This machine's CPU speed wanders (the same pure-Python loop took 0.65",
        "to 1.2 s in consecutive runs), which a 2-s run feels and a minutes-long one averages out: sizes up to",
        "100 images are run 5 times, up to 1,000 3 times, larger once, and the row is the run of median wall",
        "(every run of a size must bill the same, or the benchmark fails). Wall = `run_directory` (runtime",
        "set-up, upload, drain, stop);",
        "generating the dataset is not counted; CPU = user + system CPU of the process over the same span",
        "(the machine is shared: CPU moves less than wall with other people's load). Billed IU-seconds are",
        "the emulator's meter (virtual time); the analytic lower bound is start delay + uploads ÷ (TPS × IUs)",
        "+ idle grace + stop delay, the upper bound one drain poll interval more.",
        "",
        "```",
        command,
        "```",
        "",
        "| images | uploads | runs: wall s | wall s | CPU s | ms / upload | vs smallest | marginal ms / upload "
        "| peak RSS MB "
        "| sessions | billed IU-s | lower | upper | vs lower | within 2 % | detected | failed | dead letters "
        "| completed |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    spread = flatness(rows)
    extra = marginal_ms(rows)
    for r, rel, step in zip(rows, spread, extra, strict=True):
        lines.append(
            f"| {r.images} | {r.uploads} | {_runs(r)} | {r.wall_seconds:.1f} | {r.cpu_seconds:.1f} "
            f"| {r.wall_ms_per_image:.1f} "
            f"| {rel:+.0%} "
            f"| {'–' if step is None else f'{step:.1f}'} "
            f"| {r.peak_rss_mb:.0f} | {r.sessions} | {r.iu_seconds:.0f} | {r.lower_iu_seconds:.0f} "
            f"| {r.upper_iu_seconds:.0f} | {r.relative_error:+.1%} | {'yes' if r.within_target else 'no'} "
            f"| {r.detected} | {r.failed} | {r.dead_letters} | {'yes' if r.completed else 'no'} |"
        )
    lines += ["", "Targets:", ""]
    big = next((r for r in rows if r.images == TARGET_IMAGES), None)
    if big is None:
        lines.append(
            f"* {TARGET_IMAGES:,} images in ≤ {WALL_TARGET_SECONDS / 60:.0f} min wall and ≤ "
            f"{RSS_TARGET_MB / 1024:.1f} GB peak RSS on this machine: **not measured** in this run."
        )
    else:
        lines.append(
            f"* {TARGET_IMAGES:,} images in ≤ {WALL_TARGET_SECONDS / 60:.0f} min wall: "
            f"**{_met(big.wall_seconds <= WALL_TARGET_SECONDS)}** ({big.wall_seconds / 60:.1f} min); ≤ "
            f"{RSS_TARGET_MB / 1024:.1f} GB peak RSS: **{_met(big.peak_rss_mb <= RSS_TARGET_MB)}** "
            f"({big.peak_rss_mb / 1024:.2f} GB)."
        )
    if rows:
        sizes = f"{min(r.images for r in rows):,} to {max(r.images for r in rows):,} images"
        worst = max(spread, key=abs)
        lines.append(
            f"* Wall time per upload flat within ±{FLATNESS_TOLERANCE:.0%} from {sizes}: "
            f"**{_met(all(abs(x) <= FLATNESS_TOLERANCE for x in spread))}** (largest deviation from the "
            f"smallest size {worst:+.0%}){'' if big is not None else ' — the target spans 100 to 10,000'}."
        )
        steps = [x for x in extra if x is not None]
        fixed = fixed_seconds(rows)
        if steps and fixed is not None:
            step_spread = [x / steps[0] - 1 for x in steps]
            lines.append(
                f"* Marginal ms per upload (wall beyond the next smaller size ÷ the extra uploads; it leaves out the "
                f"fixed start-up, {fixed:.1f} s by the two smallest sizes) flat within ±{FLATNESS_TOLERANCE:.0%}: "
                f"**{_met(all(abs(x) <= FLATNESS_TOLERANCE for x in step_spread))}** "
                f"({', '.join(f'{x:.1f}' for x in steps)} ms)."
            )
        lines.append(
            f"* Billed IU-seconds within {BILLING_TOLERANCE:.0%} of the analytic figure (lower bound, plus at "
            f"most one poll interval): **{_met(all(r.within_target for r in rows))}** "
            f"({sum(r.within_target for r in rows)} of {len(rows)} sizes)."
        )
    return lines


def write(results: dict[str, Any], out: Path) -> Path:
    figures = out / "benchmarks"
    figures.mkdir(parents=True, exist_ok=True)
    m = results["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Generated by `python -m bench` (`make bench`); do not edit by hand. "
        f"{'**Quick run** (`make bench-quick`): shorter B2/B4. ' if results['quick'] else ''}"
        f"Total {results['seconds']:.0f} s.",
        "",
        "```",
        CMD,
        "```",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores (shared with other work), Python {m['python']}, {m['platform']}.",
        "Packages: " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()) + ".",
        "",
        "## What is real and what is simulated",
        "",
        "| | B1 controller rows | B1 other policies, cross-check | B2 | B3 | B4 | B5 |",
        "|---|---|---|---|---|---|---|",
        "| controller | **real ASL** in moto | rules copy in Python (`bench/sim.py`) | – | – | – "
        "| **real ASL** in moto |",
        "| Rekognition lifecycle + billing meter | **emulator**, VirtualClock | **emulator**, ManualClock "
        "| emulator | – | fake | **emulator**, VirtualClock |",
        "| detect handler | **real** | throughput limit only (TPS × IUs) | **real** `handle()` | **real** import "
        "| **real** `handle()` | **real** |",
        "| SQS / triggers | moto + local poller; deployed triggers offline (`localrun/triggers.py`) "
        "| simulated FIFO queue; alarm evaluated per 1-min period | in-memory queue | – | – "
        "| moto + local poller; executions started by the rehearsal |",
        "| DynamoDB / EventBridge / S3 | moto | – | in-memory | – | fake boto3 clients | moto |",
        "",
        "The rules copy (`bench.sim.Controller`, the cross-check of B1's controller rows), from",
        "`infra/statemachines/controller.asl.json` and docs/controller.md: a schedule fires",
        "`lead` before the window and the window ends at fire time + lead + window; the backlog alarm is",
        "`visible ≥ threshold OR age ≥ latency target − 15 min` (age floor 60 s) evaluated every minute, an",
        "execution starts on its transition to ALARM and on the 10-minute re-check while it stays in ALARM; the",
        "lock admits one session; status polled every `start_poll_interval` until RUNNING; then the mapping is",
        "enabled and the queue read every `poll_interval` (first read one interval after enabling); `idle_since`",
        "set at the first read of visible + in flight = 0 and cleared by a non-zero read; teardown when drained",
        "for the idle grace, the window is over or max runtime is hit (an image whose detection ends at the",
        "instant of a queue read still counts as in flight); stop polled every `start_poll_interval`. Not modelled,",
        "by the copy nor by the offline triggers: CloudWatch's metric delay for SQS (minutes in AWS; it adds to",
        "latency, not to billing beyond the same delay), Step Functions' own state latency, the ESM's batching",
        "window. The reference policy (the public AWS batch-processing sample) is implemented only in",
        "`bench/sim.py`.",
        "",
    ]
    if "b1" in results:
        _plot_b1(results["b1"], figures / "b1-cost.png")
        lines += _b1_section(results["b1"], results.get("b1_replays"), results.get("b1_checks"))
        lines.append("")
    if "b2" in results:
        rows: list[ThroughputResult] = results["b2"]
        _plot_b2(rows, figures / "b2-throughput.png")
        lines += [
            "## B2 — throughput while draining",
            "",
            "The real `handle()` with the real `RekognitionDetector` on a boto3 client answered by the emulator",
            "(5 TPS per IU over a sliding second, wall clock), `ModelConfig.effective_max_concurrency` workers",
            "each taking batches of 10 from an in-memory queue (item failures back to the tail, dead-lettered",
            "after 5 receives). Each call is given the 1.0 s service time the concurrency sizing assumes",
            "(`DETECT_CALL_SECONDS_ESTIMATE`); the emulator itself answers at once.",
            "",
            "| IUs | capacity (img/s) | max concurrency | images | achieved (img/s) | % of capacity "
            "| throttled calls | dead-lettered |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            lines.append(
                f"| {r.inference_units} | {r.capacity_tps:.0f} | {r.concurrency} | {r.images} | {r.achieved_tps:.2f} | "
                f"{r.share:.1%} | {r.throttled_attempts} | {r.dead_lettered} |"
            )
        ok = all(r.share >= 0.9 and r.dead_lettered == 0 for r in rows)
        lines += [
            "",
            f"Target ≥ 90% of capacity with zero images failed by throttling: **{'met' if ok else 'missed'}**.",
            "",
            "Honest caveats: the emulator answers through a botocore `before-call` hook, i.e. *before* botocore's",
            "retry handler, so a `ProvisionedThroughputExceededException` is never retried by the SDK's adaptive",
            "mode offline: it surfaces to the handler as a retryable error, the record is reported as a batch item",
            "failure and SQS redelivers it. In AWS the adaptive retries absorb most throttles first. With concurrency",
            "= TPS × 1 s and 1-s calls the pollers cannot exceed the limit, so throttles are rare; what limits the",
            "share is the tail (the last round of batches runs with idle workers) and the window's second",
            "boundaries. If calls are faster than 1 s the same concurrency under-uses the model.",
            "",
            "![B2 throughput](benchmarks/b2-throughput.png)",
            "",
        ]
    if "b3" in results:
        b3: list[ImportResult] = results["b3"]
        _plot_b3(b3, figures / "b3-import.png")
        base = next(r for r in b3 if r.module == "boto3")
        handler = next(r for r in b3 if r.module != "boto3")
        delta = handler.median_ms - base.median_ms
        delta_cpu = handler.median_cpu_ms - base.median_cpu_ms
        lines += [
            "## B3 — cold start (import time)",
            "",
            f"Median of {base.runs} fresh interpreters each (interleaved, bytecode cached, same run):",
            "",
            "| module | median wall (ms) | min wall (ms) | median CPU (ms) |",
            "|---|---:|---:|---:|",
            *[f"| `{r.module}` | {r.median_ms:.0f} | {r.min_ms:.0f} | {r.median_cpu_ms:.0f} |" for r in b3],
            "",
            f"`lambdas.detect.handler` − `boto3` = **{delta:.0f} ms** (target ≤ 150 ms: "
            f"**{'met' if delta <= 150 else 'missed'}**); in CPU time {delta_cpu:.0f} ms "
            f"({'met' if delta_cpu <= 150 else 'missed'}). Wall time on this shared 2-core machine swings with",
            "other work (see min vs median); CPU time is the steadier figure. The handler imports boto3 itself; the"
            " rest is Powertools",
            "(Logger, Metrics, batch processing, the SQS data class and its parser extra) and pydantic (the",
            "settings and event models). X-Ray's Tracer is not imported: the docs use Lambda's built-in tracing.",
            "Measure what dominates with `.venv/bin/python -X importtime -c 'import lambdas.detect.handler'`.",
            "",
            "![B3 import time](benchmarks/b3-import.png)",
            "",
        ]
    if "b4" in results:
        b4: OverheadResult = results["b4"]
        lines += [
            "## B4 — handler overhead per record",
            "",
            f"`handle(event, context, settings, deps)` over {b4.batches} batches of {b4.batch_size} records, with the",
            "real adapters (`RekognitionDetector`, `S3ObjectInspector`, `DynamoResultsRepository`,",
            "`EventBridgePublisher`, `SqsRequeuer`) on in-memory fake boto3 clients (no moto, no network), logs",
            "at INFO into a sink, EMF metrics flushed into a sink.",
            "",
            f"**{b4.cpu_us_per_record:.0f} µs CPU per record** "
            f"({b4.wall_us_per_record:.0f} µs wall on a shared machine).",
            "",
            "cProfile, cumulative share of handler time (largest first; nested entries overlap):",
            "",
            "| function | share |",
            "|---|---:|",
            *[f"| `{name}` | {share:.0%} |" for name, share in b4.top],
            "",
            "Self time by kind of work (the top three are the answer to *where does the time go*):",
            "",
            "| kind | share of self time |",
            "|---|---:|",
            *[f"| {kind} | {share:.0%} |" for kind, share in b4.categories],
            "",
            "The DynamoDB write dominates: `DynamoResultsRepository.put` builds a transaction of the result item",
            "plus one item per label and serializes it with boto3's `TypeSerializer` (float → Decimal); a",
            "hand-written serializer for the known item shape would be the first optimisation. Against a",
            "DetectCustomLabels call of ~100 ms+ the whole handler overhead is well under 1%.",
            "",
        ]
    if "b5" in results:
        lines += b5_section(results["b5"])
        lines.append("")
    path = out / "benchmarks.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
