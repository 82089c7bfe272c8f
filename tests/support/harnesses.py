"""The controller's test world: the REAL controller ASL executed by moto's Step Functions interpreter against
moto SQS / DynamoDB / EventBridge / Lambda / CloudWatch and the Custom Labels emulator, built by
:class:`localrun.world.World` (the offline runtime's builder), plus what a test drives and inspects.

moto adaptations (offline runtime and tests only; the deployed definition is never changed for moto) are
listed in ``localrun/moto_adapt.py``. Wait states and retries sleep in real time: executions pass
zero-second intervals as input (:data:`FAST`).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto import mock_aws

from infra.config import PipelineConfig, parse_config
from lambdas.common import contract
from localrun.clock import ManualClock
from localrun.emulator import CustomLabelsEmulator
from localrun.intercept import Interception, error_response
from localrun.moto_adapt import MOTO_CONFIG
from localrun.world import ModelResources, Names, World, adapt_moto
from tests.support.ids import MODEL, PREFIX, PROJECT_ARN, REGION, VERSION_ARN

# The controller suite's resource names (the operator-command suite's "deployed" manifest names them too).
NAMES = Names(
    bucket="clp-uploads-123456789012", results_table="clp-results", control_table="clp-control", bus="clp-events"
)
LOCK_KEY = {"pk": {"S": contract.model_pk(MODEL)}, "sk": {"S": contract.CONTROL_TABLE_LOCK_SK}}
CLEANUP_KEY = {"pk": {"S": contract.model_pk(MODEL)}, "sk": {"S": contract.CONTROL_TABLE_CLEANUP_SK}}

# Zero-second waits so that an execution takes milliseconds, not minutes.
FAST: dict[str, Any] = {
    "poll_interval_seconds": 0,
    "start_poll_interval_seconds": 0,
    "idle_grace_seconds": 0,
    "stop_timeout_seconds": 5,
    "start_timeout_seconds": 5,
    "max_runtime_seconds": 30,
}


def controller_config(**lifecycle: Any) -> PipelineConfig:
    """The controller suite's pipeline: one model (mode ``both``), lifecycle overrides applied."""
    return parse_config(
        {
            "resource_prefix": "clp",
            "price_per_inference_unit_hour": 4.0,
            "models": [
                {
                    "name": MODEL,
                    "project_arn": PROJECT_ARN,
                    "project_version_arn": VERSION_ARN,
                    "prefix": PREFIX,
                    "lifecycle": {
                        "mode": "both",
                        "schedules": [{"cron": "cron(0 2 * * ? *)", "timezone": "Europe/London"}],
                        **lifecycle,
                    },
                }
            ],
        }
    )


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

    def mapping_updates(self) -> list[bool]:
        """The ``Enabled`` value of every UpdateEventSourceMapping the execution scheduled, in order."""
        return [params["Enabled"] for params in self.task_parameters("updateEventSourceMapping")]


