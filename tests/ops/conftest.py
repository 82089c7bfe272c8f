"""A "deployed" stack in moto for the operator commands (``clp status/start/stop/results/cost/redrive``).

The controller is the REAL ASL run by moto's Step Functions interpreter with the Custom Labels emulator
(the harness of tests/controller, imported), created a second time with zero-second poll intervals in
its definition substitutions, because ``clp start`` sends only ``{"trigger": "manual"}``.

moto's CloudFormation backend needs extra packages this project does not install
(``openapi_spec_validator`` …), so the one call clp makes, ``DescribeStacks``, is answered by a botocore
``before-call`` handler (the emulator's and Stubber's mechanism) from a stack whose ``PipelineManifest``
output has the shape infra/pipeline.py produces.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore import handlers as botocore_handlers
from botocore.awsrequest import AWSResponse, HTTPHeaders

from clp import render
from infra.statemachines import controller_definition, controller_substitutions, execution_timeout_seconds, substitute
from lambdas.detect.adapters import DynamoResultsRepository
from lambdas.detect.mapping import event_detail
from lambdas.detect.models import DetectionResult, ImageRef, Label
from lambdas.detect.ports import PublishClaim
from localrun.moto_adapt import moto_definition
from localrun.resources import create_results_table
from tests.controller import conftest as controller_fixtures
from tests.controller.conftest import (
    ACCOUNT,
    MODEL,
    PROJECT_ARN,
    REGION,
    VERSION_ARN,
    ControllerHarness,
    pipeline_config,
)

# The controller harness and the fixtures it depends on, shared with tests/controller.
harness = controller_fixtures.harness
clock = controller_fixtures.clock
emulator_options = controller_fixtures.emulator_options
model_status = controller_fixtures.model_status

STACK = "CustomLabelsPipeline"
BUCKET = "clp-uploads-123456789012"
RESULTS_TABLE = "clp-results"
OTHER_MODEL = "machine-parts"


class DescribeStacksResponder:
    """Answers ``cloudformation:DescribeStacks`` for the stacks it holds, like CloudFormation does."""

    EVENT = "before-call.cloudformation.DescribeStacks"

    def __init__(self) -> None:
        self.stacks: dict[str, list[dict[str, str]]] = {}

    def __call__(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        body = params.get("body")  # the serialized request: a dict of query parameters for this protocol
        name = str(body.get("StackName", "")) if isinstance(body, dict) else ""
        metadata = {"HTTPStatusCode": 200, "RequestId": uuid.uuid4().hex}
        if name not in self.stacks:
            error = {"Type": "Sender", "Code": "ValidationError", "Message": f"Stack with id {name} does not exist"}
            metadata["HTTPStatusCode"] = 400
            return AWSResponse("", 400, HTTPHeaders(), None), {"Error": error, "ResponseMetadata": metadata}
        stack = {
            "StackName": name,
            "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{name}/{uuid.uuid4()}",
            "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
            "StackStatus": "CREATE_COMPLETE",
            "Outputs": self.stacks[name],
        }
        return AWSResponse("", 200, HTTPHeaders(), None), {"Stacks": [stack], "ResponseMetadata": metadata}

    def __enter__(self) -> DescribeStacksResponder:
        handler: Any = self
        botocore_handlers.BUILTIN_HANDLERS.append((self.EVENT, handler))
        return self

    def __exit__(self, *_: object) -> None:
        handler: Any = self
        botocore_handlers.BUILTIN_HANDLERS.remove((self.EVENT, handler))


@dataclass
class Deployed:
    """The harness (controller, queue, control table, emulator) plus what the stack adds around it."""

    harness: ControllerHarness
    stacks: DescribeStacksResponder
    manifest: dict[str, Any]
    controller_arn: str
    dlq_url: str
    results: DynamoResultsRepository
    sqs: Any = field(repr=False)

    def put_result(
        self,
        key: str,
        labels: list[tuple[str, float]],
        *,
        detected_at: datetime,
        version: str = "v1",
        model: str = MODEL,
        status: str = "DETECTED",
        reason: str | None = None,
    ) -> None:
        image = ImageRef(
            bucket=BUCKET, key=key, version_id=version, etag="e", size=10, uploaded_at=datetime(2026, 1, 1, tzinfo=UTC)
        )
        arn = self.manifest["models"][model]["project_version_arn"]
        result = DetectionResult(
            image=image,
            model_name=model,
            project_version_arn=arn,
            status=status,
            labels=tuple(Label(name=n, confidence=c) for n, c in labels),
            reason=reason,
            detected_at=detected_at,
        )
        assert self.results.put(result, event_detail(result), PublishClaim("seeded", 0))

    def put_session(self, start: str, name: str, iu_seconds: float, cost: float, *, model: str = MODEL) -> None:
        self.harness.ddb.put_item(
            TableName=self.harness.table_name,
            Item={
                "pk": {"S": f"MODEL#{model}"},
                "sk": {"S": f"SESSION#{start}#{name}"},
                "outcome": {"S": "Drained"},
                "trigger": {"S": "schedule"},
                "inference_unit_seconds": {"N": str(iu_seconds)},
                "estimated_cost_usd": {"N": str(cost)},
            },
        )


def manifest_for(harness: ControllerHarness, controller_arn: str, dlq_url: str) -> dict[str, Any]:
    """The PipelineManifest shape of infra/pipeline.py."""
    model = {
        "prefix": "produce/",
        "project_arn": PROJECT_ARN,
        "project_version_arn": VERSION_ARN,
        "queue_url": harness.queue_url,
        "dead_letter_queue_url": dlq_url,
        "function": "clp-produce-quality-detect",
        "event_source_mapping_id": harness.esm_uuid,
        "controller_state_machine_arn": controller_arn,
        "backfill_state_machine_arn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:clp-produce-quality-backfill",
    }
    other_version = VERSION_ARN.replace("produce-quality", OTHER_MODEL)
    return {
        "bucket": BUCKET,
        "results_table": RESULTS_TABLE,
        "event_bus": "clp-events",
        "alarm_topic": f"arn:aws:sns:{REGION}:{ACCOUNT}:clp-alarms",
        "control_table": harness.table_name,
        "dashboard": "clp",
        "models": {
            MODEL: model,
            # as a stack deployed before the manifest named the project: read from the controller definition
            OTHER_MODEL: {
                **{k: v for k, v in model.items() if k != "project_arn"},
                "prefix": "parts/",
                "project_version_arn": other_version,
            },
        },
    }


@pytest.fixture
def deployed(harness: ControllerHarness, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployed]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setattr(render.out, "width", 200)  # tables fold at the runner's 80 columns
    fast = pipeline_config(idle_grace_seconds=0)
    model = fast.models[0]
    substitutions = controller_substitutions(
        fast,
        model,
        queue_url=harness.queue_url,
        event_source_mapping_id=harness.esm_uuid,
        control_table_name=harness.table_name,
        event_bus_name="clp-events",
        backlog_alarm_name=harness.backlog_alarm_name,
    )
    # moto sleeps Wait states in real time: 0-second polls here (the config refuses them for AWS, where a
    # 0-second loop exhausts the execution history; clp start sends no poll overrides).
    substitutions.update(PollIntervalSeconds="0", StartPollIntervalSeconds="0")
    definition = substitute(controller_definition(execution_timeout_seconds(model.lifecycle)), substitutions)
    controller_arn = harness.sfn.create_state_machine(
        name="clp-produce-quality-controller-fast",
        definition=moto_definition(definition),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/controller",
    )["stateMachineArn"]
    sqs = boto3.client("sqs", region_name=REGION)
    dlq_url = sqs.create_queue(QueueName="clp-produce-quality-dlq")["QueueUrl"]
    ddb = boto3.client("dynamodb", region_name=REGION)
    create_results_table(ddb, RESULTS_TABLE)
    manifest = manifest_for(harness, controller_arn, dlq_url)
    with DescribeStacksResponder() as stacks:
        stacks.stacks[STACK] = [
            {"OutputKey": "PipelineManifest", "OutputValue": json.dumps(manifest)},
            {"OutputKey": "ResultsTableName", "OutputValue": RESULTS_TABLE},
        ]
        stacks.stacks["SomethingElse"] = [{"OutputKey": "BucketName", "OutputValue": "b"}]
        yield Deployed(
            harness=harness,
            stacks=stacks,
            manifest=manifest,
            controller_arn=controller_arn,
            dlq_url=dlq_url,
            results=DynamoResultsRepository(ddb, RESULTS_TABLE),
            sqs=sqs,
        )
