"""Template assertions: every security property and the wiring of the detection path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match

from infra import constants
from infra.app import build_app, cdk_json_context
from infra.config import ConfigError
from localrun.resources import results_table_definition
from tests.support.paths import ROOT
from tests.support.stack import Synthesized


def _statements(synthesized: Synthesized) -> list[dict[str, Any]]:
    statements = []
    for policy in synthesized.resources("AWS::IAM::Policy").values():
        statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _detect_role_statements(synthesized: Synthesized) -> list[dict[str, Any]]:
    """Statements of the policies attached to the detect functions' roles."""
    functions = synthesized.resources("AWS::Lambda::Function").values()
    roles = [
        f["Properties"]["Role"]["Fn::GetAtt"][0]
        for f in functions
        if "MODEL_NAME" in f["Properties"].get("Environment", {}).get("Variables", {})
    ]
    assert roles
    statements = []
    for policy in synthesized.resources("AWS::IAM::Policy").values():
        if any(ref.get("Ref") in roles for ref in policy["Properties"].get("Roles", [])):
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _tls_only(policy: dict[str, Any]) -> bool:
    return any(
        s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    )


def test_uploads_bucket_is_private_encrypted_versioned_logged_and_retained(synthesized: Synthesized) -> None:
    buckets = synthesized.resources("AWS::S3::Bucket")
    uploads = next(b for b in buckets.values() if "LoggingConfiguration" in b["Properties"])
    props = uploads["Properties"]

    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "AES256"
    }
    assert uploads["DeletionPolicy"] == "Retain"
    for bucket in buckets.values():
        assert bucket["DeletionPolicy"] == "Retain"
        assert "PublicAccessBlockConfiguration" in bucket["Properties"]
    policies = synthesized.resources("AWS::S3::BucketPolicy")
    assert len(policies) == len(buckets)
    assert all(_tls_only(p) for p in policies.values())


def test_queues_are_encrypted_tls_only_and_dead_letter_after_five_receives(synthesized: Synthesized) -> None:
    queues = synthesized.resources("AWS::SQS::Queue")
    main = [q for q in queues.values() if "RedrivePolicy" in q["Properties"]]

    assert len(main) == len(synthesized.config.models)
    for queue in queues.values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
        assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    for queue in main:
        assert queue["Properties"]["RedrivePolicy"]["maxReceiveCount"] >= 5
        assert queue["Properties"]["VisibilityTimeout"] >= 6 * constants.DETECT_FUNCTION_TIMEOUT_SECONDS
    policies = synthesized.resources("AWS::SQS::QueuePolicy")
    assert all(_tls_only(p) for p in policies.values())


def test_dead_letter_alarm_fires_on_any_message_and_notifies_the_topic(synthesized: Synthesized) -> None:
    synthesized.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Threshold": 0,
            "ComparisonOperator": "GreaterThanThreshold",
            "AlarmActions": Match.any_value(),
        },
    )
    [topic] = synthesized.resources("AWS::SNS::Topic").values()
    assert "KmsMasterKeyId" in topic["Properties"]


def test_detect_function_runs_current_python_on_arm_with_json_logs(synthesized: Synthesized) -> None:
    functions = {
        k: v
        for k, v in synthesized.resources("AWS::Lambda::Function").items()
        if v["Properties"].get("Handler") == constants.DETECT_HANDLER
    }

    assert len(functions) == len(synthesized.config.models)
    for function in functions.values():
        props = function["Properties"]
        assert props["Runtime"] == constants.LAMBDA_PYTHON_RUNTIME
        assert props["Architectures"] == ["arm64"]
        assert props["LoggingConfig"]["LogFormat"] == "JSON"
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["Timeout"] == constants.DETECT_FUNCTION_TIMEOUT_SECONDS
        assert props["Environment"]["Variables"]["MIN_CONFIDENCE"] == "50.0"
        # cdk.json enables no review: the function's environment is what it was before the review policy existed
        assert "REVIEW_POLICY" not in props["Environment"]["Variables"]
        assert len(props["Layers"]) == 1
    synthesized.template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30})
    assert synthesized.json["Parameters"][next(p for p in synthesized.json["Parameters"] if "powertools" in p)][
        "Default"
    ] == (f"/aws/service/powertools/python/arm64/{constants.LAMBDA_PYTHON_RUNTIME}/{constants.POWERTOOLS_VERSION}")


def test_powertools_layer_matches_the_tested_library_version() -> None:
    from aws_lambda_powertools.shared.version import VERSION

    assert VERSION == constants.POWERTOOLS_VERSION


def test_event_source_mapping_starts_disabled_with_partial_failures_and_tps_concurrency(
    synthesized: Synthesized,
) -> None:
    mappings = list(synthesized.resources("AWS::Lambda::EventSourceMapping").values())

    assert len(mappings) == len(synthesized.config.models)
    for mapping, model in zip(mappings, synthesized.config.models, strict=True):
        props = mapping["Properties"]
        assert props["Enabled"] is False
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert props["BatchSize"] == constants.SQS_BATCH_SIZE
        assert props["ScalingConfig"] == {"MaximumConcurrency": model.effective_max_concurrency}


