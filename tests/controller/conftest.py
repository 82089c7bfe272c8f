"""Fixtures for the model controller: the REAL controller ASL executed by moto's Step Functions
interpreter against moto SQS / DynamoDB / EventBridge / Lambda and the Custom Labels emulator,
plus a small CDK test stack built from the real constructs.

moto adaptations (test code only; the deployed definition is never changed for moto):
* moto 5.2 ships its JSONata interpreter without an evaluator: ``install_moto_jsonata`` plugs in
  jsonata-python (a port of the jsonata-java engine LocalStack/moto were written against).
* moto names aws-sdk errors with the lower-case service name (``rekognition.ThrottlingException``)
  where AWS uses PascalCase (``Rekognition.ThrottlingException``): ``moto_definition`` rewrites the
  ``ErrorEquals`` prefixes of aws-sdk services in the definition text before creating it in moto.
* Wait states and retries sleep in real time: executions pass zero-second intervals as input.
"""

from __future__ import annotations

import io
import json
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import boto3
import pytest
from botocore import handlers as botocore_handlers
from botocore.awsrequest import AWSResponse, HTTPHeaders
from moto import mock_aws

from infra import constants
from infra.config import PipelineConfig, parse_config
from infra.statemachines import (
    controller_definition,
    controller_substitutions,
    execution_timeout_seconds,
    substitute,
)
from localrun.moto_jsonata import install_moto_jsonata
from localrun.clock import ManualClock
from localrun.emulator import CustomLabelsEmulator
from localrun.moto_adapt import MOTO_CONFIG, install_sdk_field_names, moto_definition

REGION = "us-east-1"
ACCOUNT = "123456789012"
PROJECT_ARN = f"arn:aws:rekognition:{REGION}:{ACCOUNT}:project/produce-quality/1767225600000"
VERSION_ARN = (
    f"arn:aws:rekognition:{REGION}:{ACCOUNT}:project/produce-quality/version/"
    "produce-quality.2026-01-01T00.00.00/1767225600000"
)
MODEL = "produce-quality"
LOCK_KEY = {"pk": {"S": f"MODEL#{MODEL}"}, "sk": {"S": constants.CONTROL_TABLE_LOCK_SK}}
CLEANUP_KEY = {"pk": {"S": f"MODEL#{MODEL}"}, "sk": {"S": constants.CONTROL_TABLE_CLEANUP_SK}}

# Zero-second waits so that an execution takes milliseconds, not minutes.
FAST: dict[str, Any] = {
    "poll_interval_seconds": 0,
    "start_poll_interval_seconds": 0,
    "idle_grace_seconds": 0,
    "stop_timeout_seconds": 5,
    "start_timeout_seconds": 5,
    "max_runtime_seconds": 30,
}


def pipeline_config(**lifecycle: Any) -> PipelineConfig:
    """The test pipeline: one model, lifecycle overrides applied."""
    return parse_config(
        {
            "resource_prefix": "clp",
            "price_per_inference_unit_hour": 4.0,
            "models": [
                {
                    "name": MODEL,
                    "project_arn": PROJECT_ARN,
                    "project_version_arn": VERSION_ARN,
                    "prefix": "produce/",
                    "lifecycle": {
                        "mode": "both",
                        "schedules": [{"cron": "cron(0 2 * * ? *)", "timezone": "Europe/London"}],
                        **lifecycle,
                    },
                }
            ],
        }
    )


def _lambda_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return {'batchItemFailures': []}\n")
    return buffer.getvalue()


@dataclass
class Execution:
    arn: str
    status: str
    output: dict[str, Any] | None
    error: str | None
    cause: str | None
    history: list[dict[str, Any]]
    seconds: float

    def states_entered(self) -> list[str]:
        return [e["stateEnteredEventDetails"]["name"] for e in self.history if "stateEnteredEventDetails" in e]

    def task_parameters(self, resource: str) -> list[dict[str, Any]]:
        """Parameters of every scheduled task of ``resource`` (e.g. ``updateEventSourceMapping``), in order."""
        return [
            json.loads(e["taskScheduledEventDetails"]["parameters"])
            for e in self.history
            if e["type"] == "TaskScheduled" and e["taskScheduledEventDetails"]["resource"] == resource
        ]


