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


@dataclass(frozen=True)
class _State:
    """What the rehearsal sees at one look."""

    written: int
    done: bool
    status: str
    depth: int  # -1 when not read (the model was not stopped and no progress display asked for it)
    idle: bool  # no execution running, the model stopped (or failed), no lock held


@dataclass
class ResultRow:
    key: str
    status: str
    reason: str | None
    labels: list[dict[str, Any]]
    uploaded_at: str | None = None
    detected_at: str | None = None
    review: str | None = None  # PENDING or REVIEWED when the model's review policy selected the result


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


def controller_input(trigger: str, window_seconds: int | None = None) -> dict[str, Any]:
    """Execution input as a trigger sends it: the waits are the deployed definition's (simulated seconds)."""
    payload: dict[str, Any] = {"trigger": trigger}
    if window_seconds is not None:
        payload["window_seconds"] = window_seconds
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
        self._done = False
        # The rows of the scan that found every key, with the count of results written then: the run's result
        # reuses them while no result has been written since (a scan of a large table is the costliest look).
        self._rows: tuple[int, dict[str, ResultRow]] | None = None

    # -- observations ---------------------------------------------------------------------------

    def results(self) -> dict[str, ResultRow]:
        rows: dict[str, ResultRow] = {}
        kwargs: dict[str, Any] = {
            "TableName": LOCAL_TABLE,
            "FilterExpression": "record_type = :r AND model_name = :m",
            "ExpressionAttributeValues": {":r": {"S": "result"}, ":m": {"S": self.model.name}},
            # Only what a row needs: a result item has some twenty attributes, and reading them all is most
            # of the cost of a scan (offline, every attribute of every item is serialized and parsed).
            "ProjectionExpression": "#key, #status, reason, event_detail, review",
            "ExpressionAttributeNames": {"#key": "key", "#status": "status"},
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
                    review=item.get("review"),
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
        payload = controller_input(trigger, window_seconds)
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
        step_seconds: float = 10.0,
    ) -> RunResult:
        """Start sessions until every key has a result (or nothing is left to process) and the model is stopped.

        Looks every ``step_seconds`` of simulated time (the controller and the pollers run meanwhile);
        ``timeout_seconds`` bounds the real time the run may take. With the runtime's ``time_scale``, each
        step also takes ``step_seconds / time_scale`` real seconds, for watching.
        """
        emulator = self.runtime.emulator
        assert emulator is not None
        clock = self.runtime.clock
        pace = self.runtime.options.time_scale
        began_wall, began_sim = time.monotonic(), clock.now()
        expected = set(keys)
        completed = False
        with clock.acting():
            while True:
                state = self._look(expected, depth_wanted=progress is not None)
                if progress is not None:
                    progress(self._progress(state, len(expected), clock.now() - began_sim))
                if state.idle:
                    if state.done or (state.depth == 0 and self._executions):
                        completed = True
                        break
                    if len(self._executions) >= max_sessions:
                        break
                    self.start_session(trigger if not self._executions else "backlog", window_seconds)
                if time.monotonic() - began_wall > timeout_seconds:
                    raise RehearsalTimeoutError(
                        f"not finished after {timeout_seconds:.0f} s: {state.written}/{len(expected)} results, "
                        f"model {state.status}, queue depth {self.queue_depth()}"
                    )
                if pace:
                    time.sleep(step_seconds / pace)  # an actor's real wait: simulated time stands still meanwhile
                clock.sleep(step_seconds)
        return self._result(keys, completed, began_wall, began_sim)

    def _look(self, expected: set[str], *, depth_wanted: bool) -> _State:
        emulator = self.runtime.emulator
        assert emulator is not None
        counts = self.runtime.results_written
        written = counts[(self.model.name, "DETECTED")] + counts[(self.model.name, "FAILED")]
        # The counters say when to look; the table says whether every expected key is there (once it does,
        # it stays so: results are never deleted, and a scan of a large table is the costliest look).
        if not self._done and written >= len(expected):
            rows = self.results()
            self._done = expected <= rows.keys()
            self._rows = (written, rows) if self._done else None
        done = self._done
        status = emulator.status(self.model.project_version_arn)
        # While the model is starting, running or stopping no session is over: the execution, the lock and the
        # queue (three requests) are read only once it is stopped, or when a progress display shows the depth.
        idle = status in ("STOPPED", "FAILED") and not self.running_execution() and not self.lock_held()
        depth = self.queue_depth() if idle or depth_wanted else -1
        return _State(written=written, done=done, status=status, depth=depth, idle=idle)

    def _progress(self, state: _State, uploaded: int, simulated_seconds: float) -> Progress:
        emulator = self.runtime.emulator
        assert emulator is not None
        counts = self.runtime.results_written
        return Progress(
            uploaded=uploaded,
            detected=counts[(self.model.name, "DETECTED")],
            failed=counts[(self.model.name, "FAILED")],
            dead_letters=self.dead_letters(),
            queued=state.depth,
            model_status=state.status,
            sessions=len(emulator.billing(self.model.project_version_arn).sessions),
            simulated_seconds=simulated_seconds,
        )

    def _result(self, keys: list[str], completed: bool, began_wall: float, began_sim: float) -> RunResult:
        emulator = self.runtime.emulator
        assert emulator is not None
        arn = self.model.project_version_arn
        billing: BillingReport = emulator.billing(arn)
        counts = self.runtime.results_written
        written = counts[(self.model.name, "DETECTED")] + counts[(self.model.name, "FAILED")]
        results = self._rows[1] if self._rows is not None and self._rows[0] == written else self.results()
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
            ended_at=self.runtime.clock.now(),
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
