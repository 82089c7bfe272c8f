"""``clp backfill s3://bucket/prefix``: label objects already in the uploads bucket, against a deployed stack.

The model is ``--model`` or the one whose prefix holds the URL's. The work is done by the model's backfill
state machine (infra/statemachines/backfill.asl.json); this command starts it and reports progress:

* listed — objects the Distributed Map read from the listing (its map run's item counts);
* enqueued — objects in finished batches (sent to the detect queue, or skipped: already labelled);
* detected — enqueued objects no longer on the queue (approximate: the queue also carries new uploads).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlparse

import typer
from rich.progress import Progress

from clp import queries
from clp.deployment import Deployment, ModelTarget, StackContext
from clp.errors import BackfillError, UsageError
from clp.handling import handle_errors
from clp.options import RegionOption, StackOption
from clp.render import add_task, err, out, progress

UrlArgument = Annotated[str, typer.Argument(help="s3://<uploads bucket>/<prefix> whose existing objects get labelled.")]
BackfillModelOption = Annotated[
    str | None, typer.Option("--model", help="Model name (default: the model whose prefix contains the URL's).")
]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Count the objects and show the plan; start nothing.")]
SkipExistingOption = Annotated[
    bool, typer.Option("--skip-existing/--all", help="Skip objects that already have a result of the model version.")
]
StartControllerOption = Annotated[
    bool, typer.Option("--start-controller/--no-start-controller", help="Start the model controller afterwards.")
]
WaitOption = Annotated[bool, typer.Option("--wait/--no-wait", help="Follow progress until the queue drained.")]
PollOption = Annotated[float, typer.Option("--poll", min=0.0, help="Seconds between progress polls.")]
COUNTS = ("listed", "enqueued", "detected")


@dataclass(frozen=True)
class Target:
    """Where a backfill runs: the bucket, the prefix and the model (from the stack manifest)."""

    bucket: str
    prefix: str
    model: str
    model_prefix: str
    state_machine_arn: str
    queue_url: str


@dataclass(frozen=True)
class Snapshot:
    """Progress of one backfill execution."""

    status: str
    listed: int
    enqueued: int
    detected: int
    failed_batches: int
    queue_depth: int


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix/`` → ``("bucket", "some/prefix/")``; anything else is invalid usage."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise UsageError(f"expected s3://bucket/prefix, got {url!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def _owner(deployment: Deployment, prefix: str, model: str | None) -> ModelTarget:
    if model is not None:
        if model not in deployment.models:
            raise BackfillError(f"unknown model {model!r}; configured: {', '.join(deployment.models)}")
        return deployment.models[model]
    owners = [m for m in deployment.models.values() if prefix.startswith(m.prefix)]
    if not owners:
        known = ", ".join(f"{m.name} ({m.prefix})" for m in deployment.models.values())
        raise BackfillError(f"no model owns prefix {prefix!r}; models: {known}")
    return owners[0]  # prefixes never overlap (config validation)


def resolve_target(deployment: Deployment, url: str, model: str | None) -> Target:
    """Check the URL against the manifest and pick the model (``--model`` or the one owning the prefix)."""
    bucket, prefix = parse_s3_url(url)
    if bucket != deployment.bucket:
        raise BackfillError(f"bucket {bucket!r} is not the pipeline's uploads bucket ({deployment.bucket})")
    owner = _owner(deployment, prefix, model)
    prefix = prefix or owner.prefix
    if not prefix.startswith(owner.prefix):
        raise BackfillError(f"prefix {prefix!r} is outside model {owner.name!r}'s prefix {owner.prefix!r}")
    if owner.backfill_arn is None:
        raise BackfillError("the deployed stack has no backfill state machine: deploy this version first")
    return Target(bucket, prefix, owner.name, owner.prefix, owner.backfill_arn, owner.queue_url)


def start(sfn: Any, target: Target, *, skip_existing: bool = True, start_controller: bool = True) -> str:
    """Start the model's backfill; returns the execution ARN."""
    payload = {"prefix": target.prefix, "skip_existing": skip_existing, "start_controller": start_controller}
    response = sfn.start_execution(
        stateMachineArn=target.state_machine_arn,
        name=f"clp-backfill-{uuid.uuid4().hex[:16]}",
        input=json.dumps(payload),
    )
    return str(response["executionArn"])


