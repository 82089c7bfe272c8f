"""The controller ASL file itself: valid, integrations-only, every path past the lock cleans up, and
the definition CDK deploys is exactly the file with its substitutions."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonata
import pytest

from infra import constants
from infra.config import PipelineConfig
from infra.statemachines import (
    CONTROLLER_DEFINITION_PATH,
    DefinitionError,
    controller_definition,
    controller_substitutions,
    execution_timeout_seconds,
    placeholders,
    substitute,
)
from localrun.moto_adapt import moto_definition
from tests.support.controller_stack import SynthesizedController
from tests.support.harnesses import controller_config

ROOT = Path(__file__).resolve().parents[2]
OPTIMIZED = {
    "arn:aws:states:::dynamodb:getItem",
    "arn:aws:states:::dynamodb:putItem",
    "arn:aws:states:::dynamodb:updateItem",
    "arn:aws:states:::dynamodb:deleteItem",
    "arn:aws:states:::events:putEvents",
}
AWS_SDK = {
    "arn:aws:states:::aws-sdk:rekognition:startProjectVersion",
    "arn:aws:states:::aws-sdk:rekognition:stopProjectVersion",
    "arn:aws:states:::aws-sdk:rekognition:describeProjectVersions",
    "arn:aws:states:::aws-sdk:lambda:updateEventSourceMapping",
    "arn:aws:states:::aws-sdk:sqs:getQueueAttributes",
    "arn:aws:states:::aws-sdk:cloudwatch:describeAlarms",
    "arn:aws:states:::aws-sdk:sfn:describeExecution",
}


def _definition() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(CONTROLLER_DEFINITION_PATH.read_text(encoding="utf-8"))
    return document


def _successors(state: dict[str, Any]) -> set[str]:
    nexts = {state.get("Next"), state.get("Default")}
    nexts |= {choice["Next"] for choice in state.get("Choices", [])}
    nexts |= {catcher["Next"] for catcher in state.get("Catch", [])}
    return {name for name in nexts if name}


def _reachable(states: dict[str, Any], start: str, *, without: str | None = None) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen or name == without:
            continue
        seen.add(name)
        todo.extend(_successors(states[name]))
    return seen


def test_definition_uses_only_sdk_and_optimized_integrations_with_retry_and_catch() -> None:
    # Given the definition file
    definition = _definition()
    tasks = {name: s for name, s in definition["States"].items() if s["Type"] == "Task"}

    # Then it is JSONata throughout, calls no Lambda, and every task retries and catches
    assert definition["QueryLanguage"] == "JSONata"
    assert not any("QueryLanguage" in state for state in definition["States"].values())
    assert {task["Resource"] for task in tasks.values()} == OPTIMIZED | AWS_SDK
    for name, task in tasks.items():
        assert task.get("Catch"), f"{name} has no Catch"
        # DescribeAlarms models no throttling or server error to retry (botocore: only InvalidNextToken); the
        # re-check fails loudly instead and the next one is minutes away.
        # DescribeExecution neither (its only throttling error is KMS's): a failed look at the lock's holder
        # leaves the lock to it (LockHeld), as before the look.
        assert task.get("Retry") or name in {"CheckBacklog", "DescribeHolder"}, f"{name} has no Retry"
    aws_sdk_errors = {
        error
        for task in tasks.values()
        if ":aws-sdk:" in task["Resource"]
        for retrier in task.get("Retry", [])
        for error in retrier["ErrorEquals"]
    }
    # AWS spells aws-sdk errors <Service>.<Error>Exception in PascalCase (moto's lower case is a test adaptation)
    assert all(re.match(r"^(Rekognition|Lambda|Sqs|CloudWatch|Sfn)\.[A-Z]\w+Exception$", e) for e in aws_sdk_errors)
    assert "Rekognition.ThrottlingException" in aws_sdk_errors
    assert "Lambda.TooManyRequestsException" in aws_sdk_errors


# Optimized integrations: the service prefix Step Functions gives their errors, and the botocore service.
_OPTIMIZED_SERVICES = {"dynamodb": ("DynamoDB", "dynamodb"), "events": ("EventBridge", "events")}
# aws-sdk integrations: Step Functions' prefix for each service of the definition (AWS docs, "AWS SDK
# service integrations": errors are <Service>.<Exception class>).
_SDK_PREFIXES = {
    "rekognition": ("Rekognition", "rekognition"),
    "lambda": ("Lambda", "lambda"),
    "sqs": ("Sqs", "sqs"),
    "cloudwatch": ("CloudWatch", "cloudwatch"),
    "sfn": ("Sfn", "stepfunctions"),
}
# Step Functions' own names, documented by the integration rather than by the service model.
_INTEGRATION_ERRORS = {"EventBridge.FailedEntry"}
# Errors a retry must never name: the SDKs' base classes, which also cover validation and access denied.
_BASE_CLASSES = re.compile(
    r"\.(Amazon\w+Exception|RekognitionException|LambdaException|SqsException|CloudWatchException)$"
)
# What "retryable" means here: throttling and server-side errors, as the service models list them.
_RETRYABLE = re.compile(
    r"(Throttl|ThroughputExceeded|RequestLimitExceeded|TooManyRequests|^Internal|ServiceException|ResourceInUse|ResourceConflict)"
)


def _botocore_errors(resource: str) -> tuple[str, set[str]]:
    """Step Functions error names for every error shape botocore models for ``resource``'s operation."""
    import botocore.session

    session = botocore.session.get_session()
    if ":aws-sdk:" in resource:
        short, action = resource.split(":aws-sdk:")[1].split(":")
        prefix, service = _SDK_PREFIXES[short]
    else:
        short, action = resource.split(":::")[1].split(":")
        prefix, service = _OPTIMIZED_SERVICES[short]
    model = session.get_service_model(service)
    operation = model.operation_model(action[0].upper() + action[1:])
    # The Java exception class of a modeled error: the shape name, with "Exception" appended when missing.
    names = {
        shape.name if shape.name.endswith("Exception") else f"{shape.name}Exception" for shape in operation.error_shapes
    }
    return prefix, {f"{prefix}.{name}" for name in names}


