"""infra/constructs/review.py in a small stack of its own: the two rules' patterns, the IAM scoping, cdk-nag.

The event pattern is A2I's documented status event (source ``aws.sagemaker``, detail-type ``SageMaker A2I HumanLoop
Status Change``, ``detail.flowDefinitionArn``: "Use Amazon CloudWatch Events in Amazon Augmented AI"); the output
folder is A2I's ``<S3OutputPath>/<flow definition name>/...`` ("Amazon A2I Output Data").
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import (
    App,
    Stack,
    Validations,
    aws_dynamodb as dynamodb,
    aws_events as events,
    aws_iam as iam,
    aws_lambda as lambda_,
)
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks

from infra.constants import A2I_INGEST_HANDLER as INGEST_HANDLER, A2I_START_HANDLER as START_HANDLER
from infra.constructs.review import A2iReview
from lambdas.a2i.models import TaskInput
from tests.a2i.world import FLOW_ARN, FLOW_NAME, OUTPUT_BUCKET, OUTPUT_S3_URI, STATUS_CHANGE
from tests.support import ids
from tests.support.events import load_event

LAYER_ARN = f"arn:aws:lambda:{ids.REGION}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:1"


@dataclass
class Synthesized:
    template: Template
    document: dict[str, Any]

    def resources(self, kind: str) -> dict[str, Any]:
        return {k: v for k, v in self.document["Resources"].items() if v["Type"] == kind}

    def statements_of(self, role_fragment: str) -> list[dict[str, Any]]:
        """Every statement of the inline policies attached to the role whose logical id contains the fragment."""
        statements = []
        for policy in self.resources("AWS::IAM::Policy").values():
            roles = [ref["Ref"] for ref in policy["Properties"]["Roles"]]
            if any(role_fragment in role for role in roles):
                statements += policy["Properties"]["PolicyDocument"]["Statement"]
        return statements


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    outdir: Path = tmp_path_factory.mktemp("a2i-cdk.out")
    app = App(outdir=str(outdir))
    stack = Stack(app, "A2iTest")
    key = dynamodb.AttributeType.STRING
    table = dynamodb.TableV2(
        stack,
        "Table",
        partition_key=dynamodb.Attribute(name="pk", type=key),
        sort_key=dynamodb.Attribute(name="sk", type=key),
        point_in_time_recovery=True,
    )
    bus = events.EventBus(stack, "Bus", event_bus_name="clp-events")
    review = A2iReview(
        stack,
        "A2i",
        model_name=ids.MODEL,
        flow_definition_arn=FLOW_ARN,
        output_s3_uri=OUTPUT_S3_URI,
        table=table,
        bus=bus,
        code=lambda_.Code.from_inline("def handler(event, context):\n    return None\n"),
        powertools=lambda_.LayerVersion.from_layer_version_arn(stack, "Powertools", LAYER_ARN),
        log_retention_days=30,
    )
    # A role of someone else's function (the detect function's, say) granted StartHumanLoop through the construct.
    other = iam.Role(stack, "OtherRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    review.grant_start_human_loop(other)
    # cdk-nag AwsSolutions as the app attaches it: an unacknowledged finding fails synth().
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    assembly = app.synth()
    path = Path(assembly.get_stack_by_name("A2iTest").template_full_path)
    yield Synthesized(Template.from_stack(stack), json.loads(path.read_text()))


def rule_with(synthesized: Synthesized, source: str) -> dict[str, Any]:
    (rule,) = [
        r
        for r in synthesized.resources("AWS::Events::Rule").values()
        if r["Properties"]["EventPattern"]["source"] == [source]
    ]
    return dict(rule["Properties"])


def test_the_ingest_rule_matches_a2i_status_events_of_this_flow_definition_on_the_default_bus(
    synthesized: Synthesized,
) -> None:
    # Given the synthesized ingest rule
    rule = rule_with(synthesized, "aws.sagemaker")

    # Then it listens on the default bus (no EventBusName) for this flow definition's status changes only
    assert "EventBusName" not in rule
    assert rule["EventPattern"] == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker A2I HumanLoop Status Change"],
        "detail": {"flowDefinitionArn": [FLOW_ARN]},
    }
    # and the AWS documentation's sample event, for this flow definition, has exactly those values
    sample = load_event(STATUS_CHANGE)
    assert [sample["source"]] == rule["EventPattern"]["source"]
    assert [sample["detail-type"]] == rule["EventPattern"]["detail-type"]
    assert "flowDefinitionArn" in sample["detail"]


def test_the_start_rule_matches_this_models_review_requests_on_the_pipeline_bus(synthesized: Synthesized) -> None:
    # Given the synthesized start rule
    rule = rule_with(synthesized, "custom-labels-pipeline")

    # Then it is on the pipeline's bus and selects this model's Review Requested events
    assert rule["EventBusName"] == {"Ref": _bus_id(synthesized)}
    assert rule["EventPattern"] == {
        "source": ["custom-labels-pipeline"],
        "detail-type": ["Custom Labels Review Requested"],
        "detail": {"model_name": [ids.MODEL]},
    }


def test_both_rules_retry_and_dead_letter_into_the_constructs_queue(synthesized: Synthesized) -> None:
    # Given both rules' targets
    targets = [t for r in synthesized.resources("AWS::Events::Rule").values() for t in r["Properties"]["Targets"]]

    # Then each has a retry policy and the dead-letter queue
    assert len(targets) == 2
    for target in targets:
        assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
        assert "DeadLetterConfig" in target


def test_start_human_loop_is_granted_on_the_flow_definition_only(synthesized: Synthesized) -> None:
    # Given every statement in the stack that allows sagemaker:StartHumanLoop
    granted = [
        s
        for policy in synthesized.resources("AWS::IAM::Policy").values()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if "sagemaker:StartHumanLoop" in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]

    # Then the start function's role and the role granted through the construct have it, on that ARN only
    assert len(granted) == 2
    assert all(s["Resource"] == FLOW_ARN and s["Effect"] == "Allow" for s in granted)
    assert any(s["Action"] == "sagemaker:StartHumanLoop" for s in synthesized.statements_of("OtherRole"))


def test_the_ingest_role_reads_only_the_flow_definitions_output_folder(synthesized: Synthesized) -> None:
    # Given the ingest role's statements
    statements = synthesized.statements_of("IngestRole")
    reads = [s for s in statements if "s3:GetObject" in s["Action"]]

    # Then S3 reads are limited to <output path>/<flow definition name>/*
    (read,) = reads
    assert read["Action"] == "s3:GetObject"
    assert read["Resource"] == {
        "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":s3:::{OUTPUT_BUCKET}/a2i/{FLOW_NAME}/*"]]
    }
    # and it never reads or writes anything else in S3, nor starts loops
    assert not [s for s in statements if s is not read and any("s3:" in a for a in _actions(s))]
    assert not [s for s in statements if "sagemaker:StartHumanLoop" in _actions(s)]


def test_the_ingest_role_writes_the_table_item_and_puts_events_on_the_bus_only(synthesized: Synthesized) -> None:
    # Given the ingest role's statements
    statements = synthesized.statements_of("IngestRole")

    # Then DynamoDB is GetItem/UpdateItem on the table itself (not its indexes), PutEvents on the bus
    (table,) = [s for s in statements if any(a.startswith("dynamodb:") for a in _actions(s))]
    assert sorted(_actions(table)) == ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    assert table["Resource"] == {"Fn::GetAtt": [_table_id(synthesized), "Arn"]}
    (put,) = [s for s in statements if "events:PutEvents" in _actions(s)]
    assert put["Resource"] == {"Fn::GetAtt": [_bus_id(synthesized), "Arn"]}


def test_the_functions_run_the_a2i_handlers_with_their_settings(synthesized: Synthesized) -> None:
    # Given the two functions
    functions = {
        f["Properties"]["Handler"]: f["Properties"] for f in synthesized.resources("AWS::Lambda::Function").values()
    }

    # Then their handlers exist and their environments carry what the settings models need
    assert set(functions) == {START_HANDLER, INGEST_HANDLER}
    for handler in functions:
        module, _, name = handler.rpartition(".")
        assert callable(getattr(importlib.import_module(module), name))
    start_env = functions[START_HANDLER]["Environment"]["Variables"]
    ingest_env = functions[INGEST_HANDLER]["Environment"]["Variables"]
    assert (start_env["MODEL_NAME"], start_env["FLOW_DEFINITION_ARN"]) == (ids.MODEL, FLOW_ARN)
    assert ingest_env["A2I_OUTPUT_S3_URI"] == OUTPUT_S3_URI
    assert {"RESULTS_TABLE", "EVENT_BUS_NAME", "MODEL_NAME", "FLOW_DEFINITION_ARN"} <= set(ingest_env)


def test_task_input_is_the_documented_contract() -> None:
    # The template contract names taskObject and predictions (docs/a2i.md); a rename would break user templates.
    assert {f.alias for f in TaskInput.model_fields.values()} >= {"taskObject"}
    assert set(TaskInput.model_fields) == {"task_object", "predictions", "result"}


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def _bus_id(synthesized: Synthesized) -> str:
    (bus_id,) = synthesized.resources("AWS::Events::EventBus")
    return bus_id


def _table_id(synthesized: Synthesized) -> str:
    (table_id,) = synthesized.resources("AWS::DynamoDB::GlobalTable")
    return table_id
