"""Fixtures for scale and operations: a three-model pipeline (scheduled, on_demand, both), its synthesized
stack (cdk-nag attached), and a moto environment running the REAL backfill definition.

moto adaptations for the backfill are test-only and listed in ``tests/scale/moto_backfill.py``; the
deployed definition is checked separately (structure + asl-validator) in test_backfill_definition.py.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_cdk.assertions import Template
from moto import mock_aws

from infra.config import PipelineConfig, parse_config
from infra.statemachines import backfill_definition, backfill_substitutions, substitute
from localrun.moto_jsonata import install_moto_jsonata
from localrun.moto_adapt import MOTO_CONFIG, install_sdk_field_names
from localrun.resources import create_results_table
from tests.scale.moto_backfill import (
    emulate_moto_backfill,
    item_batcher_max_items,
    moto_backfill_definition,
    paginate_moto_item_reader,
)

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "clp-uploads-scale"
TABLE = "clp-results-scale"


def _model(name: str, prefix: str, lifecycle: dict[str, Any]) -> dict[str, Any]:
    project = f"arn:aws:rekognition:{REGION}:{ACCOUNT}:project/{name}/1767225600000"
    return {
        "name": name,
        "project_arn": project,
        "project_version_arn": f"arn:aws:rekognition:{REGION}:{ACCOUNT}:project/{name}/version/{name}.v1/1767225600000",
        "prefix": prefix,
        "lifecycle": lifecycle,
    }


WINDOW = {"cron": "cron(0 2 * * ? *)", "timezone": "UTC", "window_minutes": 60, "lead_minutes": 10}
THREE_MODELS: dict[str, Any] = {
    "stack_name": "ScalePipeline",
    "resource_prefix": "clp",
    "models": [
        _model("logos", "logos/", {"mode": "scheduled", "schedules": [WINDOW]}),
        _model("parts", "parts/", {"mode": "on_demand", "backlog_threshold": 50}),
        _model("produce", "produce/", {"mode": "both", "schedules": [WINDOW], "latency_target_minutes": 30}),
    ],
}


@pytest.fixture(scope="session")
def three_models() -> PipelineConfig:
    return parse_config(THREE_MODELS)


@dataclass
class SynthesizedScale:
    config: PipelineConfig
    template: Template
    document: dict[str, Any]
    path: Path

    def resources(self, resource_type: str) -> dict[str, Any]:
        return {k: v for k, v in self.document["Resources"].items() if v["Type"] == resource_type}


@pytest.fixture(scope="session")
def scale_stack(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedScale:
    """The three-model stack, synthesized once; cdk-nag findings fail synth() here."""
    from infra.app import build_app, cdk_json_context

    outdir = tmp_path_factory.mktemp("scale.cdk.out")
    context = {**cdk_json_context(), "pipeline": THREE_MODELS}  # cdk.json's feature flags, three models
    app, stack, config = build_app(context=context, outdir=str(outdir))
    assembly = app.synth()
    path = Path(assembly.get_stack_by_name(stack.stack_name).template_full_path)
    return SynthesizedScale(config, Template.from_stack(stack), json.loads(path.read_text()), path)


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
        deadline, pause = time.monotonic() + timeout, 0.05
        while (described := self.sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline, "backfill did not finish"
            time.sleep(pause)
            pause = min(pause * 1.5, 0.5)  # a long run is not slowed by polling it
        return dict(described)

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


@pytest.fixture
def backfill_env(three_models: PipelineConfig) -> Iterator[BackfillEnv]:
    install_moto_jsonata()
    install_sdk_field_names()
    paginate_moto_item_reader()
    with mock_aws(config=MOTO_CONFIG), emulate_moto_backfill() as emulated:
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        sqs = boto3.client("sqs", region_name=REGION)
        queue_url = sqs.create_queue(QueueName="clp-produce-detect")["QueueUrl"]
        ddb = boto3.client("dynamodb", region_name=REGION)
        create_results_table(ddb, TABLE)
        sfn = boto3.client("stepfunctions", region_name=REGION)
        role = f"arn:aws:iam::{ACCOUNT}:role/clp-test"
        # A stand-in controller: the backfill only starts it (the controller has its own tests).
        controller_arn = sfn.create_state_machine(
            name="clp-produce-controller",
            definition=json.dumps({"StartAt": "Started", "States": {"Started": {"Type": "Pass", "End": True}}}),
            roleArn=role,
        )["stateMachineArn"]
        model = three_models.model("produce")
        definition = substitute(
            backfill_definition(),
            backfill_substitutions(
                three_models,
                model,
                bucket_name=BUCKET,
                queue_url=queue_url,
                results_table_name=TABLE,
                controller_state_machine_arn=controller_arn,
                region=REGION,
            ),
        )
        backfill_arn = sfn.create_state_machine(
            name="clp-produce-backfill", definition=moto_backfill_definition(definition), roleArn=role
        )["stateMachineArn"]
        emulated.item_batchers[backfill_arn] = item_batcher_max_items(definition)
        yield BackfillEnv(
            three_models,
            s3,
            sqs,
            ddb,
            sfn,
            queue_url,
            controller_arn,
            backfill_arn,
            definition,
            emulated.failed_children,
        )
