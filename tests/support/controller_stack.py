"""A tiny CDK stack built from the real constructs around one ModelController (the stack composer's wiring),
for the controller suite's template, IAM and cdk-nag tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from infra.config import PipelineConfig
from tests.support.harnesses import controller_config
from tests.support.ids import ACCOUNT, REGION


@dataclass
class SynthesizedController:
    template: dict[str, Any]
    config: PipelineConfig
    logical_ids: dict[str, str]
    """Logical ids of the scaffolding resources (queue, function, mapping, bus, table)."""


def build_test_stack(app: Any, config: PipelineConfig) -> tuple[Any, Any]:
    """The constructs the stack composer wires together, around one ModelController."""
    from aws_cdk import (
        CfnElement,
        Duration,
        Environment,
        Stack,
        aws_events as events,
        aws_lambda as lambda_,
        aws_sqs as sqs,
    )

    from infra.constructs.control_table import ControlTable
    from infra.constructs.controller import ModelController
    from infra.nag import acknowledge

    stack = Stack(app, "ControllerTest", env=Environment(account=ACCOUNT, region=REGION))
    model = config.models[0]
    dlq = sqs.Queue(stack, "DeadLetters", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True)
    queue = sqs.Queue(
        stack,
        "DetectQueue",
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        visibility_timeout=Duration.seconds(360),
        dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=5, queue=dlq),
    )
    function = lambda_.Function(
        stack,
        "Detect",
        runtime=lambda_.Runtime.PYTHON_3_13,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context):\n    return {}\n"),
    )
    queue.grant_consume_messages(function)
    mapping = lambda_.EventSourceMapping(
        stack, "Mapping", target=function, event_source_arn=queue.queue_arn, enabled=False, batch_size=10
    )
    bus = events.EventBus(stack, "Bus")
    control = ControlTable(stack, "Control")
    controller = ModelController(
        stack,
        "Controller",
        config=config,
        model=model,
        queue=queue,
        event_source_mapping_id=mapping.event_source_mapping_id,
        detect_function=function,
        control_table=control.table,
        event_bus=bus,
    )
    # Scaffolding only (the real detect function, queues and bus belong to other constructs).
    acknowledge(dlq, "AwsSolutions-SQS3", "Test scaffolding: this queue is the dead-letter queue.")
    acknowledge(
        function,
        "AwsSolutions-IAM4",
        "Test scaffolding: a stand-in for the detect function with CDK's default basic execution role.",
        applies_to=["Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"],
    )
    acknowledge(function, "AwsSolutions-L1", "Test scaffolding: a stand-in for the detect function.")

    def logical_id(construct: Any) -> str:
        return str(stack.get_logical_id(cast(CfnElement, construct.node.default_child)))

    ids = {
        "queue": logical_id(queue),
        "function": logical_id(function),
        "mapping": logical_id(mapping),
        "bus": logical_id(bus),
        "table": logical_id(control.table),
    }
    return stack, (controller, ids)


def synthesize_controller() -> SynthesizedController:
    from aws_cdk import App  # loading the CDK starts its jsii runtime: only where a stack is built
    from aws_cdk.assertions import Template

    config = controller_config()
    app = App()
    stack, (_controller, ids) = build_test_stack(app, config)
    template = dict(Template.from_stack(stack).to_json())
    return SynthesizedController(template=template, config=config, logical_ids=ids)