def test_results_table_is_on_demand_recoverable_encrypted_and_matches_the_offline_runtime(
    synthesized: Synthesized,
) -> None:
    tables = synthesized.resources("AWS::DynamoDB::Table").values()
    [table] = [t for t in tables if "GlobalSecondaryIndexes" in t["Properties"]]
    props = table["Properties"]
    local = results_table_definition("x")

    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert table["DeletionPolicy"] == "Retain"
    assert props["KeySchema"] == local["KeySchema"]
    assert sorted(props["AttributeDefinitions"], key=str) == sorted(local["AttributeDefinitions"], key=str)
    assert sorted(props["GlobalSecondaryIndexes"], key=lambda i: i["IndexName"]) == sorted(
        local["GlobalSecondaryIndexes"], key=lambda i: i["IndexName"]
    )
    # the review index: sparse over review_key (only results the review policy selected), oldest first, whole items
    [by_review] = [i for i in props["GlobalSecondaryIndexes"] if i["IndexName"] == constants.BY_REVIEW_INDEX]
    assert by_review["KeySchema"] == [
        {"AttributeName": constants.REVIEW_PK, "KeyType": "HASH"},
        {"AttributeName": constants.REVIEW_SK, "KeyType": "RANGE"},
    ]
    assert by_review["Projection"] == {"ProjectionType": "ALL"}
    assert {"AttributeName": constants.REVIEW_SK, "AttributeType": "S"} in props["AttributeDefinitions"]


def test_event_bus_exists_with_an_archive(synthesized: Synthesized) -> None:
    synthesized.template.has_resource_properties("AWS::Events::EventBus", {"Name": "clp-events"})
    synthesized.template.resource_count_is("AWS::Events::Archive", 1)


def test_detect_role_is_scoped_to_exact_resources(synthesized: Synthesized) -> None:
    statements = _statements(synthesized)
    detect = _detect_role_statements(synthesized)
    model = synthesized.config.models[0]

    rekognition = [s for s in statements if any("rekognition:DetectCustomLabels" in str(a) for a in [s["Action"]])]
    assert rekognition and all(s["Resource"] == model.project_version_arn for s in rekognition)
    assert all(s in detect for s in rekognition)
    s3_reads = [s for s in detect if "s3:GetObject" in json.dumps(s["Action"])]
    assert s3_reads and all(model.prefix + "*" in json.dumps(s["Resource"]) for s in s3_reads)
    dynamo = [s for s in detect if "dynamodb:PutItem" in json.dumps(s["Action"])]
    assert dynamo and all("index" not in json.dumps(s["Resource"]) for s in dynamo)
    # every other reader of the uploads bucket reads only what it wrote itself (backfill map-run results)
    others = [s for s in statements if "s3:GetObject" in json.dumps(s["Action"]) and s not in detect]
    assert all(constants.BACKFILL_RESULTS_PREFIX in json.dumps(s["Resource"]) for s in others), others
    wildcard = [s for s in statements if s["Resource"] == "*"]
    for statement in wildcard:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        # Only actions AWS accepts on "*" alone: X-Ray segments, Step Functions log delivery (vended logs),
        # and CDK's deploy-time bucket-notification handler.
        allowed = (
            "xray:",
            "s3:PutBucketNotification",
            "logs:CreateLogDelivery",
            "logs:DeleteLogDelivery",
            "logs:DescribeLogGroups",
            "logs:DescribeResourcePolicies",
            "logs:GetLogDelivery",
            "logs:ListLogDeliveries",
            "logs:PutResourcePolicy",
            "logs:UpdateLogDelivery",
        )
        assert all(a.startswith(allowed) for a in actions), statement


def test_the_default_app_deploys_nothing_for_amazon_a2i(synthesized: Synthesized) -> None:
    # Given cdk.json, whose models name no A2I flow definition
    assert all(model.review.a2i_flow_definition_arn is None for model in synthesized.config.models)

    # Then the stack has no A2I function, rule or SageMaker permission (docs/a2i.md: only when a model names one)
    handlers = {f["Properties"]["Handler"] for f in synthesized.resources("AWS::Lambda::Function").values()}
    assert not handlers & {constants.A2I_START_HANDLER, constants.A2I_INGEST_HANDLER}
    assert "aws.sagemaker" not in json.dumps(synthesized.resources("AWS::Events::Rule"))
    assert "sagemaker:" not in json.dumps(synthesized.resources("AWS::IAM::Policy"))
    assert synthesized.stack.pipeline.a2i_reviews == {}


def test_outputs_describe_the_deployment_for_the_cli(synthesized: Synthesized) -> None:
    outputs = synthesized.json["Outputs"]

    assert {"PipelineManifest", "UploadsBucketName", "ResultsTableName", "EventBusName"} <= set(outputs)


def test_cfn_lint_reports_no_errors(synthesized: Synthesized) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(synthesized.template_path), "--ignore-checks", "W3005"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_invalid_config_fails_synthesis_naming_the_field() -> None:
    context = cdk_json_context()
    context["pipeline"]["models"][0]["prefix"] = "no-trailing-slash"

    with pytest.raises(ConfigError, match=r"pipeline\.models\.0\.prefix"):
        build_app(context=context, nag=False)


def test_python_app_py_exits_with_the_config_error(tmp_path: Path) -> None:
    bad = json.dumps({"models": []})
    result = subprocess.run(
        [sys.executable, "-c", "import sys, runpy; sys.argv=['app.py']; runpy.run_path('app.py', run_name='__main__')"],
        cwd=ROOT,
        env={**os.environ, "CDK_CONTEXT_JSON": json.dumps({"pipeline": bad}), "CDK_OUTDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 2
    assert "pipeline.models" in result.stderr
