"""The CDK side: control table, one least-privilege role, logs, alarms, triggers per lifecycle mode,
cdk-nag, and the cron arithmetic behind the lead time."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra import constants
from infra.config import ConfigError
from infra.constructs.controller import _alarm_window, shift_cron
from tests.support.controller_stack import SynthesizedController, build_test_stack
from tests.support.harnesses import controller_config
from tests.support.ids import ACCOUNT, PROJECT_ARN, REGION, VERSION_ARN


def _resources(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def _only(template: dict[str, Any], resource_type: str, prefix: str = "") -> dict[str, Any]:
    (resource,) = [v for k, v in _resources(template, resource_type).items() if k.startswith(prefix)]
    return resource


def _synth(**lifecycle: Any) -> dict[str, Any]:
    from aws_cdk import App
    from aws_cdk.assertions import Template

    stack, _ = build_test_stack(App(), controller_config(**lifecycle))
    template: dict[str, Any] = dict(Template.from_stack(stack).to_json())
    return template


# -- control table ------------------------------------------------------------------------------


def test_control_table_is_on_demand_recoverable_encrypted_retained_with_ttl(
    synthesized_controller: SynthesizedController,
) -> None:
    table = _only(synthesized_controller.template, "AWS::DynamoDB::Table")
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert {a["AttributeType"] for a in props["AttributeDefinitions"]} == {"S"}
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")


# -- state machine and role ---------------------------------------------------------------------


def test_state_machine_is_standard_logged_traced_and_bounded(synthesized_controller: SynthesizedController) -> None:
    props = _only(synthesized_controller.template, "AWS::StepFunctions::StateMachine")["Properties"]
    assert props["StateMachineType"] == "STANDARD"
    assert props["StateMachineName"] == "clp-produce-quality-controller"
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["TracingConfiguration"] == {"Enabled": True}
    # No execution can outlive its lock: TimeoutSeconds == lock TTL, derived (none configured) to cover start
    # timeout 45 + max runtime 240 + stop timeout 15 min + one poll of each loop (30 s, 2 x 30 s) + 10 min for
    # retries: 18,690 s, rounded up to whole minutes
    assert json.loads(props["DefinitionString"])["TimeoutSeconds"] == 312 * 60
    log_group = _only(synthesized_controller.template, "AWS::Logs::LogGroup")["Properties"]
    assert log_group["LogGroupName"]["Fn::Join"][1][0] == "/aws/vendedlogs/states/clp-produce-quality-controller-"
    assert log_group["RetentionInDays"] == synthesized_controller.config.log_retention_days


def test_controller_role_is_scoped_to_exact_resources(synthesized_controller: SynthesizedController) -> None:
    template = synthesized_controller.template
    ids = synthesized_controller.logical_ids
    role = _only(template, "AWS::IAM::Role", "ControllerRole")["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "states.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}

    policy = _only(template, "AWS::IAM::Policy", "ControllerRoleDefaultPolicy")["Properties"]
    statements = {s.get("Sid", "wildcard:" + str(s["Action"])): s for s in policy["PolicyDocument"]["Statement"]}
    assert statements["StartStopTheModelVersion"]["Resource"] == VERSION_ARN
    assert statements["StartStopTheModelVersion"]["Action"] == [
        "rekognition:StartProjectVersion",
        "rekognition:StopProjectVersion",
    ]
    assert statements["DescribeTheProjectVersions"]["Resource"] == PROJECT_ARN
    mapping = statements["ToggleTheDetectMapping"]
    assert mapping["Action"] == "lambda:UpdateEventSourceMapping"
    assert mapping["Resource"]["Fn::Join"][1][-2:] == [
        f":lambda:us-east-1:{ACCOUNT}:event-source-mapping:",
        {"Ref": ids["mapping"]},
    ]
    assert mapping["Condition"] == {"StringEquals": {"lambda:FunctionArn": {"Fn::GetAtt": [ids["function"], "Arn"]}}}
    assert statements["ReadQueueDepth"]["Resource"] == {"Fn::GetAtt": [ids["queue"], "Arn"]}
    table = statements["LockAndLedgerOfThisModelOnly"]
    assert table["Resource"] == {"Fn::GetAtt": [ids["table"], "Arn"]}
    assert table["Condition"] == {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["MODEL#produce-quality"]}}
    assert statements["PublishModelEvents"]["Resource"] == {"Fn::GetAtt": [ids["bus"], "Arn"]}
    assert statements["ReadTheBacklogAlarm"]["Action"] == "cloudwatch:DescribeAlarms"
    holder = statements["DescribeOwnExecutions"]
    assert holder["Action"] == "states:DescribeExecution"
    assert (
        holder["Resource"]["Fn::Join"][1][-1]
        == f":states:{REGION}:{ACCOUNT}:execution:clp-produce-quality-controller:*"
    )
    # The only "*" resources are log delivery and X-Ray, which have no resource-level permissions
    wildcard_actions = {
        action for s in policy["PolicyDocument"]["Statement"] if s["Resource"] == "*" for action in s["Action"]
    }
    assert wildcard_actions and all(a.startswith(("logs:", "xray:")) for a in wildcard_actions)


# -- alarms -------------------------------------------------------------------------------------


def test_alarms_watch_failed_executions_and_a_model_running_too_long(
    synthesized_controller: SynthesizedController,
) -> None:
    template = synthesized_controller.template
    failed = _only(template, "AWS::CloudWatch::Alarm", "ControllerFailedAlarm")["Properties"]
    names = {m["MetricStat"]["Metric"]["MetricName"] for m in failed["Metrics"] if "MetricStat" in m}
    assert names == {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"}
    assert (failed["Threshold"], failed["TreatMissingData"]) == (1, "notBreaching")

    running = _only(template, "AWS::CloudWatch::Alarm", "ControllerRunningTooLongAlarm")["Properties"]
    assert (running["Namespace"], running["MetricName"]) == ("AWS/Rekognition", "InServiceInferenceUnits")
    assert {d["Name"]: d["Value"] for d in running["Dimensions"]} == {
        "ProjectName": "produce-quality",
        "VersionName": "produce-quality.2026-01-01T00.00.00",
    }
    # max runtime 240 min + 15 min stop timeout, in 5-minute periods, every one of them in service
    assert (running["Period"], running["EvaluationPeriods"], running["DatapointsToAlarm"]) == (300, 51, 51)
    assert (running["ComparisonOperator"], running["Threshold"]) == ("GreaterThanThreshold", 0)


def test_alarm_window_stays_within_one_day() -> None:
    assert _alarm_window(255) == (5, 51)
    assert _alarm_window(24 * 60 + 15) == (5, 288)  # clamped to CloudWatch's one-day evaluation range


# -- triggers per lifecycle mode -----------------------------------------------------------------


def test_window_schedule_fires_lead_minutes_early_in_the_configured_time_zone(
    synthesized_controller: SynthesizedController,
) -> None:
    (window,) = [
        v["Properties"]
        for k, v in _resources(synthesized_controller.template, "AWS::Scheduler::Schedule").items()
        if k.startswith("ControllerWindow")
    ]
    assert window["ScheduleExpression"] == "cron(50 1 * * ? *)"  # 02:00 window, 10 min lead
    assert window["ScheduleExpressionTimezone"] == "Europe/London"
    assert window["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert json.loads(window["Target"]["Input"]) == {
        "trigger": "schedule",
        "window_anchor": "<aws.scheduler.scheduled-time>",
        "window_seconds": (10 + 120) * 60,
    }


def test_backlog_alarm_rule_and_recheck_start_the_controller(synthesized_controller: SynthesizedController) -> None:
    template = synthesized_controller.template
    alarm = _only(template, "AWS::CloudWatch::Alarm", "ControllerBacklogAlarm")["Properties"]
    (expression,) = [m["Expression"] for m in alarm["Metrics"] if "Expression" in m]
    # 100 visible messages, or oldest >= (60 min latency target - 15 min start margin)
    assert expression == "IF(visible >= 100 OR age >= 2700, 1, 0)"

    rule = _only(template, "AWS::Events::Rule")["Properties"]
    assert rule["EventPattern"]["detail-type"] == ["CloudWatch Alarm State Change"]
    assert rule["EventPattern"]["detail"] == {"state": {"value": ["ALARM"]}}
    (target,) = rule["Targets"]
    assert json.loads(target["Input"]) == {"trigger": "backlog"}

    (recheck,) = [
        v["Properties"]
        for k, v in _resources(template, "AWS::Scheduler::Schedule").items()
        if k.startswith("ControllerRecheck")
    ]
    assert recheck["ScheduleExpression"] == "rate(10 minutes)"
    assert json.loads(recheck["Target"]["Input"]) == {"trigger": "recheck", "require_backlog": True}


def test_scheduled_mode_has_no_backlog_trigger_and_on_demand_no_window() -> None:
    schedule = [{"cron": "cron(0 2 * * ? *)", "timezone": "UTC"}]
    scheduled = _synth(mode="scheduled", schedules=schedule)
    assert not _resources(scheduled, "AWS::Events::Rule")
    # the window, and the re-check that finds what a timed-out session left (it never starts a model)
    scheduled_schedules = sorted(
        v["Properties"]["ScheduleExpression"] for v in _resources(scheduled, "AWS::Scheduler::Schedule").values()
    )
    assert scheduled_schedules == ["cron(50 1 * * ? *)", "rate(10 minutes)"]
    machine = _only(scheduled, "AWS::StepFunctions::StateMachine")["Properties"]
    assert machine["DefinitionSubstitutions"]["BacklogAlarmName"] == constants.NO_BACKLOG_ALARM
    assert "cloudwatch:DescribeAlarms" not in json.dumps(_resources(scheduled, "AWS::IAM::Policy"))

    on_demand = _synth(mode="on_demand", schedules=[])
    schedules = [
        v["Properties"]["ScheduleExpression"] for v in _resources(on_demand, "AWS::Scheduler::Schedule").values()
    ]
    assert schedules == ["rate(10 minutes)"]
    assert len(_resources(on_demand, "AWS::Events::Rule")) == 1


def test_cdk_nag_has_no_unacknowledged_findings() -> None:
    from aws_cdk import App, Validations
    from cdk_nag import AwsSolutionsChecks

    # Given the test stack with the AwsSolutions pack attached (scaffolding findings are acknowledged
    # in build_test_stack; the controller acknowledges only IAM5 Resource::* for logs and X-Ray, and its own
    # executions for DescribeExecution)
    app = App()
    build_test_stack(app, controller_config())
    pack = AwsSolutionsChecks(app)
    Validations.of(app).add_plugins(pack)

    # When it synthesizes, Then no unacknowledged finding fails validation
    app.synth()

    # ... and the controller's only findings are the acknowledged wildcard ones
    report = AwsSolutionsChecks(app).validate_scope(app)
    ours = {
        violation.rule_name
        for violation in report.violations
        for resource in violation.violating_resources
        if (resource.construct_path or "").startswith(("ControllerTest/Controller/", "ControllerTest/Control/"))
    }
    assert ours == {
        "AwsSolutions-IAM5[Resource::*]",
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:{REGION}:{ACCOUNT}:execution:"
        "clp-produce-quality-controller:*]",
    }


# -- cron arithmetic ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cron", "lead", "expected"),
    [
        ("cron(0 2 * * ? *)", 10, "cron(50 1 * * ? *)"),
        ("cron(30 14 ? * MON-FRI *)", 45, "cron(45 13 ? * MON-FRI *)"),
        ("cron(5 0 ? * MON-FRI *)", 10, "cron(55 23 ? * SUN-THU *)"),
        ("cron(0 0 ? * 1,SAT *)", 60, "cron(0 23 ? * 7,FRI *)"),
        ("cron(5 0,12 * * ? *)", 10, "cron(55 23,11 * * ? *)"),
        ("cron(15 * * * ? *)", 20, "cron(55 * * * ? *)"),
        ("cron(0 2 * * ? *)", 0, "cron(0 2 * * ? *)"),
    ],
)
def test_shift_cron(cron: str, lead: int, expected: str) -> None:
    assert shift_cron(cron, lead) == expected


@pytest.mark.parametrize(
    "cron",
    ["cron(0 0 1 * ? *)", "cron(0/15 2 * * ? *)", "cron(5 0,12 ? * MON *)", "cron(0 0 ? * MON#1 *)"],
)
def test_shift_cron_refuses_what_it_cannot_shift_exactly(cron: str) -> None:
    with pytest.raises(ConfigError, match="cannot shift"):
        shift_cron(cron, 10)


def test_cfn_lint_accepts_the_test_stack(synthesized_controller: SynthesizedController, tmp_path: Path) -> None:
    template = tmp_path / "controller.template.json"
    template.write_text(json.dumps(synthesized_controller.template), encoding="utf-8")
    # W3005 (a DependsOn also implied by GetAtt) is how CDK orders a role before its users.
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(template), "--ignore-checks", "W3005"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ttl_can_only_delete_locks_never_what_the_pipeline_must_remember(
    synthesized_controller: SynthesizedController,
) -> None:
    # Given the control table's TTL attribute (DynamoDB deletes such items at any time after expiry)
    (table,) = [
        r["Properties"]
        for r in _resources(synthesized_controller.template, "AWS::DynamoDB::Table").values()
        if r["Properties"].get("TimeToLiveSpecification")
    ]
    ttl = table["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": constants.CONTROL_TABLE_TTL_ATTRIBUTE, "Enabled": True}

    # When the deployed controller definition writes the control table
    machine = _only(synthesized_controller.template, "AWS::StepFunctions::StateMachine")["Properties"]
    definition = json.loads(machine["DefinitionString"])
    writes = {
        name: state["Arguments"]
        for name, state in definition["States"].items()
        if state.get("Resource", "").startswith("arn:aws:states:::dynamodb:")
        and any(word in state["Resource"] for word in ("putItem", "updateItem"))
    }
    # the sort keys arrive as DefinitionSubstitutions (${LockSortKey}, ${CleanupSortKey}): read the deployed value
    keyed = {
        name: re.sub(
            r"\$\{(\w+)\}",
            lambda m: machine["DefinitionSubstitutions"][m.group(1)],
            (args.get("Item") or args.get("Key"))["sk"]["S"],
        )
        for name, args in writes.items()
    }

    # Then the TTL attribute is only ever set on the lock: the cleanup marker (model started, mapping enabled)
    # carries none, and the lock holds nothing the next execution needs once it is gone
    for name, args in writes.items():
        text = json.dumps({k: v for k, v in args.items() if k != "TableName"})
        sets_ttl = ttl["AttributeName"] in text
        if keyed[name] == constants.CONTROL_TABLE_CLEANUP_SK:
            assert not sets_ttl, f"{name} puts a TTL on the cleanup marker"
        if sets_ttl:
            assert keyed[name] == constants.CONTROL_TABLE_LOCK_SK, name
    assert {keyed["MarkOwned"], keyed["MarkMapping"]} == {constants.CONTROL_TABLE_CLEANUP_SK}
    # (a lock written by an earlier definition may still say model_owned; new locks never do)
    assert "model_owned" not in writes["AcquireLock"]["Item"]
