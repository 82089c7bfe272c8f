"""A user's AWS account as ``clp preflight`` sees it: real boto3 clients behind botocore Stubbers, so every
request is validated against the service models and answered as the account would."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.stub import Stubber

from clp.preflight import LAMBDA_ARCHITECTURE, definitions
from infra import constants
from infra.config import load_config

CONFIG = load_config()
MODEL = CONFIG.models[0]
ACCOUNT = MODEL.project_version_arn.split(":")[4]
REGION = MODEL.region
STACK = CONFIG.stack_name
LAYER_ARN = f"arn:aws:lambda:{REGION}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python314-arm64:27"
SERVICES = ("sts", "stepfunctions", "ssm", "lambda", "rekognition", "sagemaker")


class StubbedAccount:
    """Real boto3 clients behind Stubbers, handed to the command in place of ``Clients``; the ``expect_*``
    methods queue what the account answers, in the order the command asks."""

    def __init__(self) -> None:
        session = boto3.session.Session(region_name=REGION)
        self.clients = {service: session.client(service) for service in SERVICES}  # type: ignore[call-overload]
        self.stubs = {service: Stubber(client) for service, client in self.clients.items()}
        self.regions: list[str | None] = []

    def __call__(self, service: str) -> Any:
        return self.clients[service]

    def identity(self, account: str = ACCOUNT) -> None:
        self.stubs["sts"].add_response(
            "get_caller_identity",
            {"UserId": "AIDAEXAMPLE", "Account": account, "Arn": f"arn:aws:iam::{account}:user/deployer"},
            {},
        )

    def validations(self, region: str = REGION, results: list[dict[str, Any]] | None = None) -> None:
        documents = definitions(CONFIG, stack=STACK, account=ACCOUNT, region=region, partition="aws")
        for index, definition in enumerate(documents):
            answer = (results or [])[index] if results and index < len(results) else {"result": "OK"}
            self.stubs["stepfunctions"].add_response(
                "validate_state_machine_definition",
                {"diagnostics": [], **answer},
                {"definition": definition.document, "type": "STANDARD", "severity": "WARNING", "maxResults": 100},
            )

    def layer_parameter(self, value: str = LAYER_ARN) -> None:
        name = constants.POWERTOOLS_LAYER_SSM_PARAMETER
        self.stubs["ssm"].add_response(
            "get_parameter",
            {"Parameter": {"Name": name, "Type": "String", "Value": value, "Version": 1}},
            {"Name": name},
        )

    def layer(self, runtimes: list[str] | None = None, architectures: list[str] | None = None) -> None:
        self.stubs["lambda"].add_response(
            "get_layer_version_by_arn",
            {
                "LayerVersionArn": LAYER_ARN,
                "Version": 27,
                "CompatibleRuntimes": runtimes if runtimes is not None else [constants.LAMBDA_PYTHON_RUNTIME],
                "CompatibleArchitectures": architectures if architectures is not None else [LAMBDA_ARCHITECTURE],
            },
            {"Arn": LAYER_ARN},
        )

    def version(self, status: str = "STOPPED", *, found: bool = True, arn: str = MODEL.project_version_arn) -> None:
        descriptions = [{"ProjectVersionArn": arn, "Status": status, "StatusMessage": "m"}] if found else []
        self.stubs["rekognition"].add_response(
            "describe_project_versions",
            {"ProjectVersionDescriptions": descriptions},
            {"ProjectArn": MODEL.project_arn, "VersionNames": [MODEL.version_name]},
        )

    def flow_definition(
        self, name: str, *, arn: str, output: str, status: str = "Active", failure_reason: str | None = None
    ) -> None:
        """DescribeFlowDefinition's answer for ``name`` (required members of botocore's sagemaker model)."""
        answer: dict[str, Any] = {
            "FlowDefinitionArn": arn,
            "FlowDefinitionName": name,
            "FlowDefinitionStatus": status,
            "CreationTime": datetime(2026, 1, 5, tzinfo=UTC),
            "OutputConfig": {"S3OutputPath": output},
            "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/a2i-flow-definition",
        }
        if failure_reason is not None:
            answer["FailureReason"] = failure_reason
        self.stubs["sagemaker"].add_response("describe_flow_definition", answer, {"FlowDefinitionName": name})

    def ok_up_to_the_version(self) -> None:
        """Every check before the model version passes (identity, definitions, layer)."""
        self.identity()
        self.validations()
        self.layer_parameter()
        self.layer()

    def everything_ok(self) -> None:
        self.ok_up_to_the_version()
        self.version()

    def assert_all_asked(self) -> None:
        for stub in self.stubs.values():
            stub.assert_no_pending_responses()
