"""Shared harness of the reliability suites (tests/faults, tests/badinput, tests/security).

A scenario uploads known objects into the offline runtime, injects a fault, runs the real controller and
the real detect handler to completion and returns what happened; ``check_invariants`` asserts the claims
of issue 5. Every scenario records its observed outcome with :func:`record`, and
``scripts/reliability_report.py`` renders the records into docs/reliability.md.
"""

from __future__ import annotations

import io
import json
import os
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError
from PIL import Image

from infra import constants
from infra.config import ModelConfig, PipelineConfig, load_config
from lambdas.detect.adapters import DynamoResultsRepository, EventBridgePublisher
from lambdas.detect.logic import Dependencies
from localrun.emulator import Faults
from localrun.rehearsal import Progress, Rehearsal, RunResult
from localrun.runtime import LOCAL_BUCKET, LOCAL_BUS, LOCAL_TABLE, OfflineRuntime, RuntimeOptions

ROOT = Path(__file__).resolve().parents[1]
RECORDS = Path(os.environ.get("CLP_RELIABILITY_RECORDS", ROOT / "build" / "reliability-records.jsonl"))
TIME_SCALE = 150.0


def record(suite: str, case: str, injected: str, expected: str, observed: str, passed: bool = True) -> None:
    """Append one observed outcome (JSON lines; the report script renders them)."""
    RECORDS.parent.mkdir(parents=True, exist_ok=True)
    line = {
        "suite": suite,
        "case": case,
        "injected": injected,
        "expected": expected,
        "observed": observed,
        "passed": passed,
    }
    with RECORDS.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line, ensure_ascii=False) + "\n")


def jpeg(seed: int, size: tuple[int, int] = (96, 72)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (seed % 251, (seed * 7) % 253, (seed * 13) % 255)).save(buffer, format="JPEG")
    return buffer.getvalue()


def config(models: int = 1, lifecycle: dict[str, Any] | None = None) -> PipelineConfig:
    """The project's config; ``models=2`` adds a second model on its own prefix; ``lifecycle`` overrides."""
    base = load_config()
    first = base.models[0]
    if lifecycle:
        first = first.model_copy(update={"lifecycle": first.lifecycle.model_copy(update=lifecycle)})
        base = base.model_copy(update={"models": (first, *base.models[1:])})
    extra: list[ModelConfig] = []
    for n in range(1, models):
        extra.append(
            first.model_copy(
                update={
                    "name": f"{first.name}-{n + 1}",
                    "prefix": f"model{n + 1}/",
                    "project_arn": first.project_arn.replace("produce-quality", f"model{n + 1}"),
                    "project_version_arn": first.project_version_arn.replace("produce-quality", f"model{n + 1}"),
                }
            )
        )
    return base.model_copy(update={"models": (*base.models, *extra)})


# -- fault injection at the adapters' clients (the AWS code stays untouched) ---------------------------


class FlakyClient:
    """A boto3 client proxy that fails a seeded fraction of one operation's calls."""

    def __init__(
        self,
        client: Any,
        operation: str,
        rate: float,
        *,
        code: str = "ProvisionedThroughputExceededException",
        partial_failure: bool = False,
        seed: int = 7,
    ) -> None:
        self._client = client
        self._operation = operation
        self._rate = rate
        self._code = code
        self._partial = partial_failure
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.injected = 0

    def _hit(self) -> bool:
        with self._lock:
            hit = self._rng.random() < self._rate
            self.injected += hit
            return hit

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name != self._operation:
            return attribute

        def call(**kwargs: Any) -> Any:
            if self._hit():
                if self._partial:  # PutEvents answers 200 with the entry failed; nothing was delivered
                    return {
                        "FailedEntryCount": len(kwargs["Entries"]),
                        "Entries": [
                            {"ErrorCode": "InternalFailure", "ErrorMessage": "injected"} for _ in kwargs["Entries"]
                        ],
                    }
                raise ClientError({"Error": {"Code": self._code, "Message": "injected"}}, name)
            return attribute(**kwargs)

        return call