def test_retries_name_only_retryable_errors_the_service_models_list() -> None:
    # Given every Retry of the definition
    tasks = {name: s for name, s in _definition()["States"].items() if s["Type"] == "Task"}
    for name, task in tasks.items():
        _, modeled = _botocore_errors(task["Resource"])
        for retrier in task.get("Retry", []):
            for error in retrier["ErrorEquals"]:
                # Then each is an error the operation can return (botocore's model), or the integration's own ...
                assert error in modeled | _INTEGRATION_ERRORS, f"{name} retries {error}, not an error of its operation"
                # ... never a catch-all base class, and only throttling / server-side errors
                assert not _BASE_CLASSES.search(error), f"{name} retries the base class {error}"
                assert error in _INTEGRATION_ERRORS or _RETRYABLE.search(error.split(".", 1)[1]), (
                    f"{name} retries {error}, which is not a throttling or server-side error"
                )
    # and every service error a Catch names is one its operation can return (States.* are Step Functions' own)
    for name, task in tasks.items():
        _, modeled = _botocore_errors(task["Resource"])
        for catcher in task.get("Catch", []):
            for error in catcher["ErrorEquals"]:
                assert error.startswith("States.") or error in modeled, f"{name} catches {error}, never returned"


def test_every_path_past_the_lock_goes_through_teardown() -> None:
    # Given the state graph
    states = _definition()["States"]
    terminal = {name for name, s in states.items() if s["Type"] in ("Succeed", "Fail")}

    # When BeginTeardown is removed, nothing after the lock can end the execution ...
    after_lock = _reachable(states, "DescribeInitial", without="BeginTeardown")
    assert not after_lock & terminal
    # ... so every end past the lock runs disable-mapping / stop / ledger / release first
    teardown = _reachable(states, "BeginTeardown")
    assert {"DisableMapping", "StopModel", "WriteLedger", "SettleCleanup", "DropCleanup", "ReleaseLock"} <= teardown
    # and the exits before the lock have no side effect: they only read (the backlog alarm, the cleanup marker)
    before_lock = _reachable(states, "Init", without="AcquireLock")
    resources = {states[name].get("Resource", "") for name in before_lock} - {""}
    assert resources == {
        "arn:aws:states:::aws-sdk:cloudwatch:describeAlarms",
        "arn:aws:states:::dynamodb:getItem",
    }