@dataclass
class ControllerHarness:
    """Everything one controller execution touches, plus helpers to drive and inspect it."""

    emulator: CustomLabelsEmulator
    clock: ManualClock
    config: PipelineConfig
    queue_url: str
    event_queue_url: str
    table_name: str
    esm_uuid: str
    state_machine_arn: str
    backlog_alarm_name: str
    sfn: Any = field(repr=False)
    sqs: Any = field(repr=False)
    ddb: Any = field(repr=False)
    lam: Any = field(repr=False)
    cloudwatch: Any = field(repr=False)

    def start(self, **overrides: Any) -> str:
        payload = {**FAST, **overrides}
        response = self.sfn.start_execution(
            stateMachineArn=self.state_machine_arn, name=f"t-{uuid.uuid4().hex[:12]}", input=json.dumps(payload)
        )
        return str(response["executionArn"])

    def wait(self, execution_arn: str, timeout: float = 20.0) -> Execution:
        began = time.monotonic()
        while True:
            described = self.sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                break
            if time.monotonic() - began > timeout:
                raise AssertionError(f"execution still RUNNING after {timeout} s")
            time.sleep(0.01)
        history: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
            if token:
                kwargs["nextToken"] = token
            page = self.sfn.get_execution_history(**kwargs)
            history.extend(page["events"])
            token = page.get("nextToken")
            if not token:
                break
        output = described.get("output")
        return Execution(
            arn=execution_arn,
            status=described["status"],
            output=json.loads(output) if output else None,
            error=described.get("error"),
            cause=described.get("cause"),
            history=history,
            seconds=time.monotonic() - began,
        )

    def wait_for_state(self, execution_arn: str, state: str, timeout: float = 5.0) -> None:
        """Block until the running execution has entered ``state``."""
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            events = self.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
            if any(e.get("stateEnteredEventDetails", {}).get("name") == state for e in events):
                return
            time.sleep(0.01)
        raise AssertionError(f"execution never entered {state} within {timeout} s")

    def run(self, **overrides: Any) -> Execution:
        return self.wait(self.start(**overrides))

    # -- state of the world ------------------------------------------------------------------

    def send(self, count: int) -> None:
        for index in range(count):
            self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps({"n": index}))

    def purge(self) -> int:
        """Consume every message as the detect Lambda would (receive + delete); return how many."""
        consumed = 0
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return consumed
            for message in messages:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            consumed += len(messages)

    def depth(self) -> int:
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["All"])["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def mapping_enabled(self) -> bool:
        return bool(self.lam.get_event_source_mapping(UUID=self.esm_uuid)["State"] == "Enabled")

    def lock(self) -> dict[str, Any] | None:
        item = self.ddb.get_item(TableName=self.table_name, Key=LOCK_KEY, ConsistentRead=True).get("Item")
        return dict(item) if item else None

    def put_lock(self, owner: str, expires_at: int, *, model_owned: bool = False) -> None:
        self.ddb.put_item(
            TableName=self.table_name,
            Item={
                **LOCK_KEY,
                "owner": {"S": owner},
                "expires_at": {"N": str(expires_at)},
                "model_owned": {"BOOL": model_owned},
            },
        )

    def delete_lock(self) -> None:
        """What DynamoDB TTL does, at any time after ``expires_at``."""
        self.ddb.delete_item(TableName=self.table_name, Key=LOCK_KEY)

    def cleanup_marker(self) -> dict[str, Any] | None:
        item = self.ddb.get_item(TableName=self.table_name, Key=CLEANUP_KEY, ConsistentRead=True).get("Item")
        return dict(item) if item else None

    def put_cleanup_marker(self, owner: str, *, model_owned: bool = False, mapping_enabled: bool = False) -> None:
        """The marker as MarkOwned / MarkMapping leave it."""
        item: dict[str, Any] = {**CLEANUP_KEY, "owner": {"S": owner}, "marked_at": {"S": "2026-12-01T00:00:00.000Z"}}
        if model_owned:
            item["model_owned"] = {"BOOL": True}
        if mapping_enabled:
            item["mapping_enabled"] = {"BOOL": True}
        self.ddb.put_item(TableName=self.table_name, Item=item)

    def ledger(self) -> list[dict[str, Any]]:
        items = self.ddb.query(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :s)",
            ExpressionAttributeValues={":pk": {"S": f"MODEL#{MODEL}"}, ":s": {"S": "SESSION#"}},
        )["Items"]
        return [dict(item) for item in items]

    def events(self) -> list[dict[str, Any]]:
        received: list[dict[str, Any]] = []
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.event_queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not messages:
                return received
            for message in messages:
                received.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.event_queue_url, ReceiptHandle=message["ReceiptHandle"])

    def set_backlog_alarm(self, state: str) -> None:
        self.cloudwatch.set_alarm_state(AlarmName=self.backlog_alarm_name, StateValue=state, StateReason="test")


class MappingUpdateFailure:
    """Makes every lambda:UpdateEventSourceMapping call fail with ResourceNotFoundException (a deleted
    mapping). moto itself answers 200 for an unknown mapping UUID, so the failure is injected the way
    botocore's Stubber and the emulator answer calls: a ``before-call`` handler registered for every
    session, including the ones moto's Step Functions interpreter creates."""

    EVENT = "before-call.lambda.UpdateEventSourceMapping"

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        self.calls += 1
        error = {"Code": "ResourceNotFoundException", "Message": "The resource you requested does not exist."}
        metadata = {"HTTPStatusCode": 404, "RequestId": uuid.uuid4().hex}
        return AWSResponse("", 404, HTTPHeaders(), None), {"Error": error, "ResponseMetadata": metadata}

    def __enter__(self) -> MappingUpdateFailure:
        handler: Any = self  # botocore's stubs type handlers as returning None; before-call ones return a response
        botocore_handlers.BUILTIN_HANDLERS.append((self.EVENT, handler))
        if boto3.DEFAULT_SESSION is not None:
            boto3.DEFAULT_SESSION._session.register(self.EVENT, handler)
        return self

    def __exit__(self, *_: object) -> None:
        handler: Any = self
        botocore_handlers.BUILTIN_HANDLERS.remove((self.EVENT, handler))
        if boto3.DEFAULT_SESSION is not None:
            boto3.DEFAULT_SESSION._session.unregister(self.EVENT, handler)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def emulator_options() -> dict[str, Any]:
    """Override per test (indirect) to change start/stop delays or faults."""
    return {}


