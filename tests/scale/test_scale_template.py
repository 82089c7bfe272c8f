"""The three-model stack (scheduled, on_demand, both): per-model resources, triggers only where the mode
says, the dashboard, and every operator alarm wired to the alarm topic. cdk-nag runs at synth (fixture)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from infra.constants import NO_BACKLOG_ALARM
from tests.support.stack import SynthesizedScale

MODELS = ("logos", "parts", "produce")


def _text(value: Any) -> str:
    return json.dumps(value)


def _alarms(stack: SynthesizedScale) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in stack.resources("AWS::CloudWatch::Alarm").items()}


def _topic_ref(stack: SynthesizedScale) -> dict[str, str]:
    (topic,) = stack.resources("AWS::SNS::Topic")
    return {"Ref": topic}


def test_each_model_has_its_own_controller_backfill_queue_dlq_and_mapping(scale_stack: SynthesizedScale) -> None:
    machines = {
        p["Properties"]["StateMachineName"] for p in scale_stack.resources("AWS::StepFunctions::StateMachine").values()
    }
    assert machines == {f"clp-{m}-{kind}" for m in MODELS for kind in ("controller", "backfill")}
    assert len(scale_stack.resources("AWS::SQS::Queue")) == 2 * len(MODELS)
    assert len(scale_stack.resources("AWS::Lambda::EventSourceMapping")) == len(MODELS)
    mappings = scale_stack.resources("AWS::Lambda::EventSourceMapping").values()
    assert all(m["Properties"]["Enabled"] is False for m in mappings)


def test_schedules_exist_only_where_the_mode_says(scale_stack: SynthesizedScale) -> None:
    descriptions = [s["Properties"]["Description"] for s in scale_stack.resources("AWS::Scheduler::Schedule").values()]
    windows = sorted(d.split()[1] for d in descriptions if d.startswith("Start "))
    rechecks = sorted(d.split()[1].rstrip(":") for d in descriptions if d.startswith("Re-check "))
    assert windows == ["logos", "produce"]  # scheduled + both
    # every mode: the backlog re-check (on_demand, both) doubles as the look for what a session left behind
    assert rechecks == ["logos", "parts", "produce"]


def test_backlog_alarms_and_rules_exist_only_for_on_demand_and_both(scale_stack: SynthesizedScale) -> None:
    backlog = sorted(
        p["AlarmDescription"].split()[2].rstrip(":")
        for p in _alarms(scale_stack).values()
        if p["AlarmDescription"].startswith("Backlog of ")
    )
    assert backlog == ["parts", "produce"]
    rules = [r["Properties"]["Description"] for r in scale_stack.resources("AWS::Events::Rule").values()]
    assert sorted(d.split()[2] for d in rules if "backlog alarm goes to ALARM" in d) == ["parts", "produce"]


def test_the_dashboard_shows_queues_lambda_images_model_and_cost(scale_stack: SynthesizedScale) -> None:
    (dashboard,) = scale_stack.resources("AWS::CloudWatch::Dashboard").values()
    body = _text(dashboard["Properties"]["DashboardBody"])
    for metric in (
        "ApproximateNumberOfMessagesVisible",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateAgeOfOldestMessage",
        "Errors",
        "Throttles",
        "Duration",
        "ConcurrentExecutions",
        "ImagesDetected",
        "ImagesFailed",
        "DetectLatency",
        "LabelsPerImage",
        "InServiceInferenceUnits",
        "SessionCostUSD",
        "ExecutionsFailed",
    ):
        assert metric in body, metric
    for model in MODELS:
        assert f"## {model}" in body
    assert "CustomLabelsPipeline" in body and "AWS/Rekognition" in body


def test_session_cost_comes_from_model_stopped_events_through_a_metric_filter(scale_stack: SynthesizedScale) -> None:
    (metric_filter,) = scale_stack.resources("AWS::Logs::MetricFilter").values()
    transformation = metric_filter["Properties"]["MetricTransformations"][0]
    assert transformation["MetricName"] == "SessionCostUSD"
    assert transformation["MetricValue"] == "$.detail.estimated_cost_usd"
    assert transformation["Dimensions"] == [{"Key": "model", "Value": "$.detail.model_name"}]
    sessions_rule = next(
        r["Properties"]
        for r in scale_stack.resources("AWS::Events::Rule").values()
        if r["Properties"].get("EventPattern", {}).get("detail-type") == ["Model Stopped"]
    )
    assert "EventBusName" in sessions_rule
    assert "log-group" in _text(sessions_rule["Targets"])
    (policy,) = scale_stack.resources("AWS::Logs::ResourcePolicy").values()
    assert "events.amazonaws.com" in _text(policy["Properties"]["PolicyDocument"])


def test_every_operator_alarm_notifies_the_topic_and_each_model_has_all_five(scale_stack: SynthesizedScale) -> None:
    topic = _topic_ref(scale_stack)
    per_model: dict[str, list[str]] = {m: [] for m in MODELS}
    for properties in _alarms(scale_stack).values():
        description = properties["AlarmDescription"]
        if description.startswith("Backlog of "):
            assert "AlarmActions" not in properties  # a trigger, not an operator alarm
            continue
        assert properties["AlarmActions"] == [topic], description
        model = next(m for m in MODELS if m in description.split(".")[0])
        per_model[model].append(description)
    for model, descriptions in per_model.items():
        kinds = {
            "dead-letter": any("dead-letter queue" in d for d in descriptions),
            "controller failed": any("controller execution" in d for d in descriptions),
            "running too long": any("inference units in service" in d for d in descriptions),
            "oldest message": any("oldest message" in d for d in descriptions),
            "lambda errors": any("detect function failed" in d for d in descriptions),
        }
        assert all(kinds.values()), (model, kinds)


def test_oldest_message_alarm_follows_the_latency_target(scale_stack: SynthesizedScale) -> None:
    thresholds = {
        p["AlarmDescription"].split(":")[0]: p["Threshold"]
        for p in _alarms(scale_stack).values()
        if "oldest message" in p["AlarmDescription"] and p.get("MetricName") == "ApproximateAgeOfOldestMessage"
    }
    # on_demand: default 60-min target; both: its 30-min target; scheduled-only: images wait for the window
    assert thresholds == {"parts": 3600, "produce": 1800, "logos": 86400}


def test_lambda_error_alarm_watches_each_detect_function(scale_stack: SynthesizedScale) -> None:
    errors = [p for p in _alarms(scale_stack).values() if p.get("MetricName") == "Errors"]
    assert len(errors) == len(MODELS)
    assert all(p["Namespace"] == "AWS/Lambda" and p["Threshold"] == 1 for p in errors)


def test_backfill_role_is_scoped_to_its_model(scale_stack: SynthesizedScale) -> None:
    policies = [
        p["Properties"] for k, p in scale_stack.resources("AWS::IAM::Policy").items() if k.startswith("BackfillParts")
    ]
    statements = {s.get("Sid"): s for p in policies for s in p["PolicyDocument"]["Statement"]}
    assert statements["ListTheModelPrefix"]["Condition"] == {"StringLike": {"s3:prefix": ["parts/*"]}}
    assert "ModelParts" in _text(statements["EnqueueObjects"]["Resource"])
    assert "ControllerParts" in _text(statements["StartTheModelController"]["Resource"])
    assert statements["SkipObjectsWithAResult"]["Action"] == "dynamodb:Query"


def test_the_manifest_lists_backfill_machines_and_the_dashboard(scale_stack: SynthesizedScale) -> None:
    manifest = _text(scale_stack.document["Outputs"]["PipelineManifest"]["Value"])
    assert manifest.count("backfill_state_machine_arn") == len(MODELS)
    assert "dashboard" in manifest


def test_cfn_lint_reports_no_errors(scale_stack: SynthesizedScale) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(scale_stack.path), "--ignore-checks", "W3005"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_scheduled_only_controller_gets_the_no_backlog_alarm_sentinel(scale_stack: SynthesizedScale) -> None:
    substitutions = {
        name: resource["Properties"]["DefinitionSubstitutions"]
        for name, resource in scale_stack.resources("AWS::StepFunctions::StateMachine").items()
        if name.startswith("ControllerLogos")
    }
    assert substitutions and all(s["BacklogAlarmName"] == NO_BACKLOG_ALARM for s in substitutions.values())
