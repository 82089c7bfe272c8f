"""``clp backfill`` against a "deployed" stack in moto: manifest lookup, dry run, start and progress."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime

import boto3
import pytest
from botocore.stub import Stubber
from typer.testing import CliRunner

from clp import backfill
from clp.backfill import BackfillError, parse_s3_url, resolve_target
from clp.main import app
from tests.scale.conftest import BUCKET, REGION, BackfillEnv

runner = CliRunner()


def _manifest(env: BackfillEnv) -> dict[str, object]:
    return {
        "bucket": BUCKET,
        "models": {
            "produce": {
                "prefix": "produce/",
                "queue_url": env.queue_url,
                "controller_state_machine_arn": env.controller_arn,
                "backfill_state_machine_arn": env.backfill_arn,
            },
            "parts": {"prefix": "parts/", "queue_url": "q", "backfill_state_machine_arn": "arn"},
        },
    }


@pytest.fixture
def deployed(backfill_env: BackfillEnv, monkeypatch: pytest.MonkeyPatch) -> BackfillEnv:
    """The stack's outputs (moto's CloudFormation needs extra packages: its one call is stubbed instead)."""
    stack = {
        "StackName": "CustomLabelsPipeline",
        "CreationTime": datetime(2026, 1, 1),
        "StackStatus": "CREATE_COMPLETE",
        "Outputs": [{"OutputKey": "PipelineManifest", "OutputValue": json.dumps(_manifest(backfill_env))}],
    }

    original = backfill.read_manifest

    def read(client: object, stack_name: str) -> dict[str, object]:
        stubbed = boto3.client("cloudformation", region_name=REGION)
        with Stubber(stubbed) as stubber:
            stubber.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": stack_name})
            return original(stubbed, stack_name)

    monkeypatch.setattr(backfill, "read_manifest", read)
    return backfill_env


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
    monkeypatch.setattr(backfill, "map_run_counts", lambda sfn, arn: (15, 15, 0))
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
    ("url", "model", "message"),
    [
        ("https://x/y", None, "expected s3://bucket/prefix"),
        ("s3://other-bucket/produce/", None, "is not the pipeline's uploads bucket"),
        (f"s3://{BUCKET}/unknown/", None, "no model owns prefix"),
        (f"s3://{BUCKET}/produce/", "nope", "unknown model"),
        (f"s3://{BUCKET}/parts/", "produce", "outside model"),
    ],
)
def test_bad_targets_are_refused_with_the_reason(url: str, model: str | None, message: str) -> None:
    manifest = {"bucket": BUCKET, "models": {"produce": {"prefix": "produce/"}, "parts": {"prefix": "parts/"}}}
    with pytest.raises(BackfillError, match=message):
        resolve_target(manifest, url, model)


def test_the_model_prefix_is_the_default_prefix() -> None:
    manifest = {
        "bucket": BUCKET,
        "models": {"produce": {"prefix": "produce/", "backfill_state_machine_arn": "a", "queue_url": "q"}},
    }
    target = resolve_target(manifest, f"s3://{BUCKET}", "produce")
    assert (target.prefix, target.model) == ("produce/", "produce")
    assert parse_s3_url(f"s3://{BUCKET}/produce/x/") == (BUCKET, "produce/x/")


def test_read_manifest_reads_the_output_and_explains_what_is_missing() -> None:
    client = boto3.client("cloudformation", region_name=REGION)
    base = {"StackName": "S", "CreationTime": datetime(2026, 1, 1), "StackStatus": "CREATE_COMPLETE"}
    with Stubber(client) as stubber:
        stubber.add_response(
            "describe_stacks",
            {"Stacks": [{**base, "Outputs": [{"OutputKey": "PipelineManifest", "OutputValue": '{"bucket": "b"}'}]}]},
        )
        stubber.add_response("describe_stacks", {"Stacks": [base]})
        stubber.add_client_error("describe_stacks", "ValidationError", "Stack with id S does not exist")
        assert backfill.read_manifest(client, "S") == {"bucket": "b"}
        with pytest.raises(BackfillError, match="no PipelineManifest output"):
            backfill.read_manifest(client, "S")
        with pytest.raises(BackfillError, match="stack 'S' not found: Stack with id S does not exist"):
            backfill.read_manifest(client, "S")


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
        assert backfill.map_run_counts(client, "e") == (100, 90, 2)
