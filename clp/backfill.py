"""``clp backfill s3://bucket/prefix``: label objects already in the uploads bucket, against a deployed stack.

The stack is found by its ``PipelineManifest`` CloudFormation output (infra/stack.py); the model by
``--model`` or by the prefix. The work is done by the model's backfill state machine
(infra/statemachines/backfill.asl.json); this module starts it and reports progress:

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

import boto3
import typer
from botocore.exceptions import ClientError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

DEFAULT_STACK_NAME = "CustomLabelsPipeline"
MANIFEST_OUTPUT = "PipelineManifest"


class BackfillError(RuntimeError):
    """The backfill cannot be started or followed; the message says why."""


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
    """``s3://bucket/some/prefix/`` → ``("bucket", "some/prefix/")``."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise BackfillError(f"expected s3://bucket/prefix, got {url!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def read_manifest(cloudformation: Any, stack_name: str) -> dict[str, Any]:
    """The ``PipelineManifest`` output of the deployed stack."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        raise BackfillError(f"stack {stack_name!r} not found: {exc.response['Error'].get('Message', exc)}") from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    if MANIFEST_OUTPUT not in outputs:
        raise BackfillError(f"stack {stack_name!r} has no {MANIFEST_OUTPUT} output (deployed before clp existed?)")
    manifest: dict[str, Any] = json.loads(outputs[MANIFEST_OUTPUT])
    return manifest


def resolve_target(manifest: dict[str, Any], url: str, model: str | None) -> Target:
    """Check the URL against the manifest and pick the model (``--model`` or the one owning the prefix)."""
    bucket, prefix = parse_s3_url(url)
    if bucket != manifest["bucket"]:
        raise BackfillError(f"bucket {bucket!r} is not the pipeline's uploads bucket ({manifest['bucket']})")
    models: dict[str, dict[str, Any]] = manifest["models"]
    if model is None:
        owners = [name for name, m in models.items() if prefix.startswith(m["prefix"])]
        if not owners:
            known = ", ".join(f"{n} ({m['prefix']})" for n, m in models.items())
            raise BackfillError(f"no model owns prefix {prefix!r}; models: {known}")
        model = owners[0]  # prefixes never overlap (config validation)
    if model not in models:
        raise BackfillError(f"unknown model {model!r}; configured: {', '.join(models)}")
    entry = models[model]
    if not prefix:
        prefix = entry["prefix"]
    if not prefix.startswith(entry["prefix"]):
        raise BackfillError(f"prefix {prefix!r} is outside model {model!r}'s prefix {entry['prefix']!r}")
    if "backfill_state_machine_arn" not in entry:
        raise BackfillError("the deployed stack has no backfill state machine: deploy this version first")
    return Target(bucket, prefix, model, entry["prefix"], entry["backfill_state_machine_arn"], entry["queue_url"])


def count_objects(s3: Any, bucket: str, prefix: str) -> int:
    """Objects the backfill would consider (folder markers excluded) — for ``--dry-run``."""
    total = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        total += sum(1 for item in page.get("Contents", []) if not item["Key"].endswith("/"))
    return total


def start(sfn: Any, target: Target, *, skip_existing: bool = True, start_controller: bool = True) -> str:
    """Start the model's backfill; returns the execution ARN."""
    payload = {"prefix": target.prefix, "skip_existing": skip_existing, "start_controller": start_controller}
    response = sfn.start_execution(
        stateMachineArn=target.state_machine_arn,
        name=f"clp-backfill-{uuid.uuid4().hex[:16]}",
        input=json.dumps(payload),
    )
    return str(response["executionArn"])


def _queue_depth(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in attributes.values())


def map_run_counts(sfn: Any, execution_arn: str) -> tuple[int, int, int]:
    """(listed, processed, failed) items of the execution's Distributed Map run(s)."""
    listed = processed = failed = 0
    for run in sfn.list_map_runs(executionArn=execution_arn).get("mapRuns", []):
        counts = sfn.describe_map_run(mapRunArn=run["mapRunArn"]).get("itemCounts", {})
        listed += int(counts.get("total", 0))
        processed += int(counts.get("succeeded", 0))
        failed += int(counts.get("failed", 0))
    return listed, processed, failed


