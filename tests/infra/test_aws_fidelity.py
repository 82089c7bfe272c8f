"""What AWS does and moto does not check, asserted on the synthesized template (issue 11).

Each test names its source outside moto: the AWS documentation page or botocore's service model.
"""

from __future__ import annotations

import json
import re
from typing import Any

import botocore.loaders
import pytest

from infra.app import build_app, cdk_json_context
from infra.statemachines import backfill_definition
from tests.support.stack import Synthesized

STACK_ID_SUFFIX = {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = document["Statement"]
    return statements


def test_alarm_topic_policy_lets_cloudwatch_alarms_of_this_account_publish_and_stays_tls_only(
    synthesized: Synthesized,
) -> None:
    # Given the topic policy (it replaces the topic's default policy: SNS guide, "Amazon SNS topic policy
    # for CloudWatch alarms" / "Example cases for Amazon SNS access control")
    (policy,) = synthesized.resources("AWS::SNS::TopicPolicy").values()
    statements = _statements(policy["Properties"]["PolicyDocument"])

    # Then CloudWatch may publish, only for alarms of this account and region
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert allow["Condition"]["ArnLike"] == {
        "aws:SourceArn": {
            "Fn::Join": [
                "",
                [
                    "arn:",
                    {"Ref": "AWS::Partition"},
                    ":cloudwatch:",
                    {"Ref": "AWS::Region"},
                    ":",
                    {"Ref": "AWS::AccountId"},
                    ":alarm:*",
                ],
            ]
        }
    }
    # ... and the TLS-only Deny is still there
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
    )
    # ... and the topic is what the alarms notify
    (topic_id,) = synthesized.resources("AWS::SNS::Topic")
    assert policy["Properties"]["Topics"] == [{"Ref": topic_id}]
    alarms = synthesized.resources("AWS::CloudWatch::Alarm").values()
    assert any({"Ref": topic_id} in a["Properties"].get("AlarmActions", []) for a in alarms)


def _fixed_names(resource: dict[str, Any]) -> dict[str, str]:
    """Name properties of ``resource`` that are plain strings (the same in every stack instance)."""
    return {k: v for k, v in resource.get("Properties", {}).items() if k.endswith("Name") and isinstance(v, str)}


def test_no_retained_resource_has_a_name_that_survives_a_rolled_back_deploy(synthesized: Synthesized) -> None:
    # Given every resource CloudFormation keeps on delete or rollback (DeletionPolicy Retain)
    retained = {k: v for k, v in synthesized.json["Resources"].items() if v.get("DeletionPolicy") == "Retain"}
    assert any(v["Type"] == "AWS::Logs::LogGroup" for v in retained.values())

    # Then none has a fixed name: a retry after a rolled-back first deploy would fail with "already exists"
    assert {k: _fixed_names(v) for k, v in retained.items() if _fixed_names(v)} == {}
    # ... and every named log group ends in the stack ID's UUID (a new stack, a new name)
    named = [v["Properties"]["LogGroupName"] for v in retained.values() if "LogGroupName" in v.get("Properties", {})]
    assert len(named) == 2 * len(synthesized.config.models) + 1  # controller + backfill per model, sessions
    for name in named:
        parts = name["Fn::Join"][1]
        assert parts[-1] == STACK_ID_SUFFIX
        assert parts[0].startswith(("/aws/vendedlogs/states/", "/aws/events/"))


def test_the_sessions_rule_targets_the_renamed_log_group(synthesized: Synthesized) -> None:
    # Given the rule copying Model Stopped events to the sessions log group
    rules = synthesized.resources("AWS::Events::Rule").values()
    (target,) = [t for r in rules for t in r["Properties"].get("Targets", []) if t["Id"] == "SessionsLog"]

    # Then its ARN names the sessions log group (Ref of a log group is its name), the one with the suffix
    name_ref = target["Arn"]["Fn::Join"][1][-1]
    log_group = synthesized.json["Resources"][name_ref["Ref"]]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["LogGroupName"]["Fn::Join"][1] == [
        f"/aws/events/{synthesized.config.resource_prefix}-model-sessions-",
        STACK_ID_SUFFIX,
    ]


def _region_assertions(template: dict[str, Any]) -> list[dict[str, Any]]:
    assertions: list[dict[str, Any]] = template["Rules"]["ModelsInStackRegion"]["Assertions"]
    return assertions


def test_the_stack_refuses_a_region_other_than_the_models(synthesized: Synthesized) -> None:
    # CloudFormation "Rules" section: an assertion that is false stops the deploy before any resource
    (assertion,) = _region_assertions(synthesized.json)

    assert assertion["Assert"] == {"Fn::Equals": [{"Ref": "AWS::Region"}, synthesized.config.models[0].region]}
    assert synthesized.config.models[0].region in assertion["AssertDescription"]


def test_the_region_rule_follows_each_models_arn(tmp_path: Any) -> None:
    # Given a config with a second model whose version lives in eu-west-1
    context = cdk_json_context()
    first = context["pipeline"]["models"][0]
    second = {
        **first,
        "name": "parts",
        "prefix": "parts/",
        "project_arn": first["project_arn"].replace("us-east-1", "eu-west-1"),
        "project_version_arn": first["project_version_arn"].replace("us-east-1", "eu-west-1"),
    }
    context["pipeline"]["models"] = [first, second]

    # When it is synthesized
    app, stack, _ = build_app(context=context, outdir=str(tmp_path), nag=False)
    template = json.loads(
        (tmp_path / app.synth().get_stack_by_name(stack.stack_name).template_file).read_text(encoding="utf-8")
    )

    # Then each model asserts its own region (no region can satisfy both: the deploy is refused)
    regions = [a["Assert"]["Fn::Equals"][1] for a in _region_assertions(template)]
    assert regions == ["us-east-1", "eu-west-1"]
    assert "eu-west-1" in _region_assertions(template)[1]["AssertDescription"]