def local_client(service: str) -> Any:
    return boto3.client(service, region_name="us-east-1")  # type: ignore[call-overload]


def dynamodb_throttling(rate: float) -> Callable[[ModelConfig, Dependencies], Dependencies]:
    def wrap(_: ModelConfig, deps: Dependencies) -> Dependencies:
        client = FlakyClient(local_client("dynamodb"), "transact_write_items", rate)
        deps.repository = DynamoResultsRepository(client, LOCAL_TABLE)  # type: ignore[arg-type]
        return deps

    return wrap


def put_events_partial_failure(rate: float) -> Callable[[ModelConfig, Dependencies], Dependencies]:
    def wrap(_: ModelConfig, deps: Dependencies) -> Dependencies:
        client = FlakyClient(local_client("events"), "put_events", rate, partial_failure=True)
        deps.publisher = EventBridgePublisher(client, LOCAL_BUS, sleep=lambda _: None)  # type: ignore[arg-type]
        return deps

    return wrap


class CrashingRepository:
    """The handler 'crashes' after DetectCustomLabels, before the result write, on the first try of each key."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._crashed: set[str] = set()
        self._lock = threading.Lock()
        self.crashes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def put(self, result: Any, detail: dict[str, Any], claim: Any) -> bool:
        with self._lock:
            first = result.image.key not in self._crashed
            self._crashed.add(result.image.key)
            self.crashes += first
        if first:
            raise RuntimeError("injected crash between DetectCustomLabels and the result write")
        return bool(self._inner.put(result, detail, claim))


# -- scenario runner -----------------------------------------------------------------------------------


@dataclass
class Outcome:
    runs: dict[str, RunResult]
    uploaded: dict[str, list[str]]
    events: Counter[tuple[str, str, str]]
    result_items: Counter[tuple[str, str]]
    dead_letter_bodies: dict[str, list[str]]
    queued: dict[str, int]
    model_status: dict[str, str]
    mapping_enabled: dict[str, bool]
    lock_held: dict[str, bool]
    image_dead_letters: int
    extra: dict[str, Any] = field(default_factory=dict)

    def statuses(self, model: str) -> Counter[str]:
        return Counter(r.status for r in self.runs[model].results)

    def reasons(self, model: str) -> dict[str, str | None]:
        return {r.key: r.reason for r in self.runs[model].results}

    def summary(self) -> str:
        parts = []
        for name, run in self.runs.items():
            counts = Counter(r.status for r in run.results)
            parts.append(
                f"{len(self.uploaded[name])} uploaded: {counts.get('DETECTED', 0)} DETECTED, "
                f"{counts.get('FAILED', 0)} FAILED, {self.queued[name]} queued, "
                f"{len(self.dead_letter_bodies[name])} DLQ; model {self.model_status[name]}, "
                f"{len(run.sessions)} session(s), lock {'held' if self.lock_held[name] else 'released'}, "
                f"max events per object {max(self.events.values(), default=0)}"
            )
        return "; ".join(parts)


def run_scenario(
    objects: dict[str, dict[str, bytes]] | dict[str, bytes],
    *,
    models: int = 1,
    faults: Faults | None = None,
    wrap: Callable[[ModelConfig, Dependencies], Dependencies] | None = None,
    before_run: Callable[[OfflineRuntime], None] | None = None,
    during: Callable[[OfflineRuntime, str, Progress], None] | None = None,
    max_sessions: int = 6,
    timeout_seconds: float = 240.0,
    time_scale: float = TIME_SCALE,
    extra_messages: dict[str, list[str]] | None = None,
    log_path: Path | None = None,
    poll_seconds: float = 0.2,
    lifecycle: dict[str, Any] | None = None,
) -> Outcome:
    """Upload ``objects`` ({model: {relative key: body}}, or {key: body} for the first model), run, observe."""
    cfg = config(models, lifecycle)
    options = RuntimeOptions(time_scale=time_scale, faults=faults, wrap_dependencies=wrap, log_path=log_path)
    with OfflineRuntime(cfg, options) as runtime:
        events_queue = _capture_events(runtime)
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
                    poll_seconds=poll_seconds,
                )
            except BaseException as exc:  # surfaced below, in the test's thread
                errors.append(exc)

        _in_parallel(drive, [m for m in cfg.models if m.name in uploaded])
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


def _in_parallel(work: Callable[[ModelConfig], None], models: list[ModelConfig]) -> None:
    """One thread per model, as the deployed controllers run side by side; returns when all are done."""
    threads = [threading.Thread(target=work, args=(m,)) for m in models]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _capture_events(runtime: OfflineRuntime) -> str:
    """An EventBridge rule on the pipeline's bus → an SQS queue: every result event actually delivered."""
    sqs, events = runtime.client("sqs"), runtime.client("events")
    url = sqs.create_queue(QueueName="reliability-capture")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name="capture-results",
        EventBusName=LOCAL_BUS,
        EventPattern=json.dumps(
            {
                "source": [constants.EVENT_SOURCE],
                "detail-type": [constants.DETAIL_TYPE_DETECTED, constants.DETAIL_TYPE_FAILED],
            }
        ),
    )
    events.put_targets(Rule="capture-results", EventBusName=LOCAL_BUS, Targets=[{"Id": "q", "Arn": arn}])
    return str(url)


