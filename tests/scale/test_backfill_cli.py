"""``clp backfill`` against a "deployed" stack in moto: manifest lookup, dry run, start and progress."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime

import boto3
import pytest
from botocore.stub import Stubber
from typer.testing import CliRunner

from clp.commands import backfill
from clp.commands.backfill import parse_s3_url, resolve_target
from clp.deployment import parse_manifest
from clp.errors import EXIT_ERROR, EXIT_USAGE, BackfillError, ClpError, UsageError
from clp.main import app
from tests.support.backfill import BUCKET, TABLE, BackfillEnv
from tests.support.deployed import DescribeStacksResponder
from tests.support.ids import REGION

runner = CliRunner()
STACK = "CustomLabelsPipeline"


def _model(prefix: str, queue_url: str = "q", **arns: str) -> dict[str, str]:
    """A model entry of the PipelineManifest shape infra/stack.py writes (``_outputs``)."""
    name = prefix.rstrip("/")
    version = f"arn:aws:rekognition:{REGION}:123456789012:project/{name}/version/{name}.v1/1700000000000"
    return {
        "prefix": prefix,
        "project_version_arn": version,
        "queue_url": queue_url,
        "dead_letter_queue_url": f"{queue_url}-dlq",
        "function": f"clp-{name}-detect",
        "event_source_mapping_id": "00000000-0000-0000-0000-000000000000",
        "controller_state_machine_arn": f"arn:aws:states:{REGION}:123456789012:stateMachine:clp-{name}-controller",
        **arns,
    }


def _manifest(models: dict[str, dict[str, str]]) -> dict[str, object]:
    return {"bucket": BUCKET, "results_table": TABLE, "control_table": "clp-control", "models": models}


def _deployed_manifest(env: BackfillEnv) -> dict[str, object]:
    produce = _model(
        "produce/",
        env.queue_url,
        controller_state_machine_arn=env.controller_arn,
        backfill_state_machine_arn=env.backfill_arn,
    )
    return _manifest({"produce": produce, "parts": _model("parts/", backfill_state_machine_arn="arn")})


@pytest.fixture
def deployed(backfill_env: BackfillEnv) -> Iterator[BackfillEnv]:
    """The stack's outputs (moto's CloudFormation needs extra packages: DescribeStacks is answered instead)."""
    with DescribeStacksResponder() as stacks:
        stacks.stacks[STACK] = [
            {"OutputKey": "PipelineManifest", "OutputValue": json.dumps(_deployed_manifest(backfill_env))}
        ]
        yield backfill_env


def test_dry_run_counts_and_starts_nothing(deployed: BackfillEnv) -> None:
    deployed.put_objects([f"produce/a/{i}.jpg" for i in range(7)] + ["produce/a/", "parts/x.jpg"])

    result = runner.invoke(app, ["backfill", f"s3://{BUCKET}/produce/a/", "--dry-run", "--region", REGION])

    assert result.exit_code == 0, result.output
    assert "dry run: 7 objects" in result.stdout and "model produce" in result.stdout
    assert deployed.sfn.list_executions(stateMachineArn=deployed.backfill_arn)["executions"] == []


def test_backfill_runs_and_reports_the_enqueued_objects(deployed: BackfillEnv) -> None:
    keys = [f"produce/b/{i}.jpg" for i in range(25)]
    deployed.put_objects(keys)

    result = runner.invoke(
        app,
        [
            "backfill",
            f"s3://{BUCKET}/produce/b/",
            "--region",
            REGION,
            "--poll",
            "0.1",
            "--no-start-controller",
            "--no-wait",
        ],
    )

    assert result.exit_code == 0, result.output
    (execution,) = deployed.sfn.list_executions(stateMachineArn=deployed.backfill_arn)["executions"]
    assert json.loads(deployed.sfn.describe_execution(executionArn=execution["executionArn"])["input"]) == {
        "prefix": "produce/b/",
        "skip_existing": True,
        "start_controller": False,
    }
    finished = deployed.run({"prefix": "produce/b/", "start_controller": False})  # the same work, awaited
    assert finished["status"] == "SUCCEEDED"


def test_follow_shows_progress_until_the_queue_drained(deployed: BackfillEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given 15 objects and a stand-in for the detect function that consumes the queue
    deployed.put_objects([f"produce/c/{i}.jpg" for i in range(15)])
    # moto's ListMapRuns fails on executions of its own distributed maps: the counts come from S3 here
    # (map_run_counts itself is tested with a stubbed client below).
    monkeypatch.setattr(backfill.queries, "map_run_counts", lambda sfn, arn: (15, 15, 0))
    stop = threading.Event()
    consumer = boto3.client("sqs", region_name=REGION)

    def consume() -> None:
        while not stop.is_set():
            for message in consumer.receive_message(QueueUrl=deployed.queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            ):
                consumer.delete_message(QueueUrl=deployed.queue_url, ReceiptHandle=message["ReceiptHandle"])
            time.sleep(0.05)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    try:
        # When the backfill is started and followed
        result = runner.invoke(app, ["backfill", f"s3://{BUCKET}/produce/c/", "--region", REGION, "--poll", "0.1"])
    finally:
        stop.set()
        thread.join(timeout=5)

    # Then it ends when the execution succeeded and the queue is empty, and says so
    assert result.exit_code == 0, result.output
    assert "backfill succeeded: listed 15, enqueued 15, detected ~15, queue 0" in result.stdout
    assert deployed.controller_inputs() == [{"trigger": "backfill"}]


@pytest.mark.parametrize(
    ("url", "model", "error", "message"),
    [
        ("https://x/y", None, UsageError, "expected s3://bucket/prefix"),
        ("s3://other-bucket/produce/", None, BackfillError, "is not the pipeline's uploads bucket"),
        (f"s3://{BUCKET}/unknown/", None, BackfillError, "no model owns prefix"),
        (f"s3://{BUCKET}/produce/", "nope", BackfillError, "unknown model"),
        (f"s3://{BUCKET}/parts/", "produce", BackfillError, "outside model"),
    ],
)
def test_bad_targets_are_refused_with_the_reason(
    url: str, model: str | None, error: type[ClpError], message: str
) -> None:
    # Given a stack with two models
    deployment = parse_manifest(
        STACK, json.dumps(_manifest({"produce": _model("produce/"), "parts": _model("parts/")}))
    )

    # When a target outside what it serves is asked for, Then it is refused with the reason and its exit status
    with pytest.raises(error, match=message) as refused:
        resolve_target(deployment, url, model)
    assert refused.value.exit_code == (EXIT_USAGE if error is UsageError else EXIT_ERROR)


def test_a_stack_without_a_backfill_state_machine_is_refused() -> None:
    # Given a stack deployed before the backfill existed (its manifest names no backfill state machine)
    deployment = parse_manifest(STACK, json.dumps(_manifest({"produce": _model("produce/")})))

    # Then a backfill is refused with what to do
    with pytest.raises(BackfillError, match="deploy this version first"):
        resolve_target(deployment, f"s3://{BUCKET}/produce/", None)


def test_the_model_prefix_is_the_default_prefix() -> None:
    deployment = parse_manifest(
        STACK, json.dumps(_manifest({"produce": _model("produce/", backfill_state_machine_arn="a")}))
    )
    target = resolve_target(deployment, f"s3://{BUCKET}", "produce")
    assert (target.prefix, target.model) == ("produce/", "produce")
    assert parse_s3_url(f"s3://{BUCKET}/produce/x/") == (BUCKET, "produce/x/")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["https://x/y"], EXIT_USAGE, "expected s3://bucket/prefix"),
        ([f"s3://{BUCKET}/produce/", "--stack", "Nope"], EXIT_ERROR, "stack 'Nope' does not exist"),
        ([f"s3://{BUCKET}/unknown/"], EXIT_ERROR, "no model owns prefix"),
    ],
)
def test_backfill_errors_follow_the_exit_status_convention(
    deployed: BackfillEnv, args: list[str], code: int, message: str
) -> None:
    # When the backfill is asked for something invalid (usage) or impossible (an error)
    result = runner.invoke(app, ["backfill", *args, "--region", REGION])

    # Then one line on stderr says why, with docs/cli.md's exit status, and nothing is started
    assert result.exit_code == code, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert deployed.sfn.list_executions(stateMachineArn=deployed.backfill_arn)["executions"] == []


def test_map_run_counts_add_up_every_map_run() -> None:
    client = boto3.client("stepfunctions", region_name=REGION)
    run = "arn:aws:states:us-east-1:123456789012:mapRun:clp-produce-backfill/x:y"
    with Stubber(client) as stubber:
        stubber.add_response(
            "list_map_runs",
            {
                "mapRuns": [
                    {"executionArn": "e", "mapRunArn": run, "stateMachineArn": "s", "startDate": datetime(2026, 1, 1)}
                ]
            },
        )
        counts = {
            "pending": 0,
            "running": 5,
            "succeeded": 90,
            "failed": 2,
            "timedOut": 0,
            "aborted": 0,
            "total": 100,
            "resultsWritten": 90,
        }
        stubber.add_response(
            "describe_map_run",
            {
                "mapRunArn": run,
                "executionArn": "e",
                "status": "RUNNING",
                "startDate": datetime(2026, 1, 1),
                "maxConcurrency": 100,
                "toleratedFailurePercentage": 0,
                "toleratedFailureCount": 0,
                "itemCounts": counts,
                "executionCounts": counts,
            },
        )
        assert backfill.queries.map_run_counts(client, "e") == (100, 90, 2)
