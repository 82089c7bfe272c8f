"""Run uploads through the offline runtime until every object has a terminal result and the model is stopped."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from infra import constants
from infra.config import ModelConfig, PipelineConfig
from lambdas.common import contract
from localrun.emulator import BillingReport
from localrun.runtime import LOCAL_CONTROL_TABLE, LOCAL_TABLE, OfflineRuntime

TERMINAL = ("DETECTED", "FAILED")
_deserializer = TypeDeserializer()


class RehearsalTimeoutError(RuntimeError):
    """The run did not finish within its real-time budget."""


@dataclass
class Progress:
    """A snapshot for progress displays (times in simulated seconds since the run began)."""

    uploaded: int
    detected: int
    failed: int
    dead_letters: int
    queued: int
    model_status: str
    sessions: int
    simulated_seconds: float


@dataclass
class ResultRow:
    key: str
    status: str
    reason: str | None
    labels: list[dict[str, Any]]
    uploaded_at: str | None = None
    detected_at: str | None = None


@dataclass
class SessionRow:
    """One model session from the emulator's billing meter (simulated epoch seconds)."""

    start_requested_at: float
    running_at: float | None
    stop_requested_at: float | None
    ended_at: float | None
    inference_units: int
    inference_unit_seconds: float
    end_status: str | None


@dataclass
class RunResult:
    model: str
    keys: list[str]
    results: list[ResultRow]
    final_status: str
    sessions: list[SessionRow]
    inference_unit_seconds: float
    dead_letters: int
    controller_executions: list[dict[str, Any]]
    started_at: float
    ended_at: float
    wall_seconds: float
    completed: bool
    extra: dict[str, Any] = field(default_factory=dict)

    def contract(self) -> dict[str, Any]:
        """The ``clp local run --json`` document (design §5): exactly these keys."""
        by_key = {row.key: row for row in self.results}
        return {
            "results": [
                {
                    "key": key,
                    "status": by_key[key].status,
                    "reason": by_key[key].reason,
                    "labels": [
                        {
                            "name": label["name"],
                            "confidence": label["confidence"],
                            "bounding_box": label["bounding_box"],
                        }
                        for label in by_key[key].labels
                    ],
                }
                for key in self.keys
                if key in by_key
            ],
            "model": {"final_status": self.final_status, "sessions": len(self.sessions)},
            "billing": {"inference_unit_seconds": round(self.inference_unit_seconds, 1)},
            "dead_letters": self.dead_letters,
        }


def controller_input(
    model: ModelConfig, scale: float, *, trigger: str, window_seconds: int | None = None
) -> dict[str, Any]:
    """Execution input with every wait converted from simulated to real seconds (moto waits in real time)."""
    life = model.lifecycle

    def real(seconds: float, minimum: int = 0) -> int:
        return max(minimum, round(seconds / scale))

    payload: dict[str, Any] = {
        "trigger": trigger,
        "poll_interval_seconds": real(life.poll_interval_seconds, 1),
        "start_poll_interval_seconds": real(life.start_poll_interval_seconds, 1),
        "start_timeout_seconds": real(life.start_timeout_minutes * 60, 2),
        "idle_grace_seconds": real(life.idle_grace_seconds),
        "max_runtime_seconds": real(life.max_runtime_minutes * 60, 5),
    }
    if window_seconds is not None:
        payload["window_seconds"] = real(window_seconds, 5)
    return payload


