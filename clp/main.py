"""``clp`` — run the pipeline offline (``demo``, ``local run``) and operate a deployed stack."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from clp import render as output
from clp.commands.backfill import backfill_command
from clp.commands.cost import cost_command
from clp.commands.preflight import preflight_command
from clp.commands.redrive import redrive_command
from clp.commands.results import results_command
from clp.commands.review import review_app
from clp.commands.start import start_command
from clp.commands.status import status_command
from clp.commands.stop import stop_command
from clp.deployment import pipeline_config
from clp.errors import ClpError
from clp.gallery.offline import write_saved_gallery
from clp.report import render, summary
from infra.config import DEFAULT_CDK_JSON, PipelineConfig
from localrun.emulator import Manifest, ManifestError
from localrun.rehearsal import Progress as RunProgress, Rehearsal, RehearsalTimeoutError, RunResult, run_directory
from localrun.runtime import LOCAL_TABLE, OfflineRuntime, RuntimeOptions
from localrun.sample import generate, with_demo_review
from localrun.state import LocalState

app = typer.Typer(
    help="Custom Labels Pipeline: rehearse it offline, or operate a deployed stack.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
local_app = typer.Typer(help="Run the pipeline offline (moto + the Custom Labels emulator).", no_args_is_help=True)
app.add_typer(local_app, name="local")
app.add_typer(review_app, name="review")
for _name, _command in (
    ("status", status_command),
    ("start", start_command),
    ("stop", stop_command),
    ("results", results_command),
    ("cost", cost_command),
    ("redrive", redrive_command),
    ("backfill", backfill_command),
    ("preflight", preflight_command),
):
    app.command(_name)(_command)

err = Console(stderr=True, soft_wrap=True)
out = Console()

ConfigOption = Annotated[
    Path, typer.Option("--config", help="cdk.json whose 'pipeline' block configures the pipeline.")
]
ScaleOption = Annotated[
    float | None,
    typer.Option(
        "--time-scale",
        min=1.0,
        help="Pace the rehearsal for watching: at most this many simulated seconds per real second. "
        "Default: as fast as the host can. Changes no simulated figure (times, sessions, bill).",
    ),
]


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a one-line error and return the exit to raise."""
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def _config(path: Path) -> PipelineConfig:
    try:
        return pipeline_config(path)
    except ClpError as exc:
        raise fail(str(exc), exc.exit_code) from exc


def _check_images(images: Path) -> list[Path]:
    """Every file under ``images``; fails before anything is uploaded if one cannot be read."""
    if not images.exists():
        raise fail(f"images directory not found: {images}")
    if not images.is_dir():
        raise fail(f"not a directory: {images}")
    files = []
    for path in sorted(images.rglob("*")):
        if path.is_symlink() and not path.exists():
            raise fail(f"cannot read {path}: broken symbolic link")
        if path.is_file():
            if not os.access(path, os.R_OK):
                raise fail(f"cannot read {path}: permission denied")
            files.append(path)
    return files


def _manifest(labels: Path | None) -> Manifest | None:
    if labels is None:
        return None
    if not labels.is_file():
        raise fail(f"labels manifest not found: {labels}")
    try:
        return Manifest.load(labels)
    except ManifestError as exc:
        raise fail(str(exc)) from exc
    except OSError as exc:
        raise fail(f"cannot read {labels}: {exc.strerror}") from exc


def _run_with_progress(
    config: PipelineConfig,
    images: Path,
    options: RuntimeOptions,
    *,
    total: int,
    show: bool,
    timeout: float,
    keep: Callable[[OfflineRuntime], None] | None = None,
) -> RunResult:
    if not show:
        return run_directory(config, images, runtime_options=options, timeout_seconds=timeout)
    with output.progress() as bar:
        task = output.add_task(bar, "images", total, status="uploading")

        def update(p: RunProgress) -> None:
            bar.update(
                task,
                completed=p.detected + p.failed,
                status=f"model {p.model_status} · queue {p.queued} · t+{p.simulated_seconds / 60:.0f} sim-min",
            )

        with OfflineRuntime(config, options) as runtime:
            keys = runtime.upload_directory(images)
            result = Rehearsal(runtime).run(keys, progress=update, timeout_seconds=timeout)
            if keep is not None:  # the world is gone once the runtime exits
                keep(runtime)
            return result


