"""``clp preflight``: what only the target AWS account can answer, asked before CloudFormation asks it.

Read-only: every call is a Get/Describe/Validate (and ``sts:GetCallerIdentity``, which needs no
permission). The checks, in order, each one or more rows of ``check, subject, status, detail``:

1. region and credentials: a target region, working credentials (``GetCallerIdentity``), and every
   model ARN in that account and region;
2. the controller and backfill definition of every model through Step Functions' own validator
   (``ValidateStateMachineDefinition``), built by the loader CDK uses (infra/statemachines), with
   well-formed stand-ins for the values CloudFormation resolves at deploy time;
3. the public Powertools layer parameter (``ssm:GetParameter``; the deploy resolves it) and the layer
   version it names (``lambda:GetLayerVersionByArn``): it exists and fits the runtime and arm64;
4. every model version (``rekognition:DescribeProjectVersions``): it exists and can be started;
5. the Amazon A2I flow definition of every model whose review names one (``sagemaker:DescribeFlowDefinition``):
   in the stack's account and region, ``Active``, and writing where the config says (``OutputConfig.S3OutputPath``
   = ``review.a2i_output_s3_uri``, which scopes the ingest function's read).

The command (clp/commands/preflight.py) parses options, :class:`Preflight` owns the clients and
collects the rows, and the command's renderer draws them (the split of every clp command).
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import boto3
from botocore.exceptions import ClientError, NoCredentialsError

from clp.deployment import Clients
from infra import constants
from infra.config import LifecycleMode, ModelConfig, PipelineConfig
from infra.statemachines import deployed_backfill, deployed_controller
from lambdas.common import contract
from lambdas.review.models import split_s3_output_uri

# Both state machines are STANDARD workflows (infra/constructs/controller.py, backfill.py).
STATE_MACHINE_TYPE = "STANDARD"
# WARNING returns warnings and errors (the API's default, ERROR, would hide the warnings).
VALIDATOR_SEVERITY = "WARNING"
VALIDATOR_MAX_RESULTS = 100  # the API's maximum per call
# The detect function's architecture (infra/constructs/detection.py: Architecture.ARM_64).
LAMBDA_ARCHITECTURE = "arm64"
# A failed start can be retried; a trained or copied version has never run; STOPPED has run before.
STARTABLE_STATUSES = ("STOPPED", "FAILED", "TRAINING_COMPLETED", "COPYING_COMPLETED")
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
# What STS answers for credentials that exist but do not work (expired, revoked, mistyped).
CREDENTIALS_REJECTED_CODES = frozenset(
    {"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "SignatureDoesNotMatch"}
)
# DescribeFlowDefinition's FlowDefinitionStatus: Initializing | Active | Failed | Deleting (botocore's sagemaker
# 2017-07-24 model); the pipeline starts loops on the flow definition, so anything but Active is a finding.
FLOW_DEFINITION_ACTIVE = "Active"
# CloudFormation names a resource without an explicit name "<stack>-<logical id>-<random suffix>".
_GENERATED_SUFFIX = "PREFLIGHT0EXAMPLE"
_ARN = re.compile(r"^arn:(?P<partition>[^:]+):[^:]+:(?P<region>[^:]*):(?P<account>\d*):")


class Status(StrEnum):
    OK = "OK"
    FINDING = "FINDING"
    WARNING = "WARNING"  # shown, not a finding (a validator WARNING does not stop a deploy)
    NOTE = "NOTE"
    SKIPPED = "SKIPPED"


@dataclass(frozen=True)
class Row:
    """One line of the report."""

    check: str
    subject: str
    status: Status
    detail: str


@dataclass(frozen=True)
class Definition:
    """A state machine definition as CloudFormation would create it, except ``deploy_time``: placeholders
    whose template values are resolved by CloudFormation (Ref / pseudo parameters), stood in for here."""

    kind: str  # "controller" or "backfill"
    model: str
    document: str
    deploy_time: dict[str, str]


# -- the definitions CDK deploys -----------------------------------------------------------------------


def _generated(stack: str, hint: str) -> str:
    return f"{stack}-{hint}-{_GENERATED_SUFFIX}"


def definitions(config: PipelineConfig, *, stack: str, account: str, region: str, partition: str) -> list[Definition]:
    """The controller and backfill definition of every model, substituted as in infra/constructs.

    Config values are the real ones; values CloudFormation resolves at deploy time get well-formed
    stand-ins built from the account, region, stack and resource prefix (the names CloudFormation
    generates end in a random suffix nobody can know before the deploy).
    """
    result: list[Definition] = []
    prefix = config.resource_prefix
    for model in config.models:
        on_demand = model.lifecycle.mode in (LifecycleMode.ON_DEMAND, LifecycleMode.BOTH)
        queue_url = f"https://sqs.{region}.amazonaws.com/{account}/{_generated(stack, f'{model.name}-queue')}"
        controller_values = {
            "QueueUrl": queue_url,
            "EventSourceMappingId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{stack}/{model.name}/mapping")),
            "ControlTableName": _generated(stack, "control-table"),
            "EventBusName": f"{prefix}-events",  # named by infra/constructs/events_bus.py
        }
        if on_demand:  # otherwise the template carries the literal constants.NO_BACKLOG_ALARM
            controller_values["BacklogAlarmName"] = _generated(stack, f"{model.name}-backlog-alarm")
        controller = deployed_controller(
            config,
            model,
            queue_url=controller_values["QueueUrl"],
            event_source_mapping_id=controller_values["EventSourceMappingId"],
            control_table_name=controller_values["ControlTableName"],
            event_bus_name=controller_values["EventBusName"],
            backlog_alarm_name=controller_values.get("BacklogAlarmName", ""),
        )
        result.append(Definition("controller", model.name, controller, controller_values))
        backfill_values = {
            "BucketName": config.bucket_name or f"{stack.lower()[:40]}-uploads-{_GENERATED_SUFFIX.lower()}",
            "QueueUrl": queue_url,
            "ResultsTableName": _generated(stack, "results-table"),
            # named by infra/constructs/controller.py
            "ControllerStateMachineArn": f"arn:{partition}:states:{region}:{account}:stateMachine:"
            f"{prefix}-{model.name}-controller",
            "Region": region,
            "Partition": partition,
        }
        backfill = deployed_backfill(
            config,
            model,
            bucket_name=backfill_values["BucketName"],
            queue_url=backfill_values["QueueUrl"],
            results_table_name=backfill_values["ResultsTableName"],
            controller_state_machine_arn=backfill_values["ControllerStateMachineArn"],
            region=region,
            partition=partition,
        )
        result.append(Definition("backfill", model.name, backfill, backfill_values))
    return result


# -- the checks ------------------------------------------------------------------------------------------


def _error(exc: ClientError) -> tuple[str, str]:
    error = exc.response.get("Error", {})
    return str(error.get("Code", "Unknown")), str(error.get("Message", ""))


def _failed(check: str, subject: str, action: str, exc: ClientError) -> Row:
    """A call that AWS refused: a missing permission is named, anything else is quoted."""
    code, message = _error(exc)
    if code in ACCESS_DENIED_CODES:
        return Row(check, subject, Status.FINDING, f"access denied: the caller needs {action} ({code}: {message})")
    operation = getattr(exc, "operation_name", action)
    return Row(check, subject, Status.FINDING, f"AWS {operation} failed: {code}: {message}")


def _arn_part(arn: str, part: str) -> str:
    match = _ARN.match(arn)
    return match[part] if match else ""


def validate_definition(sfn: Any, definition: Definition) -> list[Row]:
    """Step Functions' validator on one definition: a row for the result, one per diagnostic."""
    check, subject = f"{definition.kind} definition", definition.model
    limits = sfn.meta.service_model.operation_model("ValidateStateMachineDefinition").input_shape
    maximum = int(limits.members["definition"].metadata["max"])
    size = len(definition.document.encode("utf-8"))
    # botocore checks only the minimum length of a string parameter; the service refuses the maximum.
    if size > maximum:
        return [Row(check, subject, Status.FINDING, f"definition is {size:,} bytes; the limit is {maximum:,}")]
    try:
        response = sfn.validate_state_machine_definition(
            definition=definition.document,
            type=STATE_MACHINE_TYPE,
            severity=VALIDATOR_SEVERITY,
            maxResults=VALIDATOR_MAX_RESULTS,
        )
    except ClientError as exc:
        return [_failed(check, subject, "states:ValidateStateMachineDefinition", exc)]
    diagnostics = response.get("diagnostics", [])
    errors = [d for d in diagnostics if d.get("severity") == "ERROR"]
    stood_in = ", ".join(sorted(definition.deploy_time))
    truncated = (
        f"; more than {VALIDATOR_MAX_RESULTS} diagnostics, the rest not shown" if response.get("truncated") else ""
    )
    rows: list[Row] = []
    if response["result"] == "OK" and not errors:
        rows.append(
            Row(
                check,
                subject,
                Status.OK,
                f"validator: OK ({size:,} bytes; deploy-time values stood in: {stood_in}){truncated}",
            )
        )
    else:
        rows.append(
            Row(
                check,
                subject,
                Status.FINDING,
                f"validator: {response['result']}, {len(errors)} error(s) (deploy-time values stood in: {stood_in})"
                f"{truncated}",
            )
        )
    for diagnostic in diagnostics:
        where = f" at {diagnostic['location']}" if diagnostic.get("location") else ""
        status = Status.FINDING if diagnostic.get("severity") == "ERROR" else Status.WARNING
        rows.append(Row(check, subject, status, f"{diagnostic['code']}{where}: {diagnostic['message']}"))
    return rows


