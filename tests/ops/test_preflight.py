"""``clp preflight`` offline: botocore's Stubber on real clients, so every request is validated against the
service models (an invented parameter or a wrong type fails the test), through typer's CliRunner.

The AWS behaviours relied on, and where they are written down (not moto):
- ValidateStateMachineDefinition: input definition (1..1,048,576), type, severity, maxResults (<= 100);
  output result OK/FAIL, diagnostics[severity ERROR/WARNING, code, message, location], truncated
  (botocore's stepfunctions model; AWS API reference, ValidateStateMachineDefinitionDiagnostic);
- GetCallerIdentity needs no permission (STS API reference);
- the Powertools layer's public parameter /aws/service/powertools/python/<arch>/<runtime>/<version> holds
  the layer version ARN (aws-powertools/powertools-lambda-python, .github/workflows/update_ssm.yml);
- GetLayerVersionByArn returns CompatibleRuntimes / CompatibleArchitectures (botocore's lambda model);
- DescribeProjectVersions(ProjectArn, VersionNames) and its statuses (botocore's rekognition model);
- DescribeFlowDefinition(FlowDefinitionName): FlowDefinitionArn, FlowDefinitionStatus Initializing | Active |
  Failed | Deleting, FailureReason, OutputConfig.S3OutputPath (pattern '(https|s3)://([^/]+)/?(.*)'), error code
  ResourceNotFound (botocore's sagemaker 2017-07-24 model).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import boto3
import pytest
from botocore.stub import Stubber
from typer.testing import CliRunner

from clp import preflight, render
from clp.deployment import Clients
from clp.main import app
from clp.preflight import LAMBDA_ARCHITECTURE, Definition, Status, definitions, validate_definition
from infra import constants
from infra.config import DEFAULT_CDK_JSON, ModelConfig
from infra.statemachines import substitute
from lambdas.review.models import ReviewPolicy
from tests.support.preflight import ACCOUNT, CONFIG, LAYER_ARN, MODEL, REGION, STACK, StubbedAccount
from tests.support.stack import Synthesized

runner = CliRunner()


def clp(*args: str) -> Any:
    return runner.invoke(app, ["preflight", *args])


def rows(result: Any) -> list[dict[str, Any]]:
    document = json.loads(result.stdout)
    return list(document["checks"])


def row(result: Any, check: str) -> dict[str, Any]:
    [found] = [r for r in rows(result) if r["check"] == check]
    return found


def findings(result: Any) -> list[dict[str, Any]]:
    return [r for r in rows(result) if r["status"] == "FINDING"]


# -- everything in order ---------------------------------------------------------------------------------


def test_every_check_passes_in_a_ready_account(account: StubbedAccount) -> None:
    # Given an account where the credentials, definitions, layer and model version are all fine
    account.everything_ok()

    # When preflight runs against the model's region
    result = clp("--region", REGION)

    # Then it exits 0 with a table row per check, the layer ARN shown, and every answer was asked for
    assert result.exit_code == 0, result.output
    for check in (
        "credentials",
        "model account",
        "model region",
        "controller definition",
        "backfill definition",
        "layer parameter",
        "layer version",
        "model version",
    ):
        assert check in result.stdout
    assert LAYER_ARN in result.stdout
    assert "FINDING" not in result.stdout
    assert "every check passed" in result.stdout
    assert account.regions == [REGION]
    account.assert_all_asked()


def test_json_is_exactly_one_document_with_every_row(account: StubbedAccount) -> None:
    # Given a ready account
    account.everything_ok()

    # When preflight runs with --json
    result = clp("--region", REGION, "--json")

    # Then stdout is one JSON document (json.loads fails on anything after it) naming the account
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["ok"] is True and document["findings"] == 0
    assert document["account"] == ACCOUNT and document["region"] == REGION and document["stack"] == STACK
    assert {r["status"] for r in document["checks"]} == {"OK"}
    assert len(document["checks"]) == 9


# -- 1. region and credentials -------------------------------------------------------------------------------


def test_no_credentials_is_one_clear_finding_and_the_rest_is_skipped(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given a botocore session that can find no credentials anywhere (and may not ask the instance metadata)
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SECURITY_TOKEN",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(render.out, "width", 250)

    # When preflight runs (real Clients, no Stubber), as a table and as JSON
    table = clp("--region", REGION)
    as_json = clp("--region", REGION, "--json")

    # Then both exit 1 with the one message, no traceback, and every later check skipped
    assert table.exit_code == 1 and as_json.exit_code == 1
    assert table.output.count("no AWS credentials found: set AWS_PROFILE") == 1
    assert "Traceback" not in table.output and table.stderr == ""
    [finding] = findings(as_json)
    assert finding["check"] == "credentials" and "no AWS credentials found" in finding["detail"]
    later = [r for r in rows(as_json) if r["check"] not in ("region", "credentials")]
    assert later and {r["status"] for r in later} == {"SKIPPED"}


def test_no_region_is_a_finding(monkeypatch: pytest.MonkeyPatch, account: StubbedAccount) -> None:
    # Given no --region, no AWS_REGION / AWS_DEFAULT_REGION and a config file without a region
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")

    # When preflight runs
    result = clp("--json")

    # Then the region is the finding, nothing is asked of AWS, and the exit status is 1
    assert result.exit_code == 1
    [finding] = findings(result)
    assert finding["check"] == "region" and "no AWS region" in finding["detail"]
    account.assert_all_asked()


def test_aws_region_wins_over_aws_default_region(monkeypatch: pytest.MonkeyPatch, account: StubbedAccount) -> None:
    # Given AWS_REGION (what the CDK CLI reads first) differs from AWS_DEFAULT_REGION (boto3's)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    account.identity()
    account.validations(region="eu-west-1")
    account.layer_parameter()
    account.layer()

    # When preflight runs without --region
    result = clp("--json")

    # Then it targets AWS_REGION's region, where the model is not
    assert account.regions == ["eu-west-1"]
    assert row(result, "region")["detail"] == "target region (from AWS_REGION)"
    assert row(result, "model region")["status"] == "FINDING"


def test_rejected_credentials_are_a_finding(account: StubbedAccount) -> None:
    # Given credentials STS refuses
    account.stubs["sts"].add_client_error(
        "get_caller_identity", "ExpiredToken", "The security token included in the request is expired", 403
    )

    # When preflight runs
    result = clp("--region", REGION, "--json")

    # Then the credentials are the finding and no other service is asked
    assert result.exit_code == 1
    [finding] = findings(result)
    assert finding["detail"].startswith("AWS rejected the credentials: ExpiredToken")
    account.assert_all_asked()


def test_account_mismatch_is_a_finding_and_the_version_is_not_asked(account: StubbedAccount) -> None:
    # Given credentials for another account than the model's
    account.identity("999999999999")
    documents = definitions(CONFIG, stack=STACK, account="999999999999", region=REGION, partition="aws")
    for definition in documents:
        account.stubs["stepfunctions"].add_response(
            "validate_state_machine_definition",
            {"result": "OK", "diagnostics": []},
            {"definition": definition.document, "type": "STANDARD", "severity": "WARNING", "maxResults": 100},
        )
    account.layer_parameter()
    account.layer()

    # When preflight runs
    result = clp("--region", REGION, "--json")

    # Then the account is the one finding and DescribeProjectVersions is skipped (the Stubber holds no answer)
    assert result.exit_code == 1
    [finding] = findings(result)
    assert finding["check"] == "model account"
    assert finding["detail"] == f"the model is in account {ACCOUNT}, the credentials are for account 999999999999"
    assert row(result, "model version")["status"] == "SKIPPED"
    account.assert_all_asked()


def test_region_mismatch_is_a_finding(account: StubbedAccount) -> None:
    # Given a target region other than the model's
    account.identity()
    account.validations(region="eu-west-1")
    account.layer_parameter()
    account.layer()

    # When preflight runs there
    result = clp("--region", "eu-west-1", "--json")

    # Then the model's region is the one finding
    assert result.exit_code == 1
    [finding] = findings(result)
    assert finding["check"] == "model region"
    assert finding["detail"].startswith(f"the model is in {REGION}, the target region is eu-west-1 (--region)")
    assert row(result, "model version")["status"] == "SKIPPED"
    account.assert_all_asked()


# -- 2. the definitions ---------------------------------------------------------------------------------------


def test_validator_errors_are_findings_and_warnings_are_not(account: StubbedAccount) -> None:
    # Given a validator that fails the controller with an ERROR and warns about the backfill
    account.identity()
    account.validations(
        results=[
            {
                "result": "FAIL",
                "diagnostics": [
                    {
                        "severity": "ERROR",
                        "code": "SCHEMA_VALIDATION_FAILED",
                        "message": "The value for the field 'Arguments' must be an OBJECT",
                        "location": "/States/StartModel/Arguments",
                    }
                ],
            },
            {
                "result": "OK",
                "diagnostics": [{"severity": "WARNING", "code": "NO_DOLLAR", "message": "looks like a path"}],
            },
        ]
    )
    account.layer_parameter()
    account.layer()
    account.version()

    # When preflight runs
    result = clp("--region", REGION, "--json")

    # Then the controller's result and its ERROR are findings; the backfill's WARNING is shown, not counted
    assert result.exit_code == 1
    detail = [f["detail"] for f in findings(result)]
    assert detail[0].startswith("validator: FAIL, 1 error(s)")
    assert detail[1] == (
        "SCHEMA_VALIDATION_FAILED at /States/StartModel/Arguments: "
        "The value for the field 'Arguments' must be an OBJECT"
    )
    assert len(detail) == 2
    [warning] = [r for r in rows(result) if r["status"] == "WARNING"]
    assert warning["check"] == "backfill definition" and warning["detail"] == "NO_DOLLAR: looks like a path"
    backfill = [r for r in rows(result) if r["check"] == "backfill definition"]
    assert backfill[0]["status"] == "OK"


def test_the_requests_for_both_real_definitions_match_the_stepfunctions_model() -> None:
    # Given the two real definitions and a Stubber (it validates every request against botocore's model)
    sfn = boto3.client("stepfunctions", region_name=REGION)
    shape = sfn.meta.service_model.operation_model("ValidateStateMachineDefinition").input_shape
    documents = definitions(CONFIG, stack=STACK, account=ACCOUNT, region=REGION, partition="aws")
    assert [d.kind for d in documents] == ["controller", "backfill"]

    # When each is validated
    with Stubber(sfn) as stub:
        for definition in documents:
            stub.add_response(
                "validate_state_machine_definition",
                {"result": "OK", "diagnostics": []},
                {"definition": definition.document, "type": "STANDARD", "severity": "WARNING", "maxResults": 100},
            )
        results = [validate_definition(sfn, d) for d in documents]
        stub.assert_no_pending_responses()

    # Then the Stubber accepted both requests, both are within the model's length limits (botocore itself only
    # checks the minimum), and maxResults is the model's maximum
    assert [[r.status for r in rs] for rs in results] == [[Status.OK], [Status.OK]]
    limits = shape.members["definition"].metadata
    for definition in documents:
        assert limits["min"] <= len(definition.document.encode("utf-8")) <= limits["max"]
    assert shape.members["maxResults"].metadata["max"] == preflight.VALIDATOR_MAX_RESULTS
    assert "STANDARD" in shape.members["type"].enum and "WARNING" in shape.members["severity"].enum


def test_a_definition_over_the_size_limit_is_a_finding_without_a_call() -> None:
    # Given a definition one byte over the model's maximum and a Stubber holding no answer
    sfn = boto3.client("stepfunctions", region_name=REGION)
    maximum = (
        sfn.meta.service_model.operation_model("ValidateStateMachineDefinition")
        .input_shape.members["definition"]
        .metadata["max"]
    )
    too_big = Definition("controller", MODEL.name, "x" * (maximum + 1), {})

    # When it is validated
    with Stubber(sfn) as stub:
        [result] = validate_definition(sfn, too_big)
        stub.assert_no_pending_responses()

    # Then it is a finding naming the limit (an unstubbed call would have raised)
    assert result.status is Status.FINDING
    assert result.detail == f"definition is {maximum + 1:,} bytes; the limit is {maximum:,}"


def _resolve(value: Any, stand_ins: dict[str, str], name: str) -> str:
    if isinstance(value, str):
        return value
    return stand_ins[name]


def test_the_definitions_are_the_documents_cdk_deploys(synthesized: Synthesized) -> None:
    # Given the synthesized template's controller and backfill of the first model
    resources = synthesized.json["Resources"]
    machines = {
        r["Properties"]["StateMachineName"]: (logical_id, r["Properties"])
        for logical_id, r in resources.items()
        if r["Type"] == "AWS::StepFunctions::StateMachine"
    }
    model = synthesized.config.models[0]
    documents = {
        d.kind: d
        for d in definitions(synthesized.config, stack=STACK, account=ACCOUNT, region=REGION, partition="aws")
        if d.model == model.name
    }
    expected_types = {
        "QueueUrl": "AWS::SQS::Queue",
        "EventSourceMappingId": "AWS::Lambda::EventSourceMapping",
        "ControlTableName": "AWS::DynamoDB::Table",
        "ResultsTableName": "AWS::DynamoDB::Table",
        "EventBusName": "AWS::Events::EventBus",
        "BacklogAlarmName": "AWS::CloudWatch::Alarm",
        "BucketName": "AWS::S3::Bucket",
        "ControllerStateMachineArn": "AWS::StepFunctions::StateMachine",
    }

    for kind in ("controller", "backfill"):
        _, machine = machines[f"{synthesized.config.resource_prefix}-{model.name}-{kind}"]
        values = machine["DefinitionSubstitutions"]
        mine = documents[kind]

        # Then exactly the values CloudFormation resolves are the ones preflight stands in for ...
        tokens = {name for name, value in values.items() if not isinstance(value, str)}
        assert tokens == set(mine.deploy_time), kind
        for name in tokens:
            ref = values[name]["Ref"]
            if name in ("Region", "Partition"):
                assert ref == f"AWS::{name}"
            else:
                assert resources[ref]["Type"] == expected_types[name], name

        # ... and, with those stand-ins, the template's definition is preflight's document, byte for byte
        resolved = {name: _resolve(value, mine.deploy_time, name) for name, value in values.items()}
        assert substitute(machine["DefinitionString"], resolved) == mine.document, kind


# -- 3. the layer ----------------------------------------------------------------------------------------------


def test_missing_layer_parameter_names_the_parameter_and_region(account: StubbedAccount) -> None:
    # Given a region where Powertools has not published the parameter
    account.identity()
    account.validations()
    account.stubs["ssm"].add_client_error("get_parameter", "ParameterNotFound", "", 400)
    account.version()

    # When preflight runs
    result = clp("--region", REGION, "--json")

    # Then the parameter is the one finding, with its name and the region; the layer itself is skipped
    assert result.exit_code == 1
    [finding] = findings(result)
    assert finding["check"] == "layer parameter"
    assert f"{constants.POWERTOOLS_LAYER_SSM_PARAMETER} does not exist in {REGION}" in finding["detail"]
    assert row(result, "layer version")["status"] == "SKIPPED"
    account.assert_all_asked()


def test_layer_version_not_found_is_a_finding(account: StubbedAccount) -> None:
    # Given a parameter naming a layer version Lambda does not have
    account.identity()
    account.validations()
    account.layer_parameter()
    account.stubs["lambda"].add_client_error(
        "get_layer_version_by_arn", "ResourceNotFoundException", "The resource you requested does not exist.", 404
    )
    account.version()

    # When preflight runs
    result = clp("--region", REGION, "--json")

    # Then the layer version is the one finding
    assert result.exit_code == 1
    [finding] = findings(result)
    assert (finding["check"], finding["subject"]) == ("layer version", LAYER_ARN)
    assert finding["detail"] == f"layer version not found in {REGION}"


def test_incompatible_layer_is_a_finding(account: StubbedAccount) -> None:
    # Given a layer built for another runtime and architecture
    account.identity()
    account.validations()
    account.layer_parameter()
    account.layer(runtimes=["python3.12"], architectures=["x86_64"])
    account.version()

    # When preflight runs
    result = clp("--region", REGION, "--json")

    # Then both mismatches are named
    assert result.exit_code == 1
    [finding] = findings(result)
    assert finding["detail"] == (
        f"CompatibleRuntimes ['python3.12'] lacks {constants.LAMBDA_PYTHON_RUNTIME}; "
        f"CompatibleArchitectures ['x86_64'] lacks {LAMBDA_ARCHITECTURE}"
    )


def test_a_parameter_that_is_not_a_layer_arn_is_a_finding_without_a_lambda_call(account: StubbedAccount) -> None:
    # Given a parameter whose value does not match GetLayerVersionByArn's Arn pattern (botocore does not check it)
    account.identity()
    account.validations()
    account.layer_parameter("not-an-arn")
    account.version()

    # When preflight runs
    result = clp("--region", REGION, "--json")

    # Then it is a finding and Lambda is not asked
    [finding] = findings(result)
    assert finding["detail"] == "the parameter's value is not a layer version ARN"
    account.assert_all_asked()


# -- 4. the model version ----------------------------------------------------------------------------------------


def test_version_not_found_names_it(account: StubbedAccount) -> None:
    # Given a project without the configured version
    account.ok_up_to_the_version()
    account.version(found=False)

    # When preflight runs
    result = clp("--region", REGION, "--json")

    # Then the version is the one finding, by name
    assert result.exit_code == 1
    [finding] = findings(result)
    assert finding["detail"] == f"version not found: {MODEL.version_name} in {MODEL.project_arn}"


def test_project_not_found_is_a_finding(account: StubbedAccount) -> None:
    # Given no such project
    account.ok_up_to_the_version()
    account.stubs["rekognition"].add_client_error(
        "describe_project_versions", "ResourceNotFoundException", "project not found", 400
    )

    # When preflight runs
    result = clp("--region", REGION, "--json")

    # Then the project is named
    [finding] = findings(result)
    assert finding["detail"] == f"project not found: {MODEL.project_arn}"


def test_a_version_under_another_arn_is_a_finding(account: StubbedAccount) -> None:
    # Given the version name exists with another timestamp than cdk.json's ARN
    other = MODEL.project_version_arn.rsplit("/", 1)[0] + "/1767225699999"
    account.ok_up_to_the_version()
    account.version(arn=other)

    # When preflight runs
    result = clp("--region", REGION, "--json")

    # Then both ARNs are named (the stack's IAM policies name cdk.json's)
    [finding] = findings(result)
    assert other in finding["detail"] and MODEL.project_version_arn in finding["detail"]


@pytest.mark.parametrize("status", ["TRAINING_IN_PROGRESS", "TRAINING_FAILED", "DELETING", "DEPRECATED", "EXPIRED"])
def test_a_version_that_cannot_be_started_is_a_finding(account: StubbedAccount, status: str) -> None:
    # Given a version in a status StartProjectVersion cannot start from
    account.ok_up_to_the_version()
    account.version(status)

    # When preflight runs
    result = clp("--region", REGION, "--json")

    # Then the status is the finding
    assert result.exit_code == 1
    [finding] = findings(result)
    assert finding["detail"] == f"{status}: the controller cannot start it (m)"


@pytest.mark.parametrize("status", ["STOPPED", "FAILED", "TRAINING_COMPLETED", "COPYING_COMPLETED"])
def test_startable_versions_pass(account: StubbedAccount, status: str) -> None:
    # Given a version the controller can start (FAILED: a failed start can be retried)
    account.ok_up_to_the_version()
    account.version(status)

    # When preflight runs
    result = clp("--region", REGION, "--json")

    # Then it passes
    assert result.exit_code == 0, result.output
    assert row(result, "model version")["detail"] == f"{status}: startable"


def test_a_running_version_is_a_note_not_a_finding(account: StubbedAccount) -> None:
    # Given a version someone already started
    account.ok_up_to_the_version()
    account.version("RUNNING")

    # When preflight runs
    result = clp("--region", REGION, "--json")

    # Then it is a note that the controller will never stop it, and the exit status stays 0
    assert result.exit_code == 0, result.output
    version = row(result, "model version")
    assert version["status"] == "NOTE" and "never stops a model it did not start" in version["detail"]


# -- 5. the A2I flow definition ---------------------------------------------------------------------------------------

FLOW_NAME = "produce-review"
FLOW_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:flow-definition/{FLOW_NAME}"
A2I_OUTPUT = "s3://produce-a2i-output/reviews"


def _a2i_model(**review: Any) -> ModelConfig:
    """The cdk.json model, its review enabled and naming a flow definition and its output location."""
    policy = {"enabled": True, "a2i_flow_definition_arn": FLOW_ARN, "a2i_output_s3_uri": A2I_OUTPUT, **review}
    return MODEL.model_copy(update={"review": ReviewPolicy.model_validate(policy)})


def _a2i_config_file(tmp_path: Path) -> Path:
    document = json.loads(DEFAULT_CDK_JSON.read_text(encoding="utf-8"))
    document["context"]["pipeline"]["models"][0]["review"] = {
        "enabled": True,
        "a2i_flow_definition_arn": FLOW_ARN,
        "a2i_output_s3_uri": A2I_OUTPUT,
    }
    path = tmp_path / "cdk.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_a_models_flow_definition_is_checked_after_its_version(account: StubbedAccount, tmp_path: Path) -> None:
    # Given a config whose model starts A2I loops, and an account where everything, the flow definition too, is fine
    account.everything_ok()
    account.flow_definition(FLOW_NAME, arn=FLOW_ARN, output=A2I_OUTPUT + "/")

    # When preflight runs on that config
    result = clp("--config", str(_a2i_config_file(tmp_path)), "--region", REGION, "--json")

    # Then the flow definition was described by its name (the Stubber checks the request against botocore's model)
    # and is the last row, OK, with the output location it writes to (a trailing '/' names the same location)
    assert result.exit_code == 0, result.output
    last = rows(result)[-1]
    assert (last["check"], last["subject"], last["status"]) == ("a2i flow definition", MODEL.name, "OK")
    assert last["detail"] == f"Active, output {A2I_OUTPUT}/"
    account.assert_all_asked()


def test_without_a_flow_definition_nothing_is_asked_of_sagemaker(account: StubbedAccount) -> None:
    # Given cdk.json (no review block) and a ready account
    account.everything_ok()
    # When preflight runs
    result = clp("--region", REGION, "--json")
    # Then there is no A2I row (and the Stubber, holding no SageMaker answer, was not called)
    assert result.exit_code == 0, result.output
    assert "a2i flow definition" not in {r["check"] for r in rows(result)}
    assert preflight.a2i_models(CONFIG) == []


def test_a_disabled_review_naming_a_flow_definition_is_not_checked() -> None:
    # Given a model whose review names a flow definition but is switched off (the stack deploys no A2I for it)
    config = CONFIG.model_copy(update={"models": (_a2i_model(enabled=False),)})
    # Then preflight has no flow definition to check, while the same review enabled has one
    assert preflight.a2i_models(config) == []
    enabled = CONFIG.model_copy(update={"models": (_a2i_model(),)})
    assert [model.name for model in preflight.a2i_models(enabled)] == [MODEL.name]


def test_the_flow_definition_is_skipped_like_the_rest_without_credentials() -> None:
    # Given a config whose model starts A2I loops
    config = CONFIG.model_copy(update={"models": (_a2i_model(),)})
    # When the checks after the credentials are skipped / Then the flow definition's row is among them
    checks = preflight.Preflight(cast(Clients, None), config, stack=STACK, region=REGION, region_source="x")
    skipped = checks._skip_rest("why")
    assert skipped[-1] == preflight.Row("a2i flow definition", MODEL.name, Status.SKIPPED, "why")


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        ({"status": "Initializing"}, "Initializing, not Active"),
        (
            {"status": "Failed", "failure_reason": "role cannot be assumed"},
            "Failed, not Active (role cannot be assumed)",
        ),
        ({"status": "Deleting"}, "Deleting, not Active"),
        (
            {"output": "s3://produce-a2i-output/other"},
            "its OutputConfig.S3OutputPath is s3://produce-a2i-output/other, review.a2i_output_s3_uri says "
            + A2I_OUTPUT,
        ),
        (
            {"output": "https://produce-a2i-output.s3.amazonaws.com/reviews"},
            "its OutputConfig.S3OutputPath is https://produce-a2i-output.s3.amazonaws.com/reviews",
        ),
        (
            {"arn": f"arn:aws-us-gov:sagemaker:{REGION}:{ACCOUNT}:flow-definition/{FLOW_NAME}"},
            f"{FLOW_NAME} is arn:aws-us-gov:sagemaker",
        ),
    ],
)
def test_a_flow_definition_that_is_not_ready_or_writes_elsewhere_is_a_finding(
    answer: dict[str, str], detail: str
) -> None:
    # Given a flow definition the account describes with this status, output location or ARN
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    with Stubber(sagemaker) as stub:
        stub.add_response(
            "describe_flow_definition",
            {
                "FlowDefinitionArn": answer.get("arn", FLOW_ARN),
                "FlowDefinitionName": FLOW_NAME,
                "FlowDefinitionStatus": answer.get("status", "Active"),
                "CreationTime": "2026-01-05T00:00:00Z",
                "OutputConfig": {"S3OutputPath": answer.get("output", A2I_OUTPUT)},
                "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/a2i",
                **({"FailureReason": answer["failure_reason"]} if "failure_reason" in answer else {}),
            },
            {"FlowDefinitionName": FLOW_NAME},
        )
        # When preflight checks it
        found = preflight.check_flow_definition(sagemaker, _a2i_model(), account=ACCOUNT, region=REGION)
        stub.assert_no_pending_responses()

    # Then it is a finding saying what is wrong
    assert found.status is Status.FINDING
    assert found.detail.startswith(detail), found.detail


@pytest.mark.parametrize(
    ("error", "detail"),
    [
        ("ResourceNotFound", f"flow definition {FLOW_NAME} not found in {REGION}"),
        ("AccessDeniedException", "access denied: the caller needs sagemaker:DescribeFlowDefinition"),
        ("ThrottlingException", "AWS DescribeFlowDefinition failed: ThrottlingException"),
    ],
)
def test_a_flow_definition_aws_cannot_describe_is_a_finding(error: str, detail: str) -> None:
    # Given an account that answers DescribeFlowDefinition with this error
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    with Stubber(sagemaker) as stub:
        stub.add_client_error(
            "describe_flow_definition",
            service_error_code=error,
            service_message="m",
            http_status_code=400,
            expected_params={"FlowDefinitionName": FLOW_NAME},
        )
        # When preflight checks it / Then the error is a finding naming it
        found = preflight.check_flow_definition(sagemaker, _a2i_model(), account=ACCOUNT, region=REGION)
    assert found.status is Status.FINDING
    assert found.detail.startswith(detail), found.detail


@pytest.mark.parametrize(
    ("account_id", "region"),
    [("999999999999", REGION), (ACCOUNT, "eu-west-1")],
)
def test_a_flow_definition_beside_another_account_or_region_is_a_finding_without_a_call(
    account_id: str, region: str
) -> None:
    # Given a stack deployed to another account or region than the flow definition's
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    with Stubber(sagemaker) as stub:  # no answer queued: any call would fail the test
        # When preflight checks the flow definition
        found = preflight.check_flow_definition(sagemaker, _a2i_model(), account=account_id, region=region)
        stub.assert_no_pending_responses()

    # Then it is a finding naming both places, and SageMaker was not asked
    assert found.status is Status.FINDING
    assert found.detail.startswith(f"the flow definition is in account {ACCOUNT}, {REGION}; the stack deploys to ")
    assert f"account {account_id}, {region}" in found.detail


# -- access denied ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "action"),
    [
        ("stepfunctions", "states:ValidateStateMachineDefinition"),
        ("ssm", "ssm:GetParameter"),
        ("lambda", "lambda:GetLayerVersion"),
        ("rekognition", "rekognition:DescribeProjectVersions"),
    ],
)
def test_access_denied_names_the_missing_permission(account: StubbedAccount, service: str, action: str) -> None:
    # Given an account that denies one read-only call
    account.identity()
    denied = {
        "service_error_code": "AccessDeniedException",
        "service_message": "not authorized",
        "http_status_code": 400,
    }
    if service == "stepfunctions":
        for _ in range(2):
            account.stubs["stepfunctions"].add_client_error("validate_state_machine_definition", **denied)
    else:
        account.validations()
    if service == "ssm":
        account.stubs["ssm"].add_client_error("get_parameter", **denied)
    else:
        account.layer_parameter()
        if service == "lambda":
            account.stubs["lambda"].add_client_error("get_layer_version_by_arn", **denied)
        else:
            account.layer()
    if service == "rekognition":
        account.stubs["rekognition"].add_client_error("describe_project_versions", **denied)
    else:
        account.version()

    # When preflight runs
    result = clp("--region", REGION, "--json")

    # Then the finding names the permission, and nothing crashed
    assert result.exit_code == 1
    assert result.stderr == ""
    details = {f["detail"] for f in findings(result)}
    assert details == {f"access denied: the caller needs {action} (AccessDeniedException: not authorized)"}
    account.assert_all_asked()


# -- usage -----------------------------------------------------------------------------------------------------------


def test_a_bad_config_file_is_invalid_usage(tmp_path: Path) -> None:
    # Given a cdk.json whose pipeline block is invalid
    bad = tmp_path / "cdk.json"
    bad.write_text(json.dumps({"context": {"pipeline": {"models": []}}}), encoding="utf-8")

    # When preflight reads it
    result = clp("--config", str(bad), "--region", REGION)

    # Then it exits 2 with the field named and nothing on stdout
    assert result.exit_code == 2
    assert "pipeline.models" in result.stderr and result.stdout == ""


def test_help_names_the_real_runtime_and_architecture() -> None:
    # When --help is asked for
    result = runner.invoke(app, ["preflight", "--help"], env={"COLUMNS": "200"})

    # Then it names the runtime and architecture the code checks, and the WARNING rule
    assert result.exit_code == 0
    assert constants.LAMBDA_PYTHON_RUNTIME in result.stdout and LAMBDA_ARCHITECTURE in result.stdout
    assert "WARNING diagnostics are shown but are not findings" in result.stdout
