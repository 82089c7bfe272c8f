"""Backfill: label the objects that already exist under a model's prefix (docs/operations.md).

One Step Functions STANDARD workflow per model, ``infra/statemachines/backfill.asl.json``: a Distributed
Map lists the prefix (``s3:listObjectsV2`` ItemReader), batches ten objects per child execution, skips
objects that already have a result of the model version, sends the rest to the model's detect queue as
S3 event notifications (``sqs:SendMessageBatch``) and starts the model controller (trigger ``backfill``).
"""

from __future__ import annotations

from aws_cdk import (
    ArnFormat,
    Stack,
    aws_dynamodb as dynamodb,
    aws_iam as iam,
    aws_s3 as s3,
    aws_sqs as sqs,
    aws_stepfunctions as sfn,
)
from constructs import Construct

from infra import constants
from infra.config import ConfigError, ModelConfig, PipelineConfig
from infra.constructs.states import state_machine_logs_and_role
from infra.nag import acknowledge, nag_arn
from infra.statemachines import backfill_definition, backfill_substitutions


class ModelBackfill(Construct):
    """The backfill state machine of one model, its role and logs.

    Attributes: ``state_machine``, ``role``, ``log_group``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        model: ModelConfig,
        bucket: s3.IBucket,
        queue: sqs.IQueue,
        results_table: dynamodb.ITable,
        controller: sfn.IStateMachine,
    ) -> None:
        super().__init__(scope, construct_id)
        results_prefix = constants.BACKFILL_RESULTS_PREFIX
        if model.prefix.startswith(results_prefix) or results_prefix.startswith(model.prefix):
            # The Distributed Map writes its result files there: they must never reach a detect queue.
            raise ConfigError(f"pipeline.models.{model.name}.prefix: must not overlap {results_prefix!r}")
        stack = Stack.of(self)
        name = f"{config.resource_prefix}-{model.name}-backfill"
        self.log_group, self.role = state_machine_logs_and_role(
            self,
            name=name,
            config=config,
            description=f"Backfill of {model.name}: list its prefix, enqueue objects, start its controller",
        )
        # The state machine's own ARN, built from its fixed name (a token reference would be circular).
        own_arn = stack.format_arn(
            service="states", resource="stateMachine", resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
        )
        own_executions = stack.format_arn(
            service="states", resource="execution", resource_name=f"{name}:*", arn_format=ArnFormat.COLON_RESOURCE_NAME
        )
        statements = [
            iam.PolicyStatement(
                sid="ListTheModelPrefix",
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{model.prefix}*"]}},
            ),
            iam.PolicyStatement(
                sid="WriteMapRunResults",
                # What the Step Functions docs list for ResultWriter (multipart for large result files),
                # only under its own prefix.
                actions=["s3:PutObject", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"],
                resources=[bucket.arn_for_objects(f"{results_prefix}{model.name}/*")],
            ),
            iam.PolicyStatement(
                sid="SkipObjectsWithAResult",
                actions=["dynamodb:Query"],
                resources=[results_table.table_arn],
            ),
            iam.PolicyStatement(sid="EnqueueObjects", actions=["sqs:SendMessage"], resources=[queue.queue_arn]),
            iam.PolicyStatement(
                sid="StartTheModelController",
                actions=["states:StartExecution"],
                resources=[controller.state_machine_arn],
            ),
            # Exactly what the Step Functions guide "IAM policies for using Distributed Map states" lists for
            # running one: StartExecution on the state machine itself, DescribeExecution on its executions.
            iam.PolicyStatement(sid="RunTheDistributedMap", actions=["states:StartExecution"], resources=[own_arn]),
            iam.PolicyStatement(
                sid="DescribeItsExecutions", actions=["states:DescribeExecution"], resources=[own_executions]
            ),
        ]
        for statement in statements:
            self.role.add_to_policy(statement)

        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(backfill_definition()),
            definition_substitutions=backfill_substitutions(
                config,
                model,
                bucket_name=bucket.bucket_name,
                queue_url=queue.queue_url,
                results_table_name=results_table.table_name,
                controller_state_machine_arn=controller.state_machine_arn,
                region=stack.region,
                partition=stack.partition,
            ),
            role=self.role,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            tracing_enabled=True,
        )
        bucket_resource = bucket.node.default_child
        assert isinstance(bucket_resource, s3.CfnBucket)
        bucket_id = stack.resolve(stack.get_logical_id(bucket_resource))
        acknowledge(
            self.role,
            "AwsSolutions-IAM5",
            "Wildcards are confined to this backfill: its own executions (names are generated per run), result "
            "files under its own results prefix, and Step Functions log delivery / X-Ray, which support no "
            "resource-level permissions.",
            applies_to=[
                "Resource::*",
                f"Resource::{nag_arn(self, 'states', f'execution:{name}:*')}",
                f"Resource::<{bucket_id}.Arn>/{results_prefix}{model.name}/*",
            ],
        )