@pytest.fixture
def model_status() -> str:
    """The emulated model's status when the test begins (``ABSENT``: the project has no such version)."""
    return "STOPPED"


@pytest.fixture
def harness(
    monkeypatch: pytest.MonkeyPatch, clock: ManualClock, emulator_options: dict[str, Any], model_status: str
) -> Iterator[ControllerHarness]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    install_moto_jsonata()
    install_sdk_field_names()
    config = pipeline_config()
    model = config.models[0]
    options: dict[str, Any] = {"start_delay_seconds": 0.0, "stop_delay_seconds": 0.0, **emulator_options}
    with mock_aws(config=MOTO_CONFIG), CustomLabelsEmulator(clock=clock, **options) as emulator:
        if model_status == "ABSENT":  # the project exists, the configured version not (deleted, or misnamed)
            emulator.add_model(
                project_arn=PROJECT_ARN, project_version_arn=VERSION_ARN.replace("2026-01-01", "2025-06-01")
            )
        else:
            emulator.add_model(project_arn=PROJECT_ARN, project_version_arn=VERSION_ARN, status=model_status)
        sqs = boto3.client("sqs", region_name=REGION)
        ddb = boto3.client("dynamodb", region_name=REGION)
        events = boto3.client("events", region_name=REGION)
        lam = boto3.client("lambda", region_name=REGION)
        iam = boto3.client("iam", region_name=REGION)
        sfn = boto3.client("stepfunctions", region_name=REGION)
        cloudwatch = boto3.client("cloudwatch", region_name=REGION)

        queue_url = sqs.create_queue(QueueName="clp-produce-quality-detect")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        table_name = "clp-control"
        ddb.create_table(
            TableName=table_name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        bus_name = "clp-events"
        events.create_event_bus(Name=bus_name)
        event_queue_url = sqs.create_queue(QueueName="captured-events")["QueueUrl"]
        event_queue_arn = sqs.get_queue_attributes(QueueUrl=event_queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(
            Name="capture", EventBusName=bus_name, EventPattern=json.dumps({"source": ["custom-labels-pipeline"]})
        )
        events.put_targets(Rule="capture", EventBusName=bus_name, Targets=[{"Id": "q", "Arn": event_queue_arn}])

        role_arn = iam.create_role(
            RoleName="detect-role",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )["Role"]["Arn"]
        lam.create_function(
            FunctionName="clp-produce-quality-detect",
            Runtime="python3.13",
            Role=role_arn,
            Handler="index.handler",
            Code={"ZipFile": _lambda_zip()},
        )
        esm_uuid = lam.create_event_source_mapping(
            EventSourceArn=queue_arn, FunctionName="clp-produce-quality-detect", Enabled=False, BatchSize=10
        )["UUID"]

        backlog_alarm_name = "clp-produce-quality-backlog"
        cloudwatch.put_metric_alarm(
            AlarmName=backlog_alarm_name,
            Namespace="AWS/SQS",
            MetricName="ApproximateNumberOfMessagesVisible",
            Dimensions=[{"Name": "QueueName", "Value": "clp-produce-quality-detect"}],
            Statistic="Maximum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=100,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )

        substitutions = controller_substitutions(
            config,
            model,
            queue_url=queue_url,
            event_source_mapping_id=esm_uuid,
            control_table_name=table_name,
            event_bus_name=bus_name,
            backlog_alarm_name=backlog_alarm_name,
        )
        definition = substitute(controller_definition(execution_timeout_seconds(model.lifecycle)), substitutions)
        state_machine_arn = sfn.create_state_machine(
            name="clp-produce-quality-controller",
            definition=moto_definition(definition),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/controller",
        )["stateMachineArn"]

        yield ControllerHarness(
            emulator=emulator,
            clock=clock,
            config=config,
            queue_url=queue_url,
            event_queue_url=event_queue_url,
            table_name=table_name,
            esm_uuid=esm_uuid,
            state_machine_arn=state_machine_arn,
            backlog_alarm_name=backlog_alarm_name,
            sfn=sfn,
            sqs=sqs,
            ddb=ddb,
            lam=lam,
            cloudwatch=cloudwatch,
        )


# -- CDK: a tiny stack built from the real constructs --------------------------------------------


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


@pytest.fixture(scope="session")
def synthesized() -> SynthesizedController:
    """Synthesized once per session: the first synth takes seconds, reading the template milliseconds."""
    from aws_cdk import App
    from aws_cdk.assertions import Template

    config = pipeline_config()
    app = App()
    stack, (_controller, ids) = build_test_stack(app, config)
    template = dict(Template.from_stack(stack).to_json())
    return SynthesizedController(template=template, config=config, logical_ids=ids)
