"""moto's Step Functions interpreter reaches the emulator through aws-sdk:rekognition tasks."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core.config import DefaultConfig

from localrun.clock import ManualClock
from localrun.emulator import CustomLabelsEmulator
from tests.support import ids
from tests.support.emulator import PROJECT_ARN, REGION, START_DELAY, VERSION_ARN

SFN_CONFIG: DefaultConfig = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
ROLE_ARN = f"arn:aws:iam::{ids.ACCOUNT}:role/custom-labels-controller"


@pytest.fixture
def sfn_emu(clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[CustomLabelsEmulator]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws(config=SFN_CONFIG), CustomLabelsEmulator(clock=clock, start_delay_seconds=START_DELAY) as emu:
        emu.add_model(project_arn=PROJECT_ARN, project_version_arn=VERSION_ARN)
        yield emu


def _task(action: str, parameters: dict[str, Any]) -> dict[str, Any]:
    return {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": f"arn:aws:states:::aws-sdk:rekognition:{action}",
                "Parameters": parameters,
                "End": True,
            }
        },
    }


def _execute(definition: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine = sfn.create_state_machine(
        name=f"sm-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=ROLE_ARN
    )
    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input=json.dumps(payload))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        if described["status"] != "RUNNING":
            return dict(described)
        time.sleep(0.02)
    raise AssertionError("execution did not finish within 10 s")


def test_describe_project_versions_task_is_answered_by_the_emulator(sfn_emu: CustomLabelsEmulator) -> None:
    # When a state machine describes the project through the aws-sdk integration
    result = _execute(_task("describeProjectVersions", {"ProjectArn.$": "$.project"}), {"project": PROJECT_ARN})
    # Then it succeeds with the emulator's description (timestamps as JSON strings)
    assert result["status"] == "SUCCEEDED"
    (desc,) = json.loads(result["output"])["ProjectVersionDescriptions"]
    assert (desc["ProjectVersionArn"], desc["Status"]) == (VERSION_ARN, "STOPPED")
    assert desc["CreationTimestamp"].startswith("2026-01-01T00:00:00")
    assert sfn_emu.calls["DescribeProjectVersions"] == 1


def test_start_project_version_task_starts_the_emulated_model(sfn_emu: CustomLabelsEmulator) -> None:
    # When a state machine starts the model
    definition = _task("startProjectVersion", {"ProjectVersionArn.$": "$.version", "MinInferenceUnits": 2})
    result = _execute(definition, {"version": VERSION_ARN})
    # Then the task output is the emulator's answer and the model is starting with 2 IUs
    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"]) == {"Status": "STARTING"}
    assert sfn_emu.status(VERSION_ARN) == "STARTING"
    assert sfn_emu.billing(VERSION_ARN).sessions[0].inference_units == 2


def test_service_errors_fail_the_task_with_moto_error_naming(sfn_emu: CustomLabelsEmulator) -> None:
    # Given a model already starting
    sfn_emu.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=1)
    # When a state machine starts it again
    result = _execute(_task("startProjectVersion", {"ProjectVersionArn": VERSION_ARN, "MinInferenceUnits": 1}), {})
    # Then the execution fails with the emulator's error; moto names it with the lower-case
    # service prefix ("rekognition."), where AWS Step Functions writes "Rekognition."
    assert result["status"] == "FAILED"
    assert result["error"] == "rekognition.ResourceInUseException"
    assert "Status Code: 400" in result["cause"]
