"""``clp status/start/stop/results/cost/redrive`` against a "deployed" stack in moto (see conftest)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from typer.testing import CliRunner

from clp.main import app
from clp.queries import request_stop
from tests.support.deployed import OTHER_MODEL, STACK, Deployed
from tests.support.ids import MODEL, VERSION_ARN

runner = CliRunner()
COMMON = ["--stack", STACK, "--region", "us-east-1"]


def clp(*args: str) -> Any:
    return runner.invoke(app, [*args, *COMMON])


def _json(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _executions(deployed: Deployed) -> list[dict[str, Any]]:
    response = deployed.harness.sfn.list_executions(stateMachineArn=deployed.controller_arn)
    return list(response["executions"])


# -- finding the stack and the model ------------------------------------------------------------------


def test_unknown_stack_is_a_one_line_error(deployed: Deployed) -> None:
    result = runner.invoke(app, ["status", "--stack", "Nope", "--region", "us-east-1"])

    assert result.exit_code == 1
    assert "stack 'Nope' does not exist" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_stack_without_the_manifest_output_is_refused(deployed: Deployed) -> None:
    result = runner.invoke(app, ["cost", "--stack", "SomethingElse", "--region", "us-east-1"])

    assert result.exit_code == 1
    assert "has no PipelineManifest output" in result.stderr


def test_unknown_model_lists_the_known_ones(deployed: Deployed) -> None:
    result = clp("status", "--model", "bananas")

    assert result.exit_code == 1
    assert "unknown model 'bananas'" in result.stderr
    assert f"known: {OTHER_MODEL}, {MODEL}" in result.stderr


def test_start_needs_a_model_when_the_stack_has_several(deployed: Deployed) -> None:
    result = clp("start")

    assert result.exit_code == 1
    assert "choose one with --model" in result.stderr
    assert _executions(deployed) == []


def test_aws_error_is_one_line_with_its_code(deployed: Deployed) -> None:
    manifest = {**deployed.manifest, "results_table": "missing-table"}
    deployed.stacks.stacks["Broken"] = [{"OutputKey": "PipelineManifest", "OutputValue": json.dumps(manifest)}]

    result = runner.invoke(app, ["results", "--key", "produce/a.jpg", "--stack", "Broken", "--region", "us-east-1"])

    assert result.exit_code == 1
    assert "ResourceNotFoundException" in result.stderr and "Query" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# -- status -------------------------------------------------------------------------------------------


def test_status_reports_model_queues_lock_session_and_executions(deployed: Deployed) -> None:
    # Given a backlog, a dead letter, a past session and a held lock
    deployed.harness.send(3)
    deployed.sqs.send_message(QueueUrl=deployed.dlq_url, MessageBody="{}")
    deployed.put_session("2026-11-20T02:00:00.000Z", "old", 3600, 4.0)
    deployed.put_session("2026-11-25T02:00:00.000Z", "latest", 1800, 2.0)
    deployed.harness.put_lock("arn:aws:states:us-east-1:123456789012:execution:c:x", 4_000_000_000)

    # When the operator asks for the status of one model
    report = _json(clp("status", "--model", MODEL, "--json"))

    # Then every part is there
    (model,) = report["models"]
    assert model["model"] == MODEL
    assert model["model_status"]["status"] == "STOPPED"
    assert model["queue"] == {"visible": 3, "in_flight": 0, "delayed": 0, "dead_letters": 1}
    assert model["lock"]["held"] is True and model["lock"]["owner"].endswith(":x")
    assert model["last_session"]["sk"].endswith("#latest")
    assert model["last_session"]["estimated_cost_usd"] == 2
    assert model["executions"] == []


def test_status_shows_the_running_model_and_the_recent_sessions(deployed: Deployed) -> None:
    # Given a session that ran to the end
    result = clp("start", "--model", MODEL)
    assert result.exit_code == 0, result.output
    (execution,) = _executions(deployed)
    deployed.harness.wait(execution["executionArn"])

    # When the status is printed for people, for every model
    result = clp("status")

    # Then both models are listed, with the session and the execution
    assert result.exit_code == 0, result.output
    assert f"{MODEL}  model STOPPED" in result.stdout
    assert f"{OTHER_MODEL}  model NOT_FOUND" in result.stdout
    assert "lock: free" in result.stdout
    assert "last session: Drained (manual)" in result.stdout
    assert execution["name"] in result.stdout and "SUCCEEDED" in result.stdout


# -- start / stop --------------------------------------------------------------------------------------


def test_start_runs_a_manual_controller_session_with_a_window(deployed: Deployed) -> None:
    # When the operator starts the model for a 5-minute window
    result = clp("start", "--model", MODEL, "--window-minutes", "5")

    # Then a controller execution ran the whole session: start, drain, stop, ledger, release
    assert result.exit_code == 0, result.output
    (execution,) = _executions(deployed)
    assert execution["name"] in result.stdout
    done = deployed.harness.wait(execution["executionArn"])
    assert done.status == "SUCCEEDED", done.cause
    assert done.output is not None and done.output["outcome"] == "Drained"
    assert deployed.harness.emulator.calls["StartProjectVersion"] == 1
    assert deployed.harness.emulator.status(VERSION_ARN) == "STOPPED"
    (session,) = deployed.harness.ledger()
    assert session["trigger"]["S"] == "manual"
    window_end = datetime.fromisoformat(session["window_end"]["S"])
    assert 290 <= (window_end - done_start(deployed, execution)).total_seconds() <= 310
    assert deployed.harness.lock() is None


def done_start(deployed: Deployed, execution: dict[str, Any]) -> datetime:
    start: datetime = deployed.harness.sfn.describe_execution(executionArn=execution["executionArn"])["startDate"]
    return start if start.tzinfo else start.replace(tzinfo=UTC)


def test_stop_winds_down_the_running_session_through_the_controller(deployed: Deployed) -> None:
    # Given a manual session draining a backlog nobody consumes
    deployed.harness.send(4)
    assert clp("start", "--model", MODEL).exit_code == 0
    (execution,) = _executions(deployed)
    arn = execution["executionArn"]
    deployed.harness.wait_for_state(arn, "CheckStopRequest")
    assert deployed.harness.emulator.status(VERSION_ARN) == "RUNNING"

    # When start is asked again, then stop
    again = clp("start", "--model", MODEL)
    stop = clp("stop", "--model", MODEL, "--wait", "--timeout", "20")

    # Then the second start did nothing, and the session ended through its teardown
    assert again.exit_code == 0 and "already running" in again.stdout
    assert len(_executions(deployed)) == 1
    assert stop.exit_code == 0, stop.output
    assert "stop requested" in stop.stdout and "session ended SUCCEEDED" in stop.stdout
    done = deployed.harness.wait(arn)
    assert done.output is not None and done.output["outcome"] == "StopRequested"
    assert deployed.harness.emulator.status(VERSION_ARN) == "STOPPED"
    assert not deployed.harness.mapping_enabled()
    assert deployed.harness.lock() is None
    (session,) = deployed.harness.ledger()
    assert session["outcome"]["S"] == "StopRequested" and session["trigger"]["S"] == "manual"
    assert deployed.harness.depth() == 4


def test_stop_leaves_a_model_started_outside_the_controller_running(deployed: Deployed) -> None:
    # Given a model someone started by hand, with no controller session
    deployed.harness.emulator.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=1)
    deployed.harness.clock.advance(3600)
    assert deployed.harness.emulator.status(VERSION_ARN) == "RUNNING"

    # When the operator runs clp stop
    result = clp("stop", "--model", MODEL)

    # Then it says so, changes nothing, and exits 3
    assert result.exit_code == 3
    assert "started outside the controller; not stopped" in result.stderr
    assert deployed.harness.emulator.status(VERSION_ARN) == "RUNNING"
    assert deployed.harness.emulator.calls["StopProjectVersion"] == 0
    assert _executions(deployed) == []


def test_stop_with_nothing_running_does_nothing(deployed: Deployed) -> None:
    result = clp("stop", "--model", MODEL)

    assert result.exit_code == 0
    assert "nothing to stop" in result.stdout
    assert deployed.harness.lock() is None


def test_stop_request_is_refused_for_a_lock_owned_by_another_session(deployed: Deployed) -> None:
    # Given the lock now belongs to a newer session than the one read
    deployed.harness.put_lock("arn:newer", 4_000_000_000)

    # When the stop request names the older session
    accepted = request_stop(deployed.harness.ddb, deployed.harness.table_name, MODEL, "arn:older")

    # Then the newer session is not flagged
    assert accepted is False
    lock = deployed.harness.lock()
    assert lock is not None and "stop_requested" not in lock


# -- results ------------------------------------------------------------------------------------------


def _seed_results(deployed: Deployed) -> None:
    day = datetime(2026, 11, 26, tzinfo=UTC)
    deployed.put_result("produce/a.jpg", [("rotten", 97.5), ("ripe", 12.0)], detected_at=day.replace(hour=1))
    deployed.put_result("produce/a.jpg", [("ripe", 88.0)], detected_at=day.replace(hour=5), version="v2")
    deployed.put_result("produce/b.jpg", [("rotten", 71.0)], detected_at=day.replace(hour=3))
    deployed.put_result("produce/c.jpg", [("rotten", 85.0)], detected_at=day.replace(hour=2))
    deployed.put_result(
        "produce/bad.txt", [], detected_at=day.replace(hour=4), status="FAILED", reason="InvalidImageFormat"
    )
    deployed.put_result("parts/a.jpg", [("rotten", 99.0)], detected_at=day.replace(hour=6), model=OTHER_MODEL)


def test_results_by_key_lists_every_version(deployed: Deployed) -> None:
    _seed_results(deployed)

    rows = _json(clp("results", "--key", "produce/a.jpg", "--json"))["results"]

    assert sorted(r["object_version"] for r in rows) == ["v1", "v2"]
    v1 = next(r for r in rows if r["object_version"] == "v1")
    assert v1["status"] == "DETECTED" and v1["model"] == MODEL
    assert [lb["name"] for lb in v1["labels"]] == ["rotten", "ripe"]  # highest confidence first


def test_results_by_key_shows_failures_in_a_table(deployed: Deployed) -> None:
    _seed_results(deployed)

    result = clp("results", "--key", "produce/bad.txt", "--model", MODEL)

    assert result.exit_code == 0, result.output
    assert "FAILED" in result.stdout and "InvalidImageFormat" in result.stdout


def test_results_by_label_best_first_above_a_threshold(deployed: Deployed) -> None:
    _seed_results(deployed)

    rows = _json(clp("results", "--label", "rotten", "--model", MODEL, "--min-confidence", "80", "--json"))["results"]

    assert [(r["key"], r["confidence"]) for r in rows] == [("produce/a.jpg", 97.5), ("produce/c.jpg", 85.0)]


def test_results_by_label_newest_first_with_a_limit(deployed: Deployed) -> None:
    _seed_results(deployed)

    rows = _json(clp("results", "--label", "rotten", "--model", MODEL, "--by", "time", "--limit", "2", "--json"))[
        "results"
    ]

    assert [r["key"] for r in rows] == ["produce/b.jpg", "produce/c.jpg"]


def test_results_needs_exactly_one_of_key_and_label(deployed: Deployed) -> None:
    result = clp("results", "--key", "a", "--label", "b")

    assert result.exit_code == 2
    assert "exactly one of --key or --label" in result.stderr


# -- cost ---------------------------------------------------------------------------------------------


def test_cost_sums_the_ledger_since_a_date(deployed: Deployed) -> None:
    deployed.put_session("2026-10-31T23:00:00.000Z", "before", 7200, 8.0)
    deployed.put_session("2026-11-01T02:00:00.000Z", "a", 3600, 4.0)
    deployed.put_session("2026-11-20T02:00:00.000Z", "b", 1800, 2.0)
    deployed.put_session("2026-11-21T02:00:00.000Z", "p", 900, 1.0, model=OTHER_MODEL)
    deployed.harness.put_lock("arn:x", 4_000_000_000)  # the lock is not a session

    report = _json(clp("cost", "--since", "2026-11-01", "--json"))

    by_model = {r["model"]: r for r in report["models"]}
    assert by_model[MODEL] == {"model": MODEL, "sessions": 2, "inference_unit_hours": 1.5, "estimated_cost_usd": 6.0}
    assert by_model[OTHER_MODEL]["sessions"] == 1
    assert report["total"] == {"sessions": 3, "inference_unit_hours": 1.75, "estimated_cost_usd": 7.0}


def test_cost_table_for_one_model_has_a_total(deployed: Deployed) -> None:
    deployed.put_session("2026-11-01T02:00:00.000Z", "a", 3600, 4.0)

    result = clp("cost", "--model", MODEL)

    assert result.exit_code == 0, result.output
    assert "total" in result.stdout and "4.00" in result.stdout and "1.000" in result.stdout
    assert OTHER_MODEL not in result.stdout


# -- redrive ------------------------------------------------------------------------------------------


def test_redrive_dry_run_counts_and_moves_nothing(deployed: Deployed) -> None:
    for index in range(3):
        deployed.sqs.send_message(QueueUrl=deployed.dlq_url, MessageBody=json.dumps({"n": index}))

    result = clp("redrive", "--model", MODEL, "--dry-run")

    assert result.exit_code == 0, result.output
    assert "3 messages on the dead-letter queue" in result.stdout
    assert deployed.harness.depth() == 0


def test_redrive_moves_every_dead_letter_back_with_its_attributes(deployed: Deployed) -> None:
    # Given 23 dead letters (more than two batches), one with a message attribute
    for index in range(23):
        deployed.sqs.send_message(QueueUrl=deployed.dlq_url, MessageBody=json.dumps({"n": index}))
    deployed.sqs.send_message(
        QueueUrl=deployed.dlq_url,
        MessageBody='{"n": "tagged"}',
        MessageAttributes={"origin": {"DataType": "String", "StringValue": "s3"}},
    )

    # When they are redriven
    result = clp("redrive", "--model", MODEL)

    # Then all are on the detect queue, none on the DLQ, bodies and attributes intact
    assert result.exit_code == 0, result.output
    assert "moved 24 messages" in result.stdout
    bodies: list[str] = []
    attributes: dict[str, Any] = {}
    while True:
        messages = deployed.sqs.receive_message(
            QueueUrl=deployed.harness.queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            break
        for message in messages:
            bodies.append(message["Body"])
            attributes.update(message.get("MessageAttributes", {}))
            deployed.sqs.delete_message(QueueUrl=deployed.harness.queue_url, ReceiptHandle=message["ReceiptHandle"])
    assert sorted(bodies) == sorted([json.dumps({"n": i}) for i in range(23)] + ['{"n": "tagged"}'])
    assert attributes["origin"]["StringValue"] == "s3"
    dlq = deployed.sqs.get_queue_attributes(QueueUrl=deployed.dlq_url, AttributeNames=["All"])["Attributes"]
    assert int(dlq["ApproximateNumberOfMessages"]) + int(dlq["ApproximateNumberOfMessagesNotVisible"]) == 0


def test_every_command_has_help() -> None:
    for command in ("status", "start", "stop", "results", "cost", "redrive"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0, command
        assert "--stack" in result.stdout and "--region" in result.stdout


def test_malformed_manifest_is_a_one_line_error(deployed: Deployed) -> None:
    deployed.stacks.stacks["Old"] = [{"OutputKey": "PipelineManifest", "OutputValue": '{"bucket": "b"}'}]

    result = runner.invoke(app, ["status", "--stack", "Old", "--region", "us-east-1"])

    assert result.exit_code == 1
    assert "PipelineManifest output is malformed" in result.stderr


@pytest.mark.parametrize("remembered_by", ["cleanup marker", "expired lock of an earlier definition"])
def test_stop_points_at_adoption_for_a_model_left_running_by_a_dead_session(
    deployed: Deployed, remembered_by: str
) -> None:
    # Given a running model whose session died: its cleanup marker (or, before the marker, its expired
    # lock) still says model_owned
    deployed.harness.emulator.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=1)
    deployed.harness.clock.advance(3600)
    gone = "arn:aws:states:us-east-1:123456789012:execution:c:gone"
    if remembered_by == "cleanup marker":
        deployed.harness.put_cleanup_marker(gone, model_owned=True, mapping_enabled=True)
    else:
        deployed.harness.put_lock(gone, 1, model_owned=True)

    # When the operator runs clp stop
    result = clp("stop", "--model", MODEL)

    # Then it explains that the next trigger adopts it, and stops nothing itself
    assert result.exit_code == 3
    assert "the next trigger adopts and stops it" in result.stderr
    assert deployed.harness.emulator.calls["StopProjectVersion"] == 0


def test_status_shows_what_a_dead_session_left_to_clean_up(deployed: Deployed) -> None:
    # Given a session that died after starting the model and enabling the mapping
    deployed.harness.put_cleanup_marker(
        "arn:aws:states:us-east-1:123456789012:execution:c:gone", model_owned=True, mapping_enabled=True
    )

    # When the operator asks for the status
    text = clp("status", "--model", MODEL)
    document = clp("status", "--model", MODEL, "--json")

    # Then both say what is pending and who undoes it
    assert text.exit_code == 0, text.output
    assert "cleanup pending: gone left a model it started and the mapping enabled" in text.stdout
    assert "re-check every 10 min" in text.stdout
    (report,) = json.loads(document.stdout)["models"]
    assert report["cleanup"]["model_owned"] is True and report["cleanup"]["mapping_enabled"] is True


def test_stop_ignores_a_held_lock_whose_execution_does_not_exist(deployed: Deployed) -> None:
    # Given a lock naming an execution Step Functions does not know (e.g. deleted state machine)
    owner = f"{deployed.controller_arn.replace(':stateMachine:', ':execution:')}:ghost"
    deployed.harness.put_lock(owner, 4_000_000_000)

    result = clp("stop", "--model", MODEL)

    assert result.exit_code == 0, result.output
    assert "nothing to stop" in result.stdout
    lock = deployed.harness.lock()
    assert lock is not None and "stop_requested" not in lock
