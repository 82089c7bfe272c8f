"""The REAL controller definition executed by moto's Step Functions interpreter, one test per branch.

Rekognition is the project's Custom Labels emulator (0 s start/stop delays on a manual clock unless
a test says otherwise); SQS, DynamoDB, EventBridge and the Lambda event source mapping are moto.
Every test asserts the model's final status and the lock (released, or untouched when another
session holds it).
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from localrun.emulator import Faults
from tests.support.harnesses import ControllerHarness, MappingUpdateFailure
from tests.support.ids import VERSION_ARN

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events"


def _schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((DOCS / f"{name}.schema.json").read_text(encoding="utf-8"))
    return schema


def _number(item: dict[str, Any], name: str) -> float:
    return float(item[name]["N"])


class DetectLambdaStandIn:
    """Plays the detect function: once the mapping is enabled, consumes the queue (as the ESM would)
    and records what it saw at that moment. moto only delivers to an enabled mapping on send, not
    the backlog already in the queue, so the stand-in does it."""

    def __init__(self, harness: ControllerHarness) -> None:
        self.harness = harness
        self.model_status_when_enabled: str | None = None
        self.consumed = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.harness.mapping_enabled():
                self.model_status_when_enabled = self.harness.emulator.status(VERSION_ARN)
                self.consumed = self.harness.purge()
                return
            time.sleep(0.005)

    def join(self) -> None:
        self._thread.join(timeout=20)


class _ClockDriver:
    """Advances the emulator's manual clock past the stop delay whenever the model is STOPPING."""

    def __init__(self, harness: ControllerHarness) -> None:
        self.harness = harness
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(0.005):
            if self.harness.emulator.status(VERSION_ARN) == "STOPPING":
                self.harness.clock.advance(3600)

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)


# -- the normal session ---------------------------------------------------------------------


def test_window_session_starts_model_drains_queue_at_full_speed_and_stops(harness: ControllerHarness) -> None:
    # Given a backlog of 5 images and a batch window opening now
    harness.send(5)
    detect = DetectLambdaStandIn(harness)
    window_start = datetime.now(UTC).isoformat()

    # When the window schedule starts the controller
    execution = harness.run(trigger="schedule", window_anchor=window_start, window_seconds=60)
    detect.join()

    # Then the session drained the queue and stopped the model
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output is not None
    assert execution.output["outcome"] == "Drained"
    assert detect.model_status_when_enabled == "RUNNING"  # the mapping was enabled only once RUNNING
    assert detect.consumed == 5
    assert harness.emulator.status(VERSION_ARN) == "STOPPED"
    assert not harness.mapping_enabled()
    harness.assert_lock_released()
    calls = harness.emulator.calls
    assert (calls["StartProjectVersion"], calls["StopProjectVersion"]) == (1, 1)
    # ... the mapping was enabled once and disabled once, the disable before StopProjectVersion
    assert execution.mapping_updates() == [True, False]
    entered = execution.states_entered()
    assert entered.index("DisableMapping") < entered.index("StopModel")
    assert entered.index("EnableMapping") > entered.index("ModelRunning")