@dataclass
class ControllerHarness:
    """Everything one controller execution touches, plus helpers to drive and inspect it."""

    emulator: CustomLabelsEmulator
    clock: ManualClock
    config: PipelineConfig
    world: World
    resources: ModelResources
    event_queue_url: str
    sfn: Any = field(repr=False)
    sqs: Any = field(repr=False)
    ddb: Any = field(repr=False)
    lam: Any = field(repr=False)
    cloudwatch: Any = field(repr=False)

    @property
    def queue_url(self) -> str:
        return self.resources.queue_url

    @property
    def table_name(self) -> str:
        return self.world.names.control_table

    @property
    def esm_uuid(self) -> str:
        return self.resources.mapping_uuid

    @property
    def state_machine_arn(self) -> str:
        return self.resources.state_machine_arn

    @property
    def backlog_alarm_name(self) -> str:
        return self.resources.backlog_alarm_name

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
        output = described.get("output")
        return Execution(
            arn=execution_arn,
            status=described["status"],
            output=json.loads(output) if output else None,
            error=described.get("error"),
            cause=described.get("cause"),
            history=self.history(execution_arn),
            seconds=time.monotonic() - began,
        )

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        pages = self.sfn.get_paginator("get_execution_history").paginate(
            executionArn=execution_arn, PaginationConfig={"PageSize": 1000}
        )
        return [event for page in pages for event in page["events"]]

    def wait_for_state(self, execution_arn: str, state: str, timeout: float = 20.0) -> None:
        """Block until the running execution has entered ``state``."""
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            events = self.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
            if any(e.get("stateEnteredEventDetails", {}).get("name") == state for e in events):
                return
            time.sleep(0.01)
        raise AssertionError(f"execution never entered {state} within {timeout} s")

    def wait_for_lock(self, execution_arn: str, timeout: float = 20.0) -> None:
        """Block until a lock is held; fail (with the execution's end) if ``execution_arn`` ends first."""
        began = time.monotonic()
        while self.lock() is None:
            described = self.sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                raise AssertionError(f"execution ended {described['status']} before taking the lock: {described}")
            if time.monotonic() - began > timeout:
                raise AssertionError(f"no lock after {timeout} s")
            time.sleep(0.005)

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
            ExpressionAttributeValues={
                ":pk": {"S": contract.model_pk(MODEL)},
                ":s": {"S": contract.SESSION_SK_PREFIX},
            },
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

    def assert_lock_released(self) -> None:
        assert self.lock() is None


@contextmanager
def controller_harness(
    clock: ManualClock, emulator_options: dict[str, Any] | None = None, model_status: str = "STOPPED"
) -> Iterator[ControllerHarness]:
    """moto + the emulator + one model's world (queue, DLQ, mapping, control table, bus with an event capture,
    backlog alarm) and its controller. ``model_status`` ``ABSENT``: the project has no such version."""
    adapt_moto()
    config = controller_config()
    options: dict[str, Any] = {"start_delay_seconds": 0.0, "stop_delay_seconds": 0.0, **(emulator_options or {})}
    with mock_aws(config=MOTO_CONFIG), CustomLabelsEmulator(clock=clock, **options) as emulator:
        if model_status == "ABSENT":  # the project exists, the configured version not (deleted, or misnamed)
            emulator.add_model(
                project_arn=PROJECT_ARN, project_version_arn=VERSION_ARN.replace("2026-01-01", "2025-06-01")
            )
        else:
            emulator.add_model(project_arn=PROJECT_ARN, project_version_arn=VERSION_ARN, status=model_status)

        def client(service: str) -> Any:
            return boto3.client(service, region_name=REGION)  # type: ignore[call-overload]

        world = World(config, client, NAMES)
        world.create_control_table()
        world.create_bus()
        resources = world.create_model(config.models[0])
        event_queue_url = world.capture_events("captured-events")
        world.create_backlog_alarm(resources)
        world.create_controller(resources)
        yield ControllerHarness(
            emulator=emulator,
            clock=clock,
            config=config,
            world=world,
            resources=resources,
            event_queue_url=event_queue_url,
            sfn=client("stepfunctions"),
            sqs=client("sqs"),
            ddb=client("dynamodb"),
            lam=client("lambda"),
            cloudwatch=client("cloudwatch"),
        )


class MappingUpdateFailure(Interception):
    """Makes every lambda:UpdateEventSourceMapping call fail with ResourceNotFoundException (a deleted
    mapping). moto itself answers 200 for an unknown mapping UUID, so the failure is injected the way
    botocore's Stubber and the emulator answer calls: a ``before-call`` handler that reaches every session,
    including the ones moto's Step Functions interpreter creates."""

    def __init__(self) -> None:
        super().__init__("before-call.lambda.UpdateEventSourceMapping", self._answer)
        self.calls = 0

    def _answer(self, **_: Any) -> Any:
        self.calls += 1
        return error_response("ResourceNotFoundException", "The resource you requested does not exist.", 404)
