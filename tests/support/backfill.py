"""The scale suite's three-model pipeline and the backfill's test world: moto S3 + SQS + DynamoDB + Step
Functions built by :class:`localrun.world.World`, the REAL backfill definition of model ``produce``
(adapted for moto by tests/support/moto_backfill.py), and a stand-in controller it may start."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from moto import mock_aws

from infra.config import PipelineConfig
from localrun.moto_adapt import MOTO_CONFIG
from localrun.world import Names, World, adapt_moto
from tests.support.configs import model_block
from tests.support.ids import REGION
from tests.support.moto_backfill import (
    emulate_moto_backfill,
    item_batcher_max_items,
    moto_backfill_definition,
    paginate_moto_item_reader,
)

BUCKET = "clp-uploads-scale"
TABLE = "clp-results-scale"

WINDOW = {"cron": "cron(0 2 * * ? *)", "timezone": "UTC", "window_minutes": 60, "lead_minutes": 10}
THREE_MODELS: dict[str, Any] = {
    "stack_name": "ScalePipeline",
    "resource_prefix": "clp",
    "models": [
        model_block("logos", "logos/", {"mode": "scheduled", "schedules": [WINDOW]}),
        model_block("parts", "parts/", {"mode": "on_demand", "backlog_threshold": 50}),
        model_block("produce", "produce/", {"mode": "both", "schedules": [WINDOW], "latency_target_minutes": 30}),
    ],
}
# A controller the backfill may start: the backfill's own tests need only that it was started, and how.
STAND_IN_CONTROLLER = json.dumps({"StartAt": "Started", "States": {"Started": {"Type": "Pass", "End": True}}})


@dataclass
class BackfillEnv:
    """moto S3 + SQS + DynamoDB + Step Functions with the backfill of model ``produce`` created."""

    config: PipelineConfig
    s3: Any
    sqs: Any
    ddb: Any
    sfn: Any
    queue_url: str
    controller_arn: str
    backfill_arn: str
    definition: str  # the substituted deployed definition (before the moto transform)
    failed_children: list[dict[str, str | None]]  # error and cause of every failed child execution

    def put_objects(self, keys: list[str]) -> None:
        for key in keys:
            self.s3.put_object(Bucket=BUCKET, Key=key, Body=key.encode())

    def run(self, payload: dict[str, Any], timeout: float = 240.0) -> dict[str, Any]:
        arn = self.sfn.start_execution(
            stateMachineArn=self.backfill_arn, name=f"backfill-{uuid.uuid4().hex[:12]}", input=json.dumps(payload)
        )["executionArn"]
        return wait_for_execution(self.sfn, arn, timeout)

    def messages(self) -> list[dict[str, Any]]:
        """Every message body on the queue (received once, then left invisible)."""
        bodies: list[dict[str, Any]] = []
        while batch := self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=600
        ).get("Messages", []):
            bodies.extend(json.loads(m["Body"]) for m in batch)
        return bodies

    def child_executions(self, execution_arn: str) -> int:
        """How many child executions the backfill's distributed Map (its only map run) started."""
        (map_run,) = self.sfn.list_map_runs(executionArn=execution_arn)["mapRuns"]
        return int(self.sfn.describe_map_run(mapRunArn=map_run["mapRunArn"])["executionCounts"]["total"])

    def controller_inputs(self) -> list[dict[str, Any]]:
        executions = self.sfn.list_executions(stateMachineArn=self.controller_arn)["executions"]
        return [json.loads(self.sfn.describe_execution(executionArn=e["executionArn"])["input"]) for e in executions]


def wait_for_execution(sfn: Any, arn: str, timeout: float) -> dict[str, Any]:
    """Poll until the execution is no longer RUNNING (backing off, so a long run is not slowed by polling)."""
    deadline, pause = time.monotonic() + timeout, 0.05
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"execution still RUNNING after {timeout} s"
        time.sleep(pause)
        pause = min(pause * 1.5, 0.5)
    return dict(described)


@contextmanager
def backfill_world(config: PipelineConfig) -> Iterator[BackfillEnv]:
    """moto with the moto adaptations, an unversioned bucket, the results table, model ``produce``'s queue,
    a stand-in controller and the real backfill definition."""
    adapt_moto()
    paginate_moto_item_reader()
    with mock_aws(config=MOTO_CONFIG), emulate_moto_backfill() as emulated:

        def client(service: str) -> Any:
            return boto3.client(service, region_name=REGION)  # type: ignore[call-overload]

        world = World(config, client, Names(bucket=BUCKET, results_table=TABLE))
        world.create_bucket(versioned=False)
        world.create_results_table()
        resources = world.create_model(config.model("produce"))
        sfn = client("stepfunctions")
        controller_arn = sfn.create_state_machine(
            name="clp-produce-controller", definition=STAND_IN_CONTROLLER, roleArn=world.role("states.amazonaws.com")
        )["stateMachineArn"]
        backfill_arn, definition = world.create_backfill(
            resources, moto_backfill_definition, controller_arn=controller_arn
        )
        emulated.item_batchers[backfill_arn] = item_batcher_max_items(definition)
        yield BackfillEnv(
            config,
            client("s3"),
            client("sqs"),
            client("dynamodb"),
            sfn,
            resources.queue_url,
            controller_arn,
            backfill_arn,
            definition,
            emulated.failed_children,
        )