def test_session_writes_ledger_and_publishes_started_and_stopped_events(harness: ControllerHarness) -> None:
    # Given a backlog of 3 images
    harness.send(3)
    detect = DetectLambdaStandIn(harness)

    # When a session runs to the end
    execution = harness.run(trigger="backlog")
    detect.join()
    assert execution.status == "SUCCEEDED", execution.cause

    # Then one ledger item accounts for the session
    (item,) = harness.ledger()
    execution_name = execution.arn.rsplit(":", 1)[1]
    assert item["sk"]["S"].startswith("SESSION#") and item["sk"]["S"].endswith(f"#{execution_name}")
    assert item["outcome"]["S"] == "Drained"
    assert item["trigger"]["S"] == "backlog"
    assert item["started_by_controller"]["BOOL"] is True
    assert item["model_stopped"]["BOOL"] is True
    assert _number(item, "backlog_at_start") == 3
    assert _number(item, "messages_processed") == 3
    assert _number(item, "backlog_at_stop") == 0
    for name in ("requested_at", "running_at", "stop_requested_at", "stopped_at"):
        assert item[name]["S"].endswith("Z")
    assert item["requested_at"]["S"] <= item["running_at"]["S"] <= item["stop_requested_at"]["S"]
    assert item["stop_requested_at"]["S"] <= item["stopped_at"]["S"]
    iu_seconds = _number(item, "inference_unit_seconds")
    assert iu_seconds == pytest.approx(_number(item, "billed_seconds") * _number(item, "inference_units"), abs=1e-3)
    assert _number(item, "estimated_cost_usd") == pytest.approx(round(iu_seconds / 3600 * 4.0, 4))
    assert iu_seconds > 0

    # ... and the bus got Model Started then Model Stopped, each matching its documented schema
    events = harness.events()
    assert [event["detail-type"] for event in events] == ["Model Started", "Model Stopped"]
    assert {event["source"] for event in events} == {"custom-labels-pipeline"}
    started, stopped = (event["detail"] for event in events)
    jsonschema.Draft202012Validator(_schema("model-started"), format_checker=jsonschema.FormatChecker()).validate(
        started
    )
    jsonschema.Draft202012Validator(_schema("model-stopped"), format_checker=jsonschema.FormatChecker()).validate(
        stopped
    )
    assert stopped["estimated_cost_usd"] == _number(item, "estimated_cost_usd")
    assert stopped["messages_processed"] == 3
    assert harness.emulator.status(VERSION_ARN) == "STOPPED"
    harness.assert_lock_released()


def test_empty_queue_is_stopped_after_the_idle_grace(harness: ControllerHarness) -> None:
    # Given nothing to process
    # When a session runs with a one-second idle grace
    execution = harness.run(idle_grace_seconds=1)

    # Then it stops as soon as the queue has been drained for the grace, not before
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output is not None and execution.output["outcome"] == "Drained"
    (item,) = harness.ledger()
    assert _number(item, "session_seconds") >= 1.0
    assert _number(item, "messages_processed") == 0
    assert harness.emulator.status(VERSION_ARN) == "STOPPED"
    assert not harness.mapping_enabled()
    harness.assert_lock_released()


def test_window_end_stops_the_model_with_backlog_left(harness: ControllerHarness) -> None:
    # Given a backlog nobody consumes (the detect function is failing, say)
    harness.send(4)

    # When the batch window closes three seconds after the execution started (not less: on a loaded
    # machine moto can take over a second to reach the Screen state, which would end the run there)
    execution = harness.run(trigger="schedule", window_seconds=3)

    # Then the model is stopped at the window end and the messages wait for the next session
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output is not None and execution.output["outcome"] == "WindowEnded"
    assert harness.depth() == 4
    (item,) = harness.ledger()
    assert _number(item, "backlog_at_stop") == 4
    assert harness.emulator.status(VERSION_ARN) == "STOPPED"
    assert not harness.mapping_enabled()
    harness.assert_lock_released()


# -- failure paths: mapping disabled, model stopped if ours, lock released, execution FAILED ----


@pytest.mark.parametrize("emulator_options", [{"faults": Faults(fail_start=True)}])
def test_start_failure_fails_the_execution_after_cleanup(harness: ControllerHarness) -> None:
    # Given a model whose start ends FAILED
    harness.send(2)

    # When the controller tries to start it
    execution = harness.run()

    # Then the execution fails with the reason, the mapping was never enabled, the lock is released
    assert execution.status == "FAILED"
    assert execution.error == "ModelStartFailed"
    assert execution.mapping_updates() == [False]
    assert not harness.mapping_enabled()
    assert harness.emulator.status(VERSION_ARN) == "FAILED"  # not running, nothing billed any more
    assert harness.emulator.calls["StopProjectVersion"] == 0
    harness.assert_lock_released()
    (item,) = harness.ledger()
    assert (item["outcome"]["S"], item["error"]["S"]) == ("Failed", "ModelStartFailed")
    assert [event["detail-type"] for event in harness.events()] == ["Model Stopped"]