def test_failed_executions_end_in_a_fail_state_the_alarm_can_see() -> None:
    states = _definition()["States"]
    # The only Fail state is reached from the end of teardown and from errors before any side effect
    fails = [name for name, s in states.items() if s["Type"] == "Fail"]
    assert fails == ["Failed"]
    predecessors = {name for name, s in states.items() if "Failed" in _successors(s)}
    assert predecessors == {"Finish", "CheckBacklog", "LookForCleanup", "ReleaseLockAfterError"}


def test_asl_validator_accepts_the_definition() -> None:
    # The Makefile runs `npm ci`; without node_modules there is nothing to run.
    validator = ROOT / "node_modules" / ".bin" / "asl-validator"
    if not validator.exists() or shutil.which("node") is None:
        pytest.skip("node_modules/.bin/asl-validator absent: run `npm ci` (asl-validator 4.0.0 is a dev dependency)")
    # asl-validator 4 takes the file with --json-path (it has no --json-definition-file option)
    result = subprocess.run(
        [str(validator), "--json-path", str(CONTROLLER_DEFINITION_PATH)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid" in result.stdout


def _substitutions(config: PipelineConfig, *, backlog_alarm_name: str) -> dict[str, str]:
    """The first model's substitutions with stand-in resource names."""
    return controller_substitutions(
        config,
        config.models[0],
        queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/q",
        event_source_mapping_id="uuid",
        control_table_name="table",
        event_bus_name="bus",
        backlog_alarm_name=backlog_alarm_name,
    )


def test_placeholders_and_substitutions_match_exactly() -> None:
    config = controller_config()
    values = _substitutions(config, backlog_alarm_name="alarm")
    text = CONTROLLER_DEFINITION_PATH.read_text(encoding="utf-8")
    assert placeholders(text) == set(values)
    rendered = json.loads(substitute(text, values))
    assert not placeholders(json.dumps(rendered))
    with pytest.raises(DefinitionError, match="without value"):
        substitute(text, {k: v for k, v in values.items() if k != "QueueUrl"})
    with pytest.raises(DefinitionError, match="without placeholder"):
        substitute(text, {**values, "Extra": "x"})
    with pytest.raises(DefinitionError, match="quote"):
        substitute(text, {**values, "ModelName": "it's"})


def test_numeric_defaults_come_from_the_lifecycle_config() -> None:
    config = controller_config(idle_grace_seconds=120, max_runtime_minutes=60, lock_ttl_minutes=150)
    values = _substitutions(config, backlog_alarm_name="")
    assert values["IdleGraceSeconds"] == "120"
    assert values["MaxRuntimeSeconds"] == "3600"
    assert values["LockTtlSeconds"] == "9000"
    assert values["StopTimeoutSeconds"] == str(constants.CONTROLLER_STOP_TIMEOUT_MINUTES * 60)
    assert values["PricePerInferenceUnitHour"] == "4.0"
    assert execution_timeout_seconds(config.models[0].lifecycle) == 9000


def test_without_a_backlog_alarm_the_screen_never_checks_one() -> None:
    # Given a model without a backlog alarm (mode scheduled)
    config = controller_config()
    values = _substitutions(config, backlog_alarm_name="")

    # Then the definition gets the non-empty sentinel, and the Screen's backlog condition compares against it
    assert values["BacklogAlarmName"] == constants.NO_BACKLOG_ALARM
    document = json.loads(substitute(CONTROLLER_DEFINITION_PATH.read_text(encoding="utf-8"), values))
    [check] = [c for c in document["States"]["Screen"]["Choices"] if c["Next"] == "CheckBacklog"]
    expression = jsonata.Jsonata(check["Condition"].removeprefix("{%").removesuffix("%}"))
    expression.assign("cfg", {"require_backlog": True})
    assert expression.evaluate({}) is False


def test_synthesized_definition_is_the_file_with_substitutions(synthesized_controller: SynthesizedController) -> None:
    # Given the state machine CDK synthesized
    machine = next(
        r["Properties"]
        for r in synthesized_controller.template["Resources"].values()
        if r["Type"] == "AWS::StepFunctions::StateMachine"
    )
    deployed = machine["DefinitionString"]
    values = machine["DefinitionSubstitutions"]
    ids = synthesized_controller.logical_ids

    # Then the token-valued substitutions point at the right resources
    refs = {name: value["Ref"] for name, value in values.items() if isinstance(value, dict)}
    assert refs["QueueUrl"] == ids["queue"]
    assert refs["EventSourceMappingId"] == ids["mapping"]
    assert refs["ControlTableName"] == ids["table"]
    assert refs["EventBusName"] == ids["bus"]
    assert refs["BacklogAlarmName"].startswith("ControllerBacklogAlarm")

    # ... and, resolved, the deployed definition equals the file with the same substitutions
    resolved = {name: (f"<{value['Ref']}>" if isinstance(value, dict) else value) for name, value in values.items()}
    model = synthesized_controller.config.models[0]
    expected_values = controller_substitutions(
        synthesized_controller.config,
        model,
        queue_url=f"<{ids['queue']}>",
        event_source_mapping_id=f"<{ids['mapping']}>",
        control_table_name=f"<{ids['table']}>",
        event_bus_name=f"<{ids['bus']}>",
        backlog_alarm_name=resolved["BacklogAlarmName"],
    )
    assert resolved == expected_values
    from_template = json.loads(substitute(deployed, resolved))
    from_file = json.loads(substitute(CONTROLLER_DEFINITION_PATH.read_text(encoding="utf-8"), expected_values))
    timeout = execution_timeout_seconds(model.lifecycle)
    assert from_template == {**from_file, "TimeoutSeconds": timeout}
    assert deployed == controller_definition(timeout)


def test_moto_adaptation_rewrites_only_aws_sdk_error_prefixes() -> None:
    text = CONTROLLER_DEFINITION_PATH.read_text(encoding="utf-8")
    adapted = moto_definition(text)
    changed = {
        (before, after)
        for before, after in zip(text.splitlines(), adapted.splitlines(), strict=True)
        if before != after
    }
    assert changed, "expected PascalCase aws-sdk error names to rewrite"
    for before, after in changed:
        assert before.lower() == after.lower()
        assert re.search(r'"(Rekognition|Lambda|Sqs|CloudWatch)\.', before)
    # Optimized integrations keep their names (moto spells them as AWS does)
    assert '"DynamoDB.ConditionalCheckFailedException"' in adapted
    assert '"EventBridge.FailedEntry"' in adapted


def test_docs_describe_every_lifecycle_setting_and_input_field() -> None:
    from infra.config import Lifecycle

    docs = (ROOT / "docs" / "controller.md").read_text(encoding="utf-8")
    for name in Lifecycle.model_fields:
        assert f"`{name}`" in docs, f"docs/controller.md does not describe Lifecycle.{name}"
    config_expression = _definition()["States"]["Init"]["Assign"]["cfg"]
    for field in re.findall(r"\$(?:int|time)\('([a-z_]+)'", config_expression):
        assert f"`{field}`" in docs, f"docs/controller.md does not describe the input field {field}"


@pytest.mark.parametrize(
    ("state", "result_key"),
    [("CheckStopRequest", "stop_requested"), ("AcquireLock", "model_owned"), ("ReadCleanup", "model_owned")],
)
def test_boolean_reads_accept_the_api_and_the_java_sdk_spelling(state: str, result_key: str) -> None:
    # Given a state that reads a DynamoDB boolean from its task result: optimized integrations return the
    # API's BOOL, aws-sdk ones the Java SDK v2's Bool
    assign = _definition()["States"][state]["Assign"]
    variable = {"CheckStopRequest": "stop_request", "AcquireLock": "inherited", "ReadCleanup": "inherited"}[state]
    container = "Item" if state == "ReadCleanup" else "Attributes"
    expression = jsonata.Jsonata(assign[variable].removeprefix("{%").removesuffix("%}"))

    def evaluate(value: Any) -> Any:
        expression.assign("states", {"result": {container: {result_key: value}} if value is not None else {}})
        expression.assign("inherited", False)
        return expression.evaluate({})

    # Then both spellings of true read as true, and false or absent as false
    assert evaluate({"BOOL": True}) is True
    assert evaluate({"Bool": True}) is True
    assert evaluate({"BOOL": False}) is False
    assert evaluate(None) is False
