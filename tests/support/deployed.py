"""A "deployed" stack in moto for the operator commands (``clp status/start/stop/results/cost/redrive``).

The controller is the REAL ASL run by moto's Step Functions interpreter with the Custom Labels emulator
(:mod:`tests.support.harnesses`), created a second time with zero-second poll intervals in its definition
substitutions, because ``clp start`` sends only ``{"trigger": "manual"}``.

moto's CloudFormation backend needs extra packages this project does not install
(``openapi_spec_validator`` …), so the one call clp makes, ``DescribeStacks``, is answered by a botocore
``before-call`` handler (the emulator's and Stubber's mechanism) from a stack whose ``PipelineManifest``
output has the shape infra/pipeline.py produces.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lambdas.common import contract
from lambdas.detect.adapters import DynamoResultsRepository
from lambdas.detect.mapping import event_detail
from lambdas.detect.models import DetectionResult, ImageRef, Label
from lambdas.detect.ports import PublishClaim
from localrun.intercept import Interception, error_response, success_response
from tests.support.harnesses import NAMES, ControllerHarness, controller_config
from tests.support.ids import ACCOUNT, MODEL, PROJECT_ARN, REGION, VERSION_ARN

STACK = "CustomLabelsPipeline"
BUCKET = NAMES.bucket
RESULTS_TABLE = NAMES.results_table
OTHER_MODEL = "machine-parts"


class DescribeStacksResponder(Interception):
    """Answers ``cloudformation:DescribeStacks`` for the stacks it holds, like CloudFormation does."""

    def __init__(self) -> None:
        super().__init__("before-call.cloudformation.DescribeStacks", self._answer)
        self.stacks: dict[str, list[dict[str, str]]] = {}

    def _answer(self, params: dict[str, Any], **_: Any) -> Any:
        body = params.get("body")  # the serialized request: a dict of query parameters for this protocol
        name = str(body.get("StackName", "")) if isinstance(body, dict) else ""
        if name not in self.stacks:
            return error_response("ValidationError", f"Stack with id {name} does not exist", 400, error_type="Sender")
        stack = {
            "StackName": name,
            "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{name}/{uuid.uuid4()}",
            "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
            "StackStatus": "CREATE_COMPLETE",
            "Outputs": self.stacks[name],
        }
        return success_response({"Stacks": [stack]})


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
                "pk": {"S": contract.model_pk(model)},
                "sk": {"S": f"{contract.session_sk_from(start)}#{name}"},
                "outcome": {"S": "Drained"},
                "trigger": {"S": "schedule"},
                "inference_unit_seconds": {"N": str(iu_seconds)},
                "estimated_cost_usd": {"N": str(cost)},
            },
        )


def manifest_for(harness: ControllerHarness, controller_arn: str) -> dict[str, Any]:
    """The PipelineManifest shape of infra/pipeline.py."""
    resources = harness.resources
    model = {
        "prefix": resources.model.prefix,
        "project_arn": PROJECT_ARN,
        "project_version_arn": VERSION_ARN,
        "queue_url": resources.queue_url,
        "dead_letter_queue_url": resources.dlq_url,
        "function": resources.function_name,
        "event_source_mapping_id": resources.mapping_uuid,
        "controller_state_machine_arn": controller_arn,
        "backfill_state_machine_arn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:clp-{MODEL}-backfill",
    }
    other_version = VERSION_ARN.replace(MODEL, OTHER_MODEL)
    names = harness.world.names
    return {
        "bucket": BUCKET,
        "results_table": names.results_table,
        "event_bus": names.bus,
        "alarm_topic": f"arn:aws:sns:{REGION}:{ACCOUNT}:clp-alarms",
        "control_table": names.control_table,
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


@contextmanager
def deployed_stack(harness: ControllerHarness) -> Iterator[Deployed]:
    """The stack around ``harness``: results table, a fast controller, DescribeStacks answered."""
    world = harness.world
    # moto sleeps Wait states in real time: 0-second polls here (the config refuses them for AWS, where a
    # 0-second loop exhausts the execution history; clp start sends no poll overrides).
    controller_arn = world.create_controller(
        harness.resources,
        config=controller_config(idle_grace_seconds=0),
        overrides={"PollIntervalSeconds": "0", "StartPollIntervalSeconds": "0"},
        name_suffix="-fast",
    )
    world.create_results_table()
    manifest = manifest_for(harness, controller_arn)
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
            dlq_url=harness.resources.dlq_url,
            results=DynamoResultsRepository(harness.ddb, RESULTS_TABLE),
            sqs=harness.sqs,
        )