@pytest.mark.parametrize("emulator_options", [{"faults": Faults(hang_start=True)}])
def test_start_timeout_stops_the_starting_model(harness: ControllerHarness) -> None:
    # Given a model that never leaves STARTING
    # When the start timeout passes
    execution = harness.run(start_timeout_seconds=0)

    # Then the controller stops it anyway and fails
    assert execution.status == "FAILED"
    assert execution.error == "ModelStartTimeout"
    assert harness.emulator.status(VERSION_ARN) == "STOPPED"
    assert harness.emulator.calls["StopProjectVersion"] == 1
    assert not harness.mapping_enabled()
    harness.assert_lock_released()


def test_max_runtime_stops_the_model_and_fails(harness: ControllerHarness) -> None:
    # Given a backlog that is not going down
    harness.send(2)

    # When the session reaches its hard max runtime
    execution = harness.run(max_runtime_seconds=0)

    # Then the model is stopped and the execution FAILED for the alarm
    assert execution.status == "FAILED"
    assert execution.error == "MaxRuntimeExceeded"
    assert harness.emulator.status(VERSION_ARN) == "STOPPED"
    assert not harness.mapping_enabled()
    harness.assert_lock_released()
    (item,) = harness.ledger()
    assert item["outcome"]["S"] == "Failed"


def test_mapping_update_failure_stops_the_model_and_fails(harness: ControllerHarness) -> None:
    # Given the event source mapping cannot be updated (deleted behind the controller's back)
    # When a session starts the model and cannot enable the mapping
    with MappingUpdateFailure() as failure:
        execution = harness.run()
    assert failure.calls == 2  # enable, then the cleanup's disable (not retried: not a transient error)

    # Then it still stops the model and releases the lock, and fails naming the step
    assert execution.status == "FAILED"
    assert execution.error == "lambda.ResourceNotFoundException"  # AWS spells it Lambda.ResourceNotFoundException
    assert execution.cause is not None
    cause = json.loads(execution.cause)
    assert cause["failure"]["state"] == "EnableMapping"
    assert "DisableMapping" in cause["cleanup_errors"]
    assert harness.emulator.status(VERSION_ARN) == "STOPPED"
    harness.assert_lock_released()


@pytest.mark.parametrize("emulator_options", [{"stop_delay_seconds": 3600.0}])
def test_unconfirmed_stop_hands_the_lock_to_the_next_execution(harness: ControllerHarness) -> None:
    # Given a model that takes an hour (of emulator time) to stop
    # When the stop timeout passes while it is still STOPPING
    first = harness.run(stop_timeout_seconds=0)

    # Then the execution fails, releases the lock and leaves the cleanup marker saying "model owned"
    assert first.status == "FAILED"
    assert first.error == "ModelStopTimeout"
    assert harness.emulator.status(VERSION_ARN) == "STOPPING"
    assert harness.lock() is None
    marker = harness.cleanup_marker()
    assert marker is not None and marker["model_owned"]["BOOL"] is True
    assert marker["owner"]["S"] == first.arn

    # When the next trigger comes while it is still stopping, and the stop completes meanwhile
    second_arn = harness.start(stop_timeout_seconds=5)
    harness.wait_for_state(second_arn, "WaitWhileStopping")
    driver = _ClockDriver(harness)  # from now on emulator time jumps an hour whenever the model is STOPPING
    second = harness.wait(second_arn)
    driver.stop()

    # Then that execution takes the lock, waits for STOPPED, runs a normal session, and leaves nothing behind
    assert second.status == "SUCCEEDED", second.cause
    entered = second.states_entered()
    assert "WaitWhileStopping" in entered and "StartModel" in entered
    assert harness.emulator.status(VERSION_ARN) == "STOPPED"
    harness.assert_lock_released()
    assert harness.cleanup_marker() is None


# -- models someone else runs, and concurrency -------------------------------------------------