def snapshot(sfn: Any, sqs: Any, target: Target, execution_arn: str) -> Snapshot:
    """Where the backfill stands (see the module docstring for what each count means)."""
    status = queries.execution_status(sfn, execution_arn)
    listed, enqueued, failed = queries.map_run_counts(sfn, execution_arn)
    depth = queries.queue_depth(sqs, target.queue_url).undelivered
    return Snapshot(status, listed, enqueued, max(0, enqueued - depth), failed, depth)


def _finished(current: Snapshot, until_detected: bool) -> bool:
    if current.status == "RUNNING":
        return False
    return current.status != "SUCCEEDED" or not until_detected or current.queue_depth == 0


def follow(
    sfn: Any,
    sqs: Any,
    target: Target,
    execution_arn: str,
    on_update: Callable[[Snapshot], None],
    *,
    poll_seconds: float = 5.0,
    until_detected: bool = True,
    timeout_seconds: float = 24 * 3600,
) -> Snapshot:
    """Poll until the execution ends (and, with ``until_detected``, the queue has drained)."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        current = snapshot(sfn, sqs, target, execution_arn)
        on_update(current)
        if _finished(current, until_detected):
            return current
        if time.monotonic() > deadline:
            raise BackfillError(f"backfill still in progress after {timeout_seconds:.0f} s: {execution_arn}")
        time.sleep(poll_seconds)


def _dry_run(context: StackContext, target: Target, *, skip_existing: bool, start_controller: bool) -> None:
    count = queries.count_objects(context.clients("s3"), target.bucket, target.prefix)
    out.print(
        f"dry run: {count} objects under s3://{target.bucket}/{target.prefix} for model {target.model}; "
        f"{'objects with a result are skipped' if skip_existing else 'every object is enqueued'}; "
        f"the controller is {'started' if start_controller else 'not started'} afterwards. Nothing started.",
        highlight=False,
    )


def _show(bar: Progress) -> Callable[[Snapshot], None]:
    tasks = {name: add_task(bar, name, None) for name in COUNTS}

    def update(s: Snapshot) -> None:
        for name in COUNTS:
            bar.update(tasks[name], completed=getattr(s, name), total=s.listed or None)

    return update


def _follow_with_progress(context: StackContext, target: Target, execution_arn: str, poll_seconds: float) -> Snapshot:
    sfn, sqs = context.clients("stepfunctions"), context.clients("sqs")
    with progress() as bar:
        return follow(sfn, sqs, target, execution_arn, _show(bar), poll_seconds=poll_seconds)


@handle_errors
def backfill_command(
    url: UrlArgument,
    model: BackfillModelOption = None,
    dry_run: DryRunOption = False,
    skip_existing: SkipExistingOption = True,
    start_controller: StartControllerOption = True,
    wait: WaitOption = True,
    stack: StackOption = None,
    region: RegionOption = None,
    poll_seconds: PollOption = 5.0,
) -> None:
    """Label objects already under a prefix: list → skip labelled → enqueue → start the model (docs/operations.md).

    Exit status: 0 when the backfill succeeded (or was started, with --no-wait), 1 on an error or a backfill
    that did not succeed, 2 on invalid usage (not an s3:// URL).
    """
    parse_s3_url(url)  # invalid usage before any AWS call
    context = StackContext(stack, region)
    target = resolve_target(context.deployment, url, model)
    if dry_run:
        _dry_run(context, target, skip_existing=skip_existing, start_controller=start_controller)
        return
    execution_arn = start(
        context.clients("stepfunctions"), target, skip_existing=skip_existing, start_controller=start_controller
    )
    err.print(f"backfill started: {execution_arn}", highlight=False)
    if not wait:
        out.print(execution_arn, highlight=False)
        return
    final = _follow_with_progress(context, target, execution_arn, poll_seconds)
    out.print(
        f"backfill {final.status.lower()}: listed {final.listed}, enqueued {final.enqueued}, "
        f"detected ~{final.detected}, queue {final.queue_depth}",
        highlight=False,
    )
    if final.status != "SUCCEEDED":
        raise BackfillError(f"the backfill execution ended {final.status}: {execution_arn}")