def _drain(sqs: Any, url: str) -> list[str]:
    bodies: list[str] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600).get("Messages", [])
        if not messages:
            return bodies
        bodies += [m["Body"] for m in messages]


def _observe(
    runtime: OfflineRuntime, runs: dict[str, RunResult], uploaded: dict[str, list[str]], events_queue: str
) -> Outcome:
    sqs, ddb, lam = runtime.client("sqs"), runtime.client("dynamodb"), runtime.client("lambda")
    events: Counter[tuple[str, str, str]] = Counter()
    for body in _drain(sqs, events_queue):
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
        dlq[name] = _drain(sqs, resources.dlq_url)
        queued[name] = rehearsal.queue_depth()
        status[name] = runtime.emulator.status(resources.model.project_version_arn)
        mapping = lam.get_event_source_mapping(UUID=resources.mapping_uuid)
        enabled[name] = mapping["State"] in ("Enabled", "Enabling")
        locks[name] = rehearsal.lock_held()
    # An S3 event in a DLQ (an EventBridge "Object Created" event as uploads arrive, or a notification as the
    # backfill sends) is an image that was given up on (the model-not-running case among them).
    image_dead = sum(1 for bodies in dlq.values() for body in bodies if '"Records"' in body or '"aws.s3"' in body)
    return Outcome(runs, uploaded, events, items, dlq, queued, status, enabled, locks, image_dead)


def check_invariants(outcome: Outcome, *, expect_complete: bool = True) -> None:
    """The claims of issue 5, for every model of the run."""
    for name, keys in outcome.uploaded.items():
        run = outcome.runs[name]
        results = {r.key for r in run.results}
        # nothing vanishes: every uploaded object has a result, or is still queued, or is dead-lettered
        missing = [k for k in keys if k not in results]
        if missing:
            assert outcome.queued[name] + len(outcome.dead_letter_bodies[name]) >= len(set(missing)), missing[:5]
        if expect_complete:
            assert run.completed and not missing, f"{name}: {len(missing)} without a result"
        # the model is never left running, the mapping is off, the lock is released
        assert outcome.model_status[name] in ("STOPPED", "FAILED"), outcome.model_status[name]
        assert not outcome.mapping_enabled[name]
        assert not outcome.lock_held[name]
    # at most one result and one result event per object version x model version
    assert all(count == 1 for count in outcome.result_items.values())
    duplicates = {k: n for k, n in outcome.events.items() if n > 1}
    assert not duplicates, duplicates
    # no image dead-lettered (so none because the model was not running): S3 events never reach a DLQ
    assert outcome.image_dead_letters == 0