@local_app.command("run")
def local_run(
    images: Annotated[Path, typer.Option("--images", help="Directory whose files are uploaded (recursively).")],
    labels: Annotated[
        Path | None,
        typer.Option("--labels", help="Ground Truth manifest the emulated model replays (default: no labels)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print exactly one JSON document on stdout.")] = False,
    config_path: ConfigOption = DEFAULT_CDK_JSON,
    time_scale: ScaleOption = None,
    timeout: Annotated[float, typer.Option("--timeout", min=1.0, help="Give up after this many real seconds.")] = 900.0,
) -> None:
    """Upload every file under --images (key = first model's prefix + relative path), run the pipeline
    (controller included) until every object has a terminal result and the model is stopped, and report.

    Exit status 0 when the run completed, whatever the per-image statuses.
    """
    config = _config(config_path)
    files = _check_images(images)
    manifest = _manifest(labels)
    options = RuntimeOptions(time_scale=time_scale, manifest=manifest, log_path=None)
    try:
        result = _run_with_progress(config, images, options, total=len(files), show=not as_json, timeout=timeout)
    except RehearsalTimeoutError as exc:
        raise fail(str(exc), code=1) from exc
    if as_json:
        print(json.dumps(result.contract(), ensure_ascii=False))
    else:
        render(out, summary(result, config.price_per_inference_unit_hour))
    if not result.completed:
        raise typer.Exit(1)


@app.command()
def demo(
    output: Annotated[
        Path, typer.Option("--output", help="Where the dataset, report.json, gallery/ and state/ are written.")
    ] = Path("demo-output"),
    count: Annotated[int, typer.Option("--images", min=3, max=20_000, help="Sample images to generate.")] = 60,
    config_path: ConfigOption = DEFAULT_CDK_JSON,
    time_scale: ScaleOption = None,
) -> None:
    """Rehearse a nightly batch window offline on a generated produce-quality dataset (ripe / rotten / raw).

    Uploads arrive while the model is stopped; the window opens, the controller starts the model, the
    queue drains, the model stops. Ends with outcomes, labels, sessions and cost next to an always-on model.
    Results the model is unsure of are left pending review (unless the config sets its own review policy).
    """
    config = with_demo_review(_config(config_path))
    err.print(
        "[dim]Offline rehearsal: moto + the Custom Labels emulator (replays labels from a manifest; "
        "not the real service).[/]"
    )
    dataset = generate(output / "dataset", images=count)
    files = _check_images(dataset.images_dir)
    options = RuntimeOptions(
        time_scale=time_scale, manifest=Manifest.load(dataset.manifest), log_path=output / "lambda.log"
    )
    err.print(
        f"{len(files)} uploads ({dataset.labelled} known to the model, {dataset.unlabelled} unknown, "
        f"{dataset.bad_files} bad files) arrive while [bold]{config.models[0].name}[/] is stopped; "
        "the batch window opens."
    )
    try:
        timeout = max(600.0, 0.1 * len(files))  # real seconds: generous for a batch this size on a slow host
        # The world (results table, config) stays on disk for `clp review --local` (localrun/state.py).
        state = LocalState(output)

        def keep(runtime: OfflineRuntime) -> None:
            state.save(
                runtime.client("dynamodb"), config, images_dir=dataset.images_dir, manifest=dataset.manifest,
                table=LOCAL_TABLE,
            )  # fmt: skip

        result = _run_with_progress(
            config, dataset.images_dir, options, total=len(files), show=True, timeout=timeout, keep=keep
        )
    except RehearsalTimeoutError as exc:
        raise fail(str(exc), code=1) from exc
    report = summary(result, config.price_per_inference_unit_hour)
    render(out, report)
    path = output / "report.json"
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    out.print(f"report: {path}")
    gallery = write_saved_gallery(state, output / "gallery")
    out.print(f"gallery: {gallery}")
    if not result.completed:
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover - console script entry point
    app()