def snapshot(sfn: Any, sqs: Any, target: Target, execution_arn: str) -> Snapshot:
    """Where the backfill stands (see the module docstring for what each count means)."""
    status = str(sfn.describe_execution(executionArn=execution_arn)["status"])
    listed, enqueued, failed = map_run_counts(sfn, execution_arn)
    depth = _queue_depth(sqs, target.queue_url)
    return Snapshot(status, listed, enqueued, max(0, enqueued - depth), failed, depth)


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
        finished = current.status != "RUNNING"
        if finished and (current.status != "SUCCEEDED" or not until_detected or current.queue_depth == 0):
            return current
        if time.monotonic() > deadline:
            raise BackfillError(f"backfill still in progress after {timeout_seconds:.0f} s: {execution_arn}")
        time.sleep(poll_seconds)


# -- the command ---------------------------------------------------------------------------------


def backfill_command(
    url: Annotated[str, typer.Argument(help="s3://<uploads bucket>/<prefix> whose existing objects get labelled.")],
    model: Annotated[
        str | None, typer.Option("--model", help="Model name (default: the model whose prefix contains the URL's).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count the objects and show the plan; start nothing.")
    ] = False,
    skip_existing: Annotated[
        bool,
        typer.Option("--skip-existing/--all", help="Skip objects that already have a result of the model version."),
    ] = True,
    start_controller: Annotated[
        bool, typer.Option("--start-controller/--no-start-controller", help="Start the model controller afterwards.")
    ] = True,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow progress until the queue drained.")] = True,
    stack_name: Annotated[str, typer.Option("--stack", help="CloudFormation stack name.")] = DEFAULT_STACK_NAME,
    region: Annotated[str | None, typer.Option("--region", help="AWS region (default: your AWS config).")] = None,
    poll_seconds: Annotated[float, typer.Option("--poll", min=0.0, help="Seconds between progress polls.")] = 5.0,
) -> None:
    """Label objects already under a prefix: list → skip labelled → enqueue → start the model (docs/operations.md)."""
    err, out = Console(stderr=True, soft_wrap=True), Console()
    try:
        manifest = read_manifest(boto3.client("cloudformation", region_name=region), stack_name)
        target = resolve_target(manifest, url, model)
        if dry_run:
            count = count_objects(boto3.client("s3", region_name=region), target.bucket, target.prefix)
            out.print(
                f"dry run: {count} objects under s3://{target.bucket}/{target.prefix} for model {target.model}; "
                f"{'objects with a result are skipped' if skip_existing else 'every object is enqueued'}; "
                f"the controller is {'started' if start_controller else 'not started'} afterwards. Nothing started.",
                highlight=False,
            )
            return
        sfn, sqs = boto3.client("stepfunctions", region_name=region), boto3.client("sqs", region_name=region)
        execution_arn = start(sfn, target, skip_existing=skip_existing, start_controller=start_controller)
        err.print(f"backfill started: {execution_arn}", highlight=False)
        if not wait:
            out.print(execution_arn, highlight=False)
            return
        with Progress(
            TextColumn("{task.description:>9}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err
        ) as bar:
            tasks = {name: bar.add_task(name, total=None) for name in ("listed", "enqueued", "detected")}

            def update(s: Snapshot) -> None:
                total = s.listed or None
                bar.update(tasks["listed"], completed=s.listed, total=total)
                bar.update(tasks["enqueued"], completed=s.enqueued, total=total)
                bar.update(tasks["detected"], completed=s.detected, total=total)

            final = follow(sfn, sqs, target, execution_arn, update, poll_seconds=poll_seconds)
    except (BackfillError, ClientError) as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from exc
    out.print(
        f"backfill {final.status.lower()}: listed {final.listed}, enqueued {final.enqueued}, "
        f"detected ~{final.detected}, queue {final.queue_depth}",
        highlight=False,
    )
    if final.status != "SUCCEEDED":
        raise typer.Exit(1)