@pytest.mark.parametrize("model_status", ["RUNNING"])
def test_model_running_before_is_used_but_never_stopped(harness: ControllerHarness) -> None:
    # Given a model someone else started, and a backlog
    harness.send(3)
    detect = DetectLambdaStandIn(harness)

    # When the controller runs
    execution = harness.run(trigger="backlog")
    detect.join()

    # Then it drains the backlog through the mapping but leaves the model running
    assert execution.status == "SUCCEEDED", execution.cause
    assert detect.consumed == 3
    assert harness.emulator.status(VERSION_ARN) == "RUNNING"
    calls = harness.emulator.calls
    assert (calls["StartProjectVersion"], calls["StopProjectVersion"]) == (0, 0)
    assert execution.mapping_updates() == [True, False]
    assert not harness.mapping_enabled()
    assert harness.events() == []  # it neither started nor stopped the model
    (item,) = harness.ledger()
    assert item["started_by_controller"]["BOOL"] is False
    assert _number(item, "estimated_cost_usd") == 0
    harness.assert_lock_released()


@pytest.mark.parametrize("model_status", ["RUNNING"])
@pytest.mark.parametrize("remembered_by", ["cleanup marker, lock deleted by TTL", "lock of an earlier definition"])
def test_model_left_running_by_a_dead_session_is_adopted_and_stopped(
    harness: ControllerHarness, remembered_by: str
) -> None:
    # Given a controller session that had started the model and died (timed out): its cleanup marker
    # survives while TTL deleted its lock; or (a stack upgraded mid-session) only its expired lock says so
    dead = "arn:aws:states:us-east-1:123456789012:execution:clp-produce-quality-controller:dead"
    if remembered_by.startswith("cleanup marker"):
        harness.put_cleanup_marker(dead, model_owned=True, mapping_enabled=True)
    else:
        harness.put_lock(owner=dead, expires_at=int(time.time()) - 60, model_owned=True)

    # When the next execution runs
    execution = harness.run()

    # Then it takes the lock over, treats the model as its own and stops it
    assert execution.status == "SUCCEEDED", execution.cause
    assert "AdoptModel" in execution.states_entered()
    assert harness.emulator.status(VERSION_ARN) == "STOPPED"
    stopped = [event["detail"] for event in harness.events() if event["detail-type"] == "Model Stopped"]
    assert len(stopped) == 1 and stopped[0]["started_by_controller"] is False
    harness.assert_lock_released()
    assert harness.cleanup_marker() is None


def test_lock_of_an_execution_that_no_longer_exists_is_taken_over(harness: ControllerHarness) -> None:
    # Given an unexpired lock whose holder Step Functions does not know (its state machine was replaced)
    gone = "arn:aws:states:us-east-1:123456789012:execution:clp-produce-quality-controller:gone"
    harness.put_lock(owner=gone, expires_at=int(time.time()) + 3600)
    harness.send(2)
    detect = DetectLambdaStandIn(harness)

    # When a trigger starts the controller
    execution = harness.run()
    detect.join()

    # Then it takes the lock from the vanished holder and runs a normal session
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output is not None and execution.output["outcome"] == "Drained"
    assert {"DescribeHolder", "TakeOverLock"} <= set(execution.states_entered())
    assert detect.consumed == 2
    assert harness.emulator.status(VERSION_ARN) == "STOPPED"
    harness.assert_lock_released()


def test_concurrent_triggers_run_exactly_one_session(harness: ControllerHarness) -> None:
    # Given a backlog that keeps a session busy until its window ends
    harness.send(2)

    # When three triggers fire at the same time
    first = harness.start(trigger="schedule", window_seconds=6)  # real seconds: longer than a slow start-up
    harness.wait_for_lock(first)
    others = [harness.start(trigger="backlog"), harness.start(trigger="recheck")]
    results = [harness.wait(arn) for arn in [first, *others]]

    # Then one session ran and the others, seeing its holder RUNNING, ended on the held lock
    outcomes = sorted(result.output["outcome"] for result in results if result.output)
    assert outcomes == ["LockHeld", "LockHeld", "WindowEnded"]
    for result in results:
        if result.output and result.output["outcome"] == "LockHeld":
            assert "DescribeHolder" in result.states_entered() and "TakeOverLock" not in result.states_entered()
            assert sum(1 for s in result.states_entered() if s.startswith("Describe")) == 1
    assert harness.emulator.calls["StartProjectVersion"] == 1
    assert harness.emulator.status(VERSION_ARN) == "STOPPED"
    harness.assert_lock_released()