class Rehearsal:
    """Drives one model of an :class:`OfflineRuntime` through sessions until its uploads are done."""

    def __init__(self, runtime: OfflineRuntime, model: ModelConfig | None = None) -> None:
        self.runtime = runtime
        self.model = model or runtime.config.models[0]
        self.resources = runtime.models[self.model.name]
        self._sfn = runtime.client("stepfunctions")
        self._ddb = runtime.client("dynamodb")
        self._sqs = runtime.client("sqs")
        self._executions: list[str] = []

    # -- observations ---------------------------------------------------------------------------

    def results(self) -> dict[str, ResultRow]:
        rows: dict[str, ResultRow] = {}
        kwargs: dict[str, Any] = {
            "TableName": LOCAL_TABLE,
            "FilterExpression": "record_type = :r AND model_name = :m",
            "ExpressionAttributeValues": {":r": {"S": "result"}, ":m": {"S": self.model.name}},
        }
        while True:
            page = self._ddb.scan(**kwargs)
            for raw in page["Items"]:
                item = {k: _deserializer.deserialize(v) for k, v in raw.items()}
                detail = json.loads(item["event_detail"])
                rows[item["key"]] = ResultRow(
                    key=item["key"],
                    status=item["status"],
                    reason=item.get("reason"),
                    labels=detail["labels"],
                    uploaded_at=detail["uploaded_at"],
                    detected_at=detail["detected_at"],
                )
            if "LastEvaluatedKey" not in page:
                return rows
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def queue_depth(self) -> int:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self.resources.queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return sum(int(v) for v in attributes.values())

    def dead_letters(self) -> int:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self.resources.dlq_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(v) for v in attributes.values())

    def running_execution(self) -> bool:
        return any(
            self._sfn.describe_execution(executionArn=arn)["status"] == "RUNNING" for arn in self._executions[-1:]
        )

    def lock_held(self) -> bool:
        item = self._ddb.get_item(
            TableName=LOCAL_CONTROL_TABLE,
            Key={
                constants.CONTROL_TABLE_PK: {"S": contract.model_pk(self.model.name)},
                constants.CONTROL_TABLE_SK: {"S": constants.CONTROL_TABLE_LOCK_SK},
            },
        ).get("Item")
        return item is not None

    # -- driving --------------------------------------------------------------------------------

    def start_session(self, trigger: str, window_seconds: int | None = None) -> str:
        payload = controller_input(self.model, self.runtime.clock.scale, trigger=trigger, window_seconds=window_seconds)
        arn = self._sfn.start_execution(
            stateMachineArn=self.resources.state_machine_arn,
            name=f"{trigger}-{uuid.uuid4().hex[:12]}",
            input=json.dumps(payload),
        )["executionArn"]
        self._executions.append(arn)
        return str(arn)

    def run(
        self,
        keys: list[str],
        *,
        trigger: str = "window",
        window_seconds: int | None = None,
        timeout_seconds: float = 600.0,
        max_sessions: int = 10,
        progress: Callable[[Progress], None] | None = None,
        poll_seconds: float = 0.2,
    ) -> RunResult:
        """Start sessions until every key has a result (or nothing is left to process) and the model is stopped."""
        emulator = self.runtime.emulator
        assert emulator is not None
        arn = self.model.project_version_arn
        clock = self.runtime.clock
        began_wall, began_sim = time.monotonic(), clock.now()
        expected = set(keys)
        completed = False
        while True:
            results = self.results()
            done = expected <= results.keys()
            running = self.running_execution()
            depth = self.queue_depth()
            status = emulator.status(arn)
            if progress is not None:
                counts = [r.status for k, r in results.items() if k in expected]
                progress(
                    Progress(
                        uploaded=len(expected),
                        detected=counts.count("DETECTED"),
                        failed=counts.count("FAILED"),
                        dead_letters=self.dead_letters(),
                        queued=depth,
                        model_status=status,
                        sessions=len(emulator.billing(arn).sessions),
                        simulated_seconds=clock.now() - began_sim,
                    )
                )
            if not running and status in ("STOPPED", "FAILED") and not self.lock_held():
                if done or (depth == 0 and len(self._executions) > 0):
                    completed = True
                    break
                if len(self._executions) >= max_sessions:
                    break
                self.start_session(trigger if not self._executions else "backlog", window_seconds)
            if time.monotonic() - began_wall > timeout_seconds:
                raise RehearsalTimeoutError(
                    f"not finished after {timeout_seconds:.0f} s: {len(results)}/{len(expected)} results, "
                    f"model {status}, queue depth {depth}"
                )
            time.sleep(poll_seconds)
        billing: BillingReport = emulator.billing(arn)
        results = self.results()
        return RunResult(
            model=self.model.name,
            keys=keys,
            results=[results[k] for k in keys if k in results],
            final_status=emulator.status(arn),
            sessions=[
                SessionRow(
                    start_requested_at=s.start_requested_at,
                    running_at=s.running_at,
                    stop_requested_at=s.stop_requested_at,
                    ended_at=s.ended_at,
                    inference_units=s.inference_units,
                    inference_unit_seconds=s.inference_unit_seconds,
                    end_status=s.end_status,
                )
                for s in billing.sessions
            ],
            inference_unit_seconds=billing.total_inference_unit_seconds,
            dead_letters=self.dead_letters(),
            controller_executions=[self._describe(a) for a in self._executions],
            started_at=began_sim,
            ended_at=clock.now(),
            wall_seconds=time.monotonic() - began_wall,
            completed=completed,
        )

    def _describe(self, execution_arn: str) -> dict[str, Any]:
        described = self._sfn.describe_execution(executionArn=execution_arn)
        output = json.loads(described["output"]) if described.get("output") else None
        return {"name": described["name"], "status": described["status"], "output": output}


def run_directory(
    config: PipelineConfig,
    images: Path,
    *,
    runtime_options: Any = None,
    progress: Callable[[Progress], None] | None = None,
    timeout_seconds: float = 600.0,
) -> RunResult:
    """``clp local run``: upload every file under ``images`` for the first model and run to completion."""
    with OfflineRuntime(config, runtime_options) as runtime:
        keys = runtime.upload_directory(images)
        return Rehearsal(runtime).run(keys, progress=progress, timeout_seconds=timeout_seconds)