def _backfill_statements(synthesized: Synthesized) -> list[dict[str, Any]]:
    statements = []
    for policy in synthesized.resources("AWS::IAM::Policy").values():
        for statement in _statements(policy["Properties"]["PolicyDocument"]):
            if str(statement.get("Sid", "")).startswith(("RunTheDistributedMap", "DescribeItsExecutions")):
                statements.append(statement)
    return statements


def _joined(value: Any) -> str:
    """``Fn::Join`` of strings and pseudo-parameter Refs as one string (``<AWS::Region>``)."""
    return "".join(p if isinstance(p, str) else f"<{p['Ref']}>" for p in value["Fn::Join"][1])


def test_backfill_role_has_exactly_what_the_distributed_map_iam_page_lists(synthesized: Synthesized) -> None:
    # Step Functions guide, "IAM policies for using Distributed Map states": StartExecution on
    # stateMachine:<name>, DescribeExecution on execution:<name>:*
    name = f"{synthesized.config.resource_prefix}-{synthesized.config.models[0].name}-backfill"
    found = {(s["Action"], _joined(s["Resource"])) for s in _backfill_statements(synthesized)}

    prefix = "arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>"
    assert found == {
        ("states:StartExecution", f"{prefix}:stateMachine:{name}"),
        ("states:DescribeExecution", f"{prefix}:execution:{name}:*"),
    }
    every_action = [
        a
        for p in synthesized.resources("AWS::IAM::Policy").values()
        for s in _statements(p["Properties"]["PolicyDocument"])
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    assert not {"states:StopExecution", "states:DescribeMapRun", "states:UpdateMapRun"} & set(every_action)


# Powertools for AWS Lambda (Python), "Lambda Layer" / "SSM Parameter Store": the layer ARN is published as
# /aws/service/powertools/python/{arch}/{python_version}/{version}, python_version WITH its period
# (python3.14; powertools-lambda-python#6213 / #6221), arch x86_64 or arm64, version semantic or "latest".
POWERTOOLS_PARAMETER = re.compile(
    r"^/aws/service/powertools/python/(?P<arch>x86_64|arm64)/(?P<runtime>python3\.\d+)/(?P<version>\d+\.\d+\.\d+)$"
)


def test_powertools_layer_parameter_has_the_published_format_for_the_functions_runtime(
    synthesized: Synthesized,
) -> None:
    (name,) = [p["Default"] for p in synthesized.json["Parameters"].values() if "powertools" in str(p.get("Default"))]
    match = POWERTOOLS_PARAMETER.match(name)

    assert match, name
    functions = [
        f["Properties"]
        for f in synthesized.resources("AWS::Lambda::Function").values()
        if "MODEL_NAME" in f["Properties"].get("Environment", {}).get("Variables", {})
    ]
    assert functions
    for props in functions:
        assert props["Architectures"] == [match["arch"]]
        assert props["Runtime"] == match["runtime"]
    from aws_lambda_powertools.shared.version import VERSION

    assert match["version"] == VERSION


# Which botocore operation each aws-sdk task of the backfill calls, and the prefix Step Functions gives its
# errors ("AWS SDK service integrations": ServiceName.ErrorName, PascalCase, always with the Exception suffix).
_SDK_TASKS = {
    "arn:aws:states:::aws-sdk:dynamodb:query": ("dynamodb", "Query", "DynamoDb"),
    "arn:aws:states:::aws-sdk:sqs:sendMessageBatch": ("sqs", "SendMessageBatch", "Sqs"),
    "arn:aws:states:::aws-sdk:sfn:startExecution": ("stepfunctions", "StartExecution", "Sfn"),
}
# Of the modeled errors, the ones that say "try again": throttling and server-side faults.
_RETRYABLE = re.compile(r"Throttl|ProvisionedThroughputExceeded|RequestLimitExceeded|InternalServerError")


def _tasks(states: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for state in states.values():
        if state["Type"] == "Task":
            found.append(state)
        for nested in ("ItemProcessor", "Iterator"):
            if nested in state:
                found += _tasks(state[nested]["States"])
    return found


@pytest.mark.parametrize("resource", sorted(_SDK_TASKS))
def test_backfill_retries_only_throttling_and_server_errors_the_service_model_lists(resource: str) -> None:
    service, operation, prefix = _SDK_TASKS[resource]
    model = botocore.loaders.Loader().load_service_model(service, "service-2")
    modeled = {e["shape"] for e in model["operations"][operation].get("errors", [])}
    retryable = {
        f"{prefix}.{s if s.endswith('Exception') else s + 'Exception'}" for s in modeled if _RETRYABLE.search(s)
    }
    tasks = [t for t in _tasks(json.loads(backfill_definition())["States"]) if t["Resource"] == resource]
    assert tasks

    for task in tasks:
        names = {n for r in task.get("Retry", []) for n in r["ErrorEquals"]}
        # No catch-all (States.ALL, States.TaskFailed, <Service>.<Service>Exception), no States.Timeout
        # without a TimeoutSeconds (Step Functions sets no task timeout by default)
        assert names <= retryable, names - retryable