# -- cheap exits, validation and retries -------------------------------------------------------


def test_recheck_without_backlog_ends_before_taking_the_lock(harness: ControllerHarness) -> None:
    # Given the backlog alarm is OK and no session left anything behind
    harness.set_backlog_alarm("OK")

    # When the periodic re-check runs
    execution = harness.run(trigger="recheck", require_backlog=True)

    # Then it ends in a handful of state transitions with no side effect: it only looked for a cleanup marker
    assert execution.status == "SUCCEEDED"
    assert execution.output is not None and execution.output["outcome"] == "NoBacklog"
    assert execution.states_entered() == [
        "Init",
        "Screen",
        "CheckBacklog",
        "BacklogPresent",
        "NoBacklog",
        "LookForCleanup",
        "CleanupPending",
        "ScreenedOut",
    ]
    assert sum(harness.emulator.calls.values()) == 0
    assert harness.emulator.status(VERSION_ARN) == "STOPPED"
    assert harness.lock() is None


def test_recheck_with_backlog_in_alarm_runs_a_session(harness: ControllerHarness) -> None:
    # Given the backlog alarm stayed in ALARM after a session ended
    harness.set_backlog_alarm("ALARM")
    harness.send(2)
    detect = DetectLambdaStandIn(harness)

    # When the periodic re-check runs
    execution = harness.run(trigger="recheck", require_backlog=True)
    detect.join()

    # Then it runs a full session
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output is not None and execution.output["outcome"] == "Drained"
    assert detect.consumed == 2
    assert harness.emulator.status(VERSION_ARN) == "STOPPED"
    harness.assert_lock_released()


def test_window_already_over_does_nothing(harness: ControllerHarness) -> None:
    # Given a schedule delivery that arrives after its window closed
    # When the controller starts (window end as epoch seconds)
    execution = harness.run(trigger="schedule", window_end=int(time.time()) - 1)

    # Then it ends without starting the model
    assert execution.status == "SUCCEEDED"
    assert execution.output is not None and execution.output["outcome"] == "WindowAlreadyEnded"
    assert sum(harness.emulator.calls.values()) == 0
    assert harness.emulator.status(VERSION_ARN) == "STOPPED"
    assert harness.lock() is None


def test_invalid_input_fails_before_any_side_effect(harness: ControllerHarness) -> None:
    # When an operator passes a negative poll interval
    execution = harness.run(poll_interval_seconds=-1)

    # Then the execution fails in its first state: no lock, no model call
    assert execution.status == "FAILED"
    assert execution.states_entered() == ["Init"]
    assert sum(harness.emulator.calls.values()) == 0
    assert harness.emulator.status(VERSION_ARN) == "STOPPED"
    assert harness.lock() is None


@pytest.mark.parametrize(
    "emulator_options",
    [
        {
            # Seed 4: the first StartProjectVersion draw is a transient error, the second is not.
            "faults": Faults(transient_error_rate=0.5, transient_operations=frozenset({"StartProjectVersion"}), seed=4)
        }
    ],
)
def test_transient_start_error_is_retried(harness: ControllerHarness) -> None:
    # Given StartProjectVersion answers once with a transient error (throttling / internal error)
    # When the controller starts the model
    execution = harness.run()

    # Then the Retry policy calls it again and the session completes
    assert execution.status == "SUCCEEDED", execution.cause
    assert sum(harness.emulator.errors.values()) == 1
    assert harness.emulator.calls["StartProjectVersion"] == 2
    assert harness.emulator.status(VERSION_ARN) == "STOPPED"
    harness.assert_lock_released()


@pytest.mark.parametrize("model_status", ["TRAINING_COMPLETED"])
def test_model_never_started_since_training_is_started_and_stopped(harness: ControllerHarness) -> None:
    # Given a freshly trained model (never started: TRAINING_COMPLETED, not STOPPED)
    # When a session runs
    execution = harness.run()

    # Then it is started like a stopped one, and stopped at the end
    assert execution.status == "SUCCEEDED", execution.cause
    assert harness.emulator.calls["StartProjectVersion"] == 1
    assert harness.emulator.status(VERSION_ARN) == "STOPPED"
    harness.assert_lock_released()