def check_layer(ssm: Any, lambda_: Any, region: str) -> list[Row]:
    """The Powertools layer the stack resolves at deploy time: the public parameter, then the layer version."""
    name = constants.POWERTOOLS_LAYER_SSM_PARAMETER
    try:
        arn = str(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    except ClientError as exc:
        if _error(exc)[0] == "ParameterNotFound":
            return [
                Row(
                    "layer parameter",
                    name,
                    Status.FINDING,
                    f"public SSM parameter {name} does not exist in {region}: the deploy would fail resolving it "
                    f"(no Powertools {constants.POWERTOOLS_VERSION} layer for {constants.LAMBDA_PYTHON_RUNTIME} "
                    f"{LAMBDA_ARCHITECTURE} published there)",
                ),
                Row("layer version", "-", Status.SKIPPED, "no layer ARN to check"),
            ]
        return [
            _failed("layer parameter", name, "ssm:GetParameter", exc),
            Row("layer version", "-", Status.SKIPPED, "no layer ARN to check"),
        ]
    rows = [Row("layer parameter", name, Status.OK, arn)]
    pattern = lambda_.meta.service_model.operation_model("GetLayerVersionByArn").input_shape.members["Arn"]
    # botocore does not check patterns; a value that is not a layer version ARN would fail the deploy.
    if not re.fullmatch(pattern.metadata["pattern"], arn):
        return [*rows, Row("layer version", arn, Status.FINDING, "the parameter's value is not a layer version ARN")]
    try:
        layer = lambda_.get_layer_version_by_arn(Arn=arn)
    except ClientError as exc:
        if _error(exc)[0] == "ResourceNotFoundException":
            return [*rows, Row("layer version", arn, Status.FINDING, f"layer version not found in {region}")]
        return [*rows, _failed("layer version", arn, "lambda:GetLayerVersion", exc)]
    runtimes = list(layer.get("CompatibleRuntimes", []))
    architectures = list(layer.get("CompatibleArchitectures", []))
    problems = []
    if constants.LAMBDA_PYTHON_RUNTIME not in runtimes:
        problems.append(f"CompatibleRuntimes {runtimes} lacks {constants.LAMBDA_PYTHON_RUNTIME}")
    if LAMBDA_ARCHITECTURE not in architectures:
        problems.append(f"CompatibleArchitectures {architectures} lacks {LAMBDA_ARCHITECTURE}")
    if problems:
        return [*rows, Row("layer version", arn, Status.FINDING, "; ".join(problems))]
    detail = f"version {layer.get('Version')}: {constants.LAMBDA_PYTHON_RUNTIME}, {LAMBDA_ARCHITECTURE}"
    return [*rows, Row("layer version", arn, Status.OK, detail)]


def check_version(rekognition: Any, model: ModelConfig) -> Row:
    """The model version exists (under the configured ARN) and can be started by the controller."""
    check, subject = "model version", model.name
    try:
        response = rekognition.describe_project_versions(
            ProjectArn=model.project_arn, VersionNames=[model.version_name]
        )
    except ClientError as exc:
        if _error(exc)[0] == "ResourceNotFoundException":
            return Row(check, subject, Status.FINDING, f"project not found: {model.project_arn}")
        return _failed(check, subject, "rekognition:DescribeProjectVersions", exc)
    descriptions = response.get("ProjectVersionDescriptions", [])
    if not descriptions:
        return Row(check, subject, Status.FINDING, f"version not found: {model.version_name} in {model.project_arn}")
    found = descriptions[0]
    if found.get("ProjectVersionArn") != model.project_version_arn:
        # The stack's IAM policies name the configured ARN: another ARN would be denied at run time.
        return Row(
            check,
            subject,
            Status.FINDING,
            f"version {model.version_name} is {found.get('ProjectVersionArn')}, cdk.json says "
            f"{model.project_version_arn}",
        )
    status = str(found.get("Status"))
    if status == "RUNNING":
        return Row(
            check,
            subject,
            Status.NOTE,
            "RUNNING now: the controller will use it, but never stops a model it did not start itself",
        )
    if status in STARTABLE_STATUSES:
        return Row(check, subject, Status.OK, f"{status}: startable")
    message = f" ({found['StatusMessage']})" if found.get("StatusMessage") else ""
    return Row(check, subject, Status.FINDING, f"{status}: the controller cannot start it{message}")


def a2i_models(config: PipelineConfig) -> list[ModelConfig]:
    """The models whose stack starts A2I human loops (``ReviewPolicy.starts_a2i_loops``, as infra/pipeline.py)."""
    return [model for model in config.models if model.review.starts_a2i_loops]


def _same_output(configured: str, actual: str) -> bool:
    """Whether two S3 output paths name the same location (``s3://b/a2i`` = ``s3://b/a2i/``)."""
    try:
        return split_s3_output_uri(configured) == split_s3_output_uri(actual)
    except ValueError:  # the flow definition's own path may be in the https:// form, or malformed
        return False


def check_flow_definition(sagemaker: Any, model: ModelConfig, *, account: str, region: str) -> Row:
    """The model's A2I flow definition: beside the stack, Active, and writing to the configured output location."""
    check, subject = "a2i flow definition", model.name
    arn, configured = model.review.a2i_flow_definition_arn, model.review.a2i_output_s3_uri
    match = contract.FLOW_DEFINITION_ARN_PATTERN.match(arn or "")
    assert match and configured  # ReviewPolicy validated both
    if (match["account"], match["region"]) != (account, region):
        # A2I's status events are AWS service events: they reach the default bus of the flow definition's own
        # account and region, and the ingest rule listens on the stack's. DescribeFlowDefinition takes a name only
        # and so describes flow definitions of the caller's account and region.
        return Row(
            check,
            subject,
            Status.FINDING,
            f"the flow definition is in account {match['account']}, {match['region']}; the stack deploys to account "
            f"{account}, {region}, where the ingest rule would never see its human loops finish",
        )
    try:
        found = sagemaker.describe_flow_definition(FlowDefinitionName=match["name"])
    except ClientError as exc:
        if _error(exc)[0] == "ResourceNotFound":
            return Row(check, subject, Status.FINDING, f"flow definition {match['name']} not found in {region}")
        return _failed(check, subject, "sagemaker:DescribeFlowDefinition", exc)
    if found.get("FlowDefinitionArn") != arn:
        return Row(
            check, subject, Status.FINDING, f"{match['name']} is {found.get('FlowDefinitionArn')}, cdk.json says {arn}"
        )
    status = str(found.get("FlowDefinitionStatus"))
    if status != FLOW_DEFINITION_ACTIVE:
        reason = f" ({found['FailureReason']})" if found.get("FailureReason") else ""
        return Row(check, subject, Status.FINDING, f"{status}, not {FLOW_DEFINITION_ACTIVE}{reason}")
    actual = str(found.get("OutputConfig", {}).get("S3OutputPath"))
    if not _same_output(configured, actual):
        return Row(
            check,
            subject,
            Status.FINDING,
            f"its OutputConfig.S3OutputPath is {actual}, review.a2i_output_s3_uri says {configured}: the ingest "
            "function may read only under the configured one",
        )
    return Row(check, subject, Status.OK, f"{FLOW_DEFINITION_ACTIVE}, output {actual}")


class Preflight:
    """Owns the clients and collects the rows (see the module docstring for the checks)."""

    def __init__(
        self, clients: Clients, config: PipelineConfig, *, stack: str, region: str | None, region_source: str
    ) -> None:
        self.clients = clients
        self.config = config
        self.stack = stack
        self.region = region
        self.region_source = region_source
        self.account: str | None = None

    def _skip_rest(self, reason: str) -> list[Row]:
        rows = []
        for model in self.config.models:
            rows += [
                Row("model account", model.name, Status.SKIPPED, reason),
                Row("model region", model.name, Status.SKIPPED, reason),
            ]
        for kind in ("controller", "backfill"):
            rows += [Row(f"{kind} definition", m.name, Status.SKIPPED, reason) for m in self.config.models]
        rows.append(Row("layer parameter", constants.POWERTOOLS_LAYER_SSM_PARAMETER, Status.SKIPPED, reason))
        rows.append(Row("layer version", "-", Status.SKIPPED, reason))
        rows += [Row("model version", m.name, Status.SKIPPED, reason) for m in self.config.models]
        rows += [Row("a2i flow definition", m.name, Status.SKIPPED, reason) for m in a2i_models(self.config)]
        return rows

    def _identity(self) -> Row:
        try:
            identity = self.clients("sts").get_caller_identity()
        except NoCredentialsError:
            return Row(
                "credentials",
                "-",
                Status.FINDING,
                "no AWS credentials found: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), "
                "or run `aws sso login`",
            )
        except ClientError as exc:
            code, message = _error(exc)
            if code in CREDENTIALS_REJECTED_CODES:
                return Row("credentials", "-", Status.FINDING, f"AWS rejected the credentials: {code}: {message}")
            raise
        self.account = str(identity["Account"])
        return Row("credentials", str(identity.get("Arn", "-")), Status.OK, f"account {self.account}")

    def _arns(self, model: ModelConfig) -> tuple[list[Row], bool]:
        """Account and region of the model's ARNs against the credentials and the target region."""
        account, region = _arn_part(model.project_version_arn, "account"), model.region
        rows = [
            Row("model account", model.name, Status.OK, account)
            if account == self.account
            else Row(
                "model account",
                model.name,
                Status.FINDING,
                f"the model is in account {account}, the credentials are for account {self.account}",
            ),
            Row("model region", model.name, Status.OK, region)
            if region == self.region
            else Row(
                "model region",
                model.name,
                Status.FINDING,
                f"the model is in {region}, the target region is {self.region} ({self.region_source}): "
                "deploy where the model is",
            ),
        ]
        return rows, account == self.account and region == self.region

    def run(self) -> list[Row]:
        if not self.region:
            return [
                Row(
                    "region",
                    "-",
                    Status.FINDING,
                    "no AWS region: pass --region, or set AWS_REGION or a region in your AWS profile "
                    "(the CDK CLI would fall back to us-east-1)",
                ),
                Row("credentials", "-", Status.SKIPPED, "needs a region"),
                *self._skip_rest("needs a region"),
            ]
        rows = [Row("region", self.region, Status.OK, f"target region (from {self.region_source})")]
        identity = self._identity()
        rows.append(identity)
        if identity.status is not Status.OK:
            return rows + self._skip_rest("needs working credentials")
        assert self.account is not None
        reachable: list[ModelConfig] = []
        for model in self.config.models:
            arn_rows, ok = self._arns(model)
            rows += arn_rows
            if ok:
                reachable.append(model)
        partition = boto3.session.Session().get_partition_for_region(self.region)
        sfn = self.clients("stepfunctions")
        for definition in definitions(
            self.config, stack=self.stack, account=self.account, region=self.region, partition=partition
        ):
            rows += validate_definition(sfn, definition)
        rows += check_layer(self.clients("ssm"), self.clients("lambda"), self.region)
        for model in self.config.models:
            if model in reachable:
                rows.append(check_version(self.clients("rekognition"), model))
            else:
                rows.append(Row("model version", model.name, Status.SKIPPED, "its ARN is in another account or region"))
        for model in a2i_models(self.config):
            rows.append(
                check_flow_definition(self.clients("sagemaker"), model, account=self.account, region=self.region)
            )
        return rows


# -- what the rows add up to --------------------------------------------------------------------------------


def findings(rows: list[Row]) -> int:
    return sum(1 for row in rows if row.status is Status.FINDING)


def resolve_region(region: str | None) -> tuple[str | None, str]:
    """The target region and where it came from: --region, AWS_REGION (what the CDK CLI reads first,
    and boto3 does not), else boto3's own chain (AWS_DEFAULT_REGION, the profile)."""
    if region:
        return region, "--region"
    if os.environ.get("AWS_REGION"):
        return os.environ["AWS_REGION"], "AWS_REGION"
    return boto3.session.Session().region_name, "AWS configuration"
