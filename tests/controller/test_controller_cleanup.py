"""What AWS does and moto does not model, run on the real controller definition: DynamoDB TTL deleting
locks, executions that time out without teardown, a mapping left enabled, records put back with a delay,
a model version that does not exist, and the execution history each loop iteration costs."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from infra import constants
from tests.support.harnesses import ControllerHarness, Execution, MappingUpdateFailure
from tests.support.ids import VERSION_ARN


def _abort_while_draining(harness: ControllerHarness) -> str:
    """A session that started the model and enabled the mapping, then ended without teardown, as an
    execution that hits its TimeoutSeconds (or is aborted) does."""
    harness.send(1)  # nobody consumes it: the session keeps draining until it is stopped
    arn = harness.start(max_runtime_seconds=60)
    harness.wait_for_state(arn, "ReadQueue", timeout=10)
    harness.sfn.stop_execution(executionArn=arn, error="States.Timeout", cause="execution timed out (test)")
    deadline = time.monotonic() + 10
    while harness.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not stop"
        time.sleep(0.01)
    harness.purge()
    return arn


_TRIGGERS: dict[str, dict[str, Any]] = {
    "backlog re-check without a backlog": {"trigger": "recheck", "require_backlog": True},
    "schedule delivered after its window": {"trigger": "schedule", "window_end": 1},
    "manual start": {"trigger": "manual"},
}


@pytest.mark.parametrize("trigger", list(_TRIGGERS))
def test_a_model_left_running_is_stopped_by_the_next_execution_of_any_trigger_after_ttl_deleted_the_lock(
    harness: ControllerHarness, trigger: str
) -> None:
    # Given a session that started the model, enabled the mapping and died without teardown ...
    dead = _abort_while_draining(harness)
    assert harness.emulator.status(VERSION_ARN) == "RUNNING"
    assert harness.mapping_enabled()
    # ... and DynamoDB TTL then deleted its lock (it may, at any time after expiry)
    harness.delete_lock()
    harness.set_backlog_alarm("OK")

    # When the next execution of any trigger runs
    execution = harness.run(**_TRIGGERS[trigger])

    # Then it finds what the dead session left, adopts the model and stops it, disables the mapping, and
    # leaves neither lock nor marker behind
    assert execution.status == "SUCCEEDED", execution.cause
    assert "AdoptModel" in execution.states_entered()
    assert harness.emulator.status(VERSION_ARN) == "STOPPED"
    assert not harness.mapping_enabled()
    assert harness.emulator.calls["StartProjectVersion"] == 1  # only the dead session's
    harness.assert_lock_released()
    assert harness.cleanup_marker() is None
    assert dead != execution.arn


def test_the_lock_of_an_aborted_session_is_taken_over_before_it_expires(harness: ControllerHarness) -> None:
    # Given a session that started the model and was aborted (StopExecution runs no teardown): its lock
    # stays valid for the whole lock TTL, hours by default
    dead = _abort_while_draining(harness)
    lock = harness.lock()
    assert lock is not None and lock["owner"]["S"] == dead and int(lock["expires_at"]["N"]) > time.time() + 60

    # When the next trigger runs
    execution = harness.run()

    # Then it sees the holder is no longer RUNNING, takes the lock over, adopts and stops the model
    assert execution.status == "SUCCEEDED", execution.cause
    entered = execution.states_entered()
    assert {"DescribeHolder", "TakeOverLock", "AdoptModel"} <= set(entered)
    assert harness.emulator.status(VERSION_ARN) == "STOPPED"
    assert not harness.mapping_enabled()
    harness.assert_lock_released()
    assert harness.cleanup_marker() is None


def test_a_mapping_left_enabled_is_disabled_by_the_next_recheck(harness: ControllerHarness) -> None:
    # Given a session whose teardown could not disable the mapping (the model itself was stopped)
    with MappingUpdateFailure():
        first = harness.run()
    assert first.status == "FAILED"
    assert harness.emulator.status(VERSION_ARN) == "STOPPED"
    marker = harness.cleanup_marker()
    assert marker is not None and marker["mapping_enabled"]["BOOL"] is True
    # ... and the mapping is in fact enabled: on a stopped model it would requeue the same records forever
    harness.lam.update_event_source_mapping(UUID=harness.esm_uuid, Enabled=True)
    calls_before = dict(harness.emulator.calls)

    # When the periodic re-check runs without a backlog
    harness.set_backlog_alarm("OK")
    second = harness.run(trigger="recheck", require_backlog=True)

    # Then it disables the mapping and drops the marker, without starting or stopping anything and
    # without a ledger item of its own
    assert second.status == "SUCCEEDED", second.cause
    assert second.output is not None and second.output["outcome"] == "NoBacklog"
    assert "Housekeeping" in second.states_entered()
    assert second.mapping_updates() == [False]
    assert not harness.mapping_enabled()
    assert harness.emulator.calls["StartProjectVersion"] == calls_before["StartProjectVersion"]
    assert harness.emulator.calls["StopProjectVersion"] == calls_before["StopProjectVersion"]
    assert len(harness.ledger()) == 1  # the first session's only
    assert harness.cleanup_marker() is None
    harness.assert_lock_released()


def test_a_recheck_finding_a_stale_marker_never_starts_the_model(harness: ControllerHarness) -> None:
    # Given a marker saying a session owned the model, but the model is stopped (its stop completed later)
    harness.put_cleanup_marker("arn:aws:states:us-east-1:123456789012:execution:c:gone", model_owned=True)
    harness.set_backlog_alarm("OK")

    # When the re-check runs
    execution = harness.run(trigger="recheck", require_backlog=True)

    # Then it settles the marker and ends, the model untouched
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output is not None and execution.output["outcome"] == "NoBacklog"
    assert harness.emulator.calls["StartProjectVersion"] == 0
    assert harness.emulator.status(VERSION_ARN) == "STOPPED"
    assert harness.cleanup_marker() is None
    assert harness.ledger() == []


class _Consumer:
    """Plays the detect function for as long as the mapping is enabled (records arrive over time)."""

    def __init__(self, harness: ControllerHarness) -> None:
        self.harness = harness
        self.consumed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.harness.mapping_enabled():
                self.consumed += self.harness.purge()
            time.sleep(0.01)

    def join(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def test_records_put_back_with_a_delay_keep_the_session_open(harness: ControllerHarness) -> None:
    # Given the only record on the queue was put back with a delay (the model was not ready for it)
    harness.sqs.send_message(QueueUrl=harness.queue_url, MessageBody='{"requeued": true}', DelaySeconds=2)
    consumer = _Consumer(harness)

    # When a session runs with no idle grace
    execution = harness.run(idle_grace_seconds=0)
    consumer.join()

    # Then the queue is not called drained while the record is delayed: the session waits and it is processed
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output is not None and execution.output["outcome"] == "Drained"
    assert consumer.consumed == 1
    assert harness.depth() == 0
    assert execution.output["backlog_at_start"] == 1


@pytest.mark.parametrize("model_status", ["ABSENT"])
def test_a_version_that_does_not_exist_fails_clearly(harness: ControllerHarness) -> None:
    # Given the project has no version of the configured name (deleted, or a typo in the config)
    # When the controller runs
    execution = harness.run()

    # Then it fails as ModelNotStartable naming the version, not with an expression evaluation error
    assert execution.status == "FAILED"
    assert execution.error == "ModelNotStartable"
    assert execution.cause is not None and "not found in project" in execution.cause
    assert harness.emulator.calls["StartProjectVersion"] == 0
    harness.assert_lock_released()


def _loop_events(execution: Execution, first_state: str, last_state: str) -> list[int]:
    """History events of each iteration of the loop that starts at ``first_state``."""
    counts: list[int] = []
    current: int | None = None
    for event in execution.history:
        name = event.get("stateEnteredEventDetails", {}).get("name")
        if name == first_state:
            current = 0
        if current is not None:
            current += 1
        if event.get("stateExitedEventDetails", {}).get("name") == last_state and current is not None:
            counts.append(current)
            current = None
    return counts


def test_history_events_per_loop_iteration_are_what_the_config_budgets(harness: ControllerHarness) -> None:
    # Given a session that polls a queue nobody drains until its max runtime
    harness.send(1)

    # When it runs
    execution = harness.run(max_runtime_seconds=3)  # real seconds (moto's waits): room for 2+ iterations

    # Then each drain iteration costs the events the config's history check assumes (Step Functions records
    # Task states as entered, scheduled, started, succeeded, exited; Wait and Choice as entered, exited)
    drain = _loop_events(execution, "WaitPoll", "DrainDecision")
    assert len(drain) >= 2
    assert set(drain) == {constants.CONTROLLER_DRAIN_LOOP_EVENTS}
    stop = _loop_events(execution, "WaitForStop", "StopDecision")
    start = _loop_events(execution, "WaitForStart", "StartProgress")
    assert set(start + stop) == {constants.CONTROLLER_START_STOP_LOOP_EVENTS}
    # and the whole session, loops aside, stays far inside the allowance for fixed states
    loops = sum(drain) + sum(start) + sum(stop)
    assert len(execution.history) - loops < constants.CONTROLLER_FIXED_EVENTS_ALLOWANCE / 4