@pytest.mark.parametrize("emulator_options", [{"start_delay_seconds": 3600.0}])
def test_model_being_started_by_someone_else_is_awaited_and_never_stopped(harness: ControllerHarness) -> None:
    # Given someone else has just asked the model to start (STARTING for an hour of emulator time)
    harness.emulator.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=1)

    # When the controller runs, and the model becomes RUNNING while it waits
    execution_arn = harness.start()
    harness.wait_for_state(execution_arn, "AwaitForeignStart")
    harness.clock.advance(3600)
    execution = harness.wait(execution_arn)

    # Then it drains through the mapping and leaves the model running
    assert execution.status == "SUCCEEDED", execution.cause
    assert harness.emulator.status(VERSION_ARN) == "RUNNING"
    calls = harness.emulator.calls
    assert (calls["StartProjectVersion"], calls["StopProjectVersion"]) == (1, 0)  # the one start is theirs
    assert execution.mapping_updates() == [True, False]
    assert harness.events() == []
    harness.assert_lock_released()


def test_stop_request_on_the_lock_winds_the_session_down(harness: ControllerHarness) -> None:
    # Given a session draining a backlog that is not going down (no consumer)
    harness.send(2)
    execution_arn = harness.start(max_runtime_seconds=60)
    harness.wait_for_state(execution_arn, "CheckStopRequest")
    lock = harness.lock()
    assert lock is not None and "polled_at" in lock  # each poll leaves a heartbeat on the lock
    assert harness.sfn.describe_execution(executionArn=execution_arn)["status"] == "RUNNING"

    # When an operator sets stop_requested on this session's lock (what `clp stop` does)
    harness.ddb.update_item(
        TableName=harness.table_name,
        Key={"pk": {"S": "MODEL#produce-quality"}, "sk": {"S": "LOCK"}},
        UpdateExpression="SET stop_requested = :true",
        ConditionExpression="#owner = :owner",
        ExpressionAttributeNames={"#owner": "owner"},
        ExpressionAttributeValues={":true": {"BOOL": True}, ":owner": {"S": execution_arn}},
    )
    execution = harness.wait(execution_arn)

    # Then the session ends as a success through the normal teardown: mapping off, model stopped, ledger, release
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output is not None and execution.output["outcome"] == "StopRequested"
    assert harness.emulator.status(VERSION_ARN) == "STOPPED"
    assert not harness.mapping_enabled()
    assert execution.mapping_updates() == [True, False]
    assert harness.depth() == 2  # the backlog stays queued for the next session
    harness.assert_lock_released()
    (item,) = harness.ledger()
    assert item["outcome"]["S"] == "StopRequested"
    assert item["model_stopped"]["BOOL"] is True
    stopped = [e for e in harness.events() if e["detail-type"] == "Model Stopped"]
    assert [e["detail"]["outcome"] for e in stopped] == ["StopRequested"]
    jsonschema.validate(stopped[0]["detail"], _schema("model-stopped"))


def test_lost_lock_ends_the_drain_through_teardown(harness: ControllerHarness) -> None:
    # Given a draining session whose lock is deleted by hand
    harness.send(1)
    execution_arn = harness.start(max_runtime_seconds=60)
    harness.wait_for_state(execution_arn, "CheckStopRequest")
    harness.ddb.delete_item(
        TableName=harness.table_name, Key={"pk": {"S": "MODEL#produce-quality"}, "sk": {"S": "LOCK"}}
    )

    # When the next poll's heartbeat finds the lock gone
    execution = harness.wait(execution_arn)

    # Then the session fails, but only after stopping the model it started
    assert execution.status == "FAILED"
    assert execution.error == "DynamoDB.ConditionalCheckFailedException"
    assert harness.emulator.status(VERSION_ARN) == "STOPPED"
    assert not harness.mapping_enabled()
