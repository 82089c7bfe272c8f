"""The reliability suites' scenario runner (tests/faults, tests/badinput).

A scenario uploads known objects into the offline runtime, injects a fault, runs the real controller and the
real detect handler to completion and returns what happened as an :class:`~tests.support.reliability.Outcome`.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infra.config import ModelConfig, PipelineConfig
from localrun.emulator import Faults
from localrun.rehearsal import Progress, Rehearsal, RunResult
from localrun.runtime import LOCAL_BUCKET, LOCAL_TABLE, OfflineRuntime, RuntimeOptions
from tests.support.capture import RESULT_DETAIL_TYPES, drain
from tests.support.configs import pipeline_config
from tests.support.faults import WrapDependencies
from tests.support.reliability import Outcome


def run_scenario(
    objects: dict[str, dict[str, bytes]] | dict[str, bytes],
    *,
    models: int = 1,
    faults: Faults | None = None,
    wrap: WrapDependencies | None = None,
    before_run: Callable[[OfflineRuntime], None] | None = None,
    during: Callable[[OfflineRuntime, str, Progress], None] | None = None,
    max_sessions: int = 6,
    timeout_seconds: float = 240.0,
    extra_messages: dict[str, list[str]] | None = None,
    log_path: Path | None = None,
    lifecycle: dict[str, Any] | None = None,
) -> Outcome:
    """Upload ``objects`` ({model: {relative key: body}}, or {key: body} for the first model), run, observe."""
    cfg = pipeline_config(models, lifecycle)
    options = RuntimeOptions(faults=faults, wrap_dependencies=wrap, log_path=log_path)
    with OfflineRuntime(cfg, options) as runtime:
        events_queue = runtime.world.capture_events("reliability-capture", RESULT_DETAIL_TYPES)
        uploaded = _upload(runtime, cfg, _objects_per_model(objects, cfg))
        _send_extra_messages(runtime, extra_messages or {})
        if before_run is not None:
            before_run(runtime)
        runs: dict[str, RunResult] = {}
        errors: list[BaseException] = []

        # boto3 client creation is not thread-safe: every rehearsal's clients are made here, in one thread
        rehearsals = {m.name: Rehearsal(runtime, m) for m in cfg.models if m.name in uploaded}

        def drive(model: ModelConfig) -> None:
            rehearsal = rehearsals[model.name]
            hook = None
            if during is not None:
                hook = lambda progress: during(runtime, model.name, progress)  # noqa: E731
            try:
                runs[model.name] = rehearsal.run(
                    uploaded[model.name],
                    timeout_seconds=timeout_seconds,
                    max_sessions=max_sessions,
                    progress=hook,
                )
            except BaseException as exc:  # surfaced below, in the test's thread
                errors.append(exc)

        _in_parallel(runtime, drive, [m for m in cfg.models if m.name in uploaded])
        if errors:
            raise errors[0]
        return _observe(runtime, runs, uploaded, events_queue)


def _objects_per_model(
    objects: dict[str, dict[str, bytes]] | dict[str, bytes], cfg: PipelineConfig
) -> dict[str, dict[str, bytes]]:
    if objects and all(isinstance(v, bytes) for v in objects.values()):
        return {cfg.models[0].name: objects}  # type: ignore[dict-item]
    return objects  # type: ignore[return-value]


def _upload(
    runtime: OfflineRuntime, cfg: PipelineConfig, per_model: dict[str, dict[str, bytes]]
) -> dict[str, list[str]]:
    """Put each model's objects under its prefix (unless already there); the keys per model, in upload order."""
    s3 = runtime.client("s3")
    uploaded: dict[str, list[str]] = {}
    for model in cfg.models:
        keys = []
        for relative, body in per_model.get(model.name, {}).items():
            key = relative if relative.startswith(model.prefix) else model.prefix + relative
            s3.put_object(Bucket=LOCAL_BUCKET, Key=key, Body=body)
            keys.append(key)
        uploaded[model.name] = keys
    return uploaded


def _send_extra_messages(runtime: OfflineRuntime, extra_messages: dict[str, list[str]]) -> None:
    sqs = runtime.client("sqs")
    for name, bodies in extra_messages.items():
        for body in bodies:
            sqs.send_message(QueueUrl=runtime.models[name].queue_url, MessageBody=body)


def _in_parallel(runtime: OfflineRuntime, work: Callable[[ModelConfig], None], models: list[ModelConfig]) -> None:
    """One thread per model, as the deployed controllers run side by side; returns when all are done.

    Each thread is an actor of the runtime's clock; this one is not while it waits for them."""
    threads = [threading.Thread(target=runtime.clock.spawned(lambda m=m: work(m))) for m in models]  # type: ignore[misc]
    for thread in threads:
        thread.start()
    with runtime.clock.idle():
        for thread in threads:
            thread.join()


def _observe(
    runtime: OfflineRuntime, runs: dict[str, RunResult], uploaded: dict[str, list[str]], events_queue: str
) -> Outcome:
    sqs, ddb, lam = runtime.client("sqs"), runtime.client("dynamodb"), runtime.client("lambda")
    events: Counter[tuple[str, str, str]] = Counter()
    for body in drain(sqs, events_queue):
        detail = json.loads(body)["detail"]
        events[(detail["key"], detail["version_id"] or detail["etag"], detail["project_version_arn"])] += 1
    items: Counter[tuple[str, str]] = Counter()
    for page in ddb.get_paginator("scan").paginate(TableName=LOCAL_TABLE):
        for item in page["Items"]:
            if item.get("record_type", {}).get("S") == "result":
                items[(item["pk"]["S"], item["sk"]["S"])] += 1
    dlq: dict[str, list[str]] = {}
    queued: dict[str, int] = {}
    status: dict[str, str] = {}
    enabled: dict[str, bool] = {}
    locks: dict[str, bool] = {}
    assert runtime.emulator is not None
    for name, resources in runtime.models.items():
        rehearsal = Rehearsal(runtime, resources.model)
        dlq[name] = drain(sqs, resources.dlq_url)
        queued[name] = rehearsal.queue_depth()
        status[name] = runtime.emulator.status(resources.model.project_version_arn)
        mapping = lam.get_event_source_mapping(UUID=resources.mapping_uuid)
        enabled[name] = mapping["State"] in ("Enabled", "Enabling")
        locks[name] = rehearsal.lock_held()
    # An S3 event in a DLQ (an EventBridge "Object Created" event as uploads arrive, or a notification as the
    # backfill sends) is an image that was given up on (the model-not-running case among them).
    image_dead = sum(1 for bodies in dlq.values() for body in bodies if '"Records"' in body or '"aws.s3"' in body)
    return Outcome(runs, uploaded, events, items, dlq, queued, status, enabled, locks, image_dead)
