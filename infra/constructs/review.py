"""Amazon A2I for one model (optional, when its ``review`` block names ``a2i_flow_definition_arn``).

* **Start**: the pipeline bus's ``Custom Labels Review Requested`` events of this model → the starter function →
  ``StartHumanLoop`` on the model's flow definition (``lambdas/a2i/start_handler.py``).
* **Ingest**: A2I's ``SageMaker A2I HumanLoop Status Change`` events of that flow definition (AWS service events
  reach the account's default bus) → the ingest function → the loop's ``output.json`` → the results table
  (REVIEWED, conditional) and ``Custom Labels Reviewed`` on the pipeline's bus (``lambdas/a2i/handler.py``).

IAM: ``sagemaker:StartHumanLoop`` on the flow definition only; ``s3:GetObject`` under the flow definition's own
output folder only (A2I writes ``<S3OutputPath>/<flow definition name>/YYYY/MM/DD/hh/mm/ss/<loop>/output.json``,
SageMaker Developer Guide, "Amazon A2I Output Data"); UpdateItem/GetItem on the results table; PutEvents on the
pipeline's bus. The flow definition, its worker task template, workforce and output bucket are the user's: the
S3 output path is passed in (``output_s3_uri``) because only it scopes the read.
"""

from __future__ import annotations

from aws_cdk import (
    Aws,
    Duration,
    aws_dynamodb as dynamodb,
    aws_events as events,
    aws_events_targets as targets,
    aws_iam as iam,
    aws_lambda as lambda_,
    aws_logs as logs,
)
from constructs import Construct

from infra import constants
from infra.constructs.alarms import dead_letter_alarm, dead_letter_queue
from infra.constructs.detection import log_retention
from infra.nag import acknowledge
from lambdas.a2i.models import A2I_EVENT_SOURCE, DETAIL_TYPE_HUMAN_LOOP_STATUS
from lambdas.common import contract
from lambdas.review.models import split_s3_output_uri


def flow_definition_name(arn: str) -> str:
    match = contract.FLOW_DEFINITION_ARN_PATTERN.match(arn)
    if match is None:
        raise ValueError(f"not a flow definition ARN ({contract.FLOW_DEFINITION_ARN_SHAPE}): {arn!r}")
    return match["name"]


class A2iReview(Construct):
    """The starter and ingest functions of one model's A2I flow definition, their rules and permissions."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model_name: str,
        flow_definition_arn: str,
        output_s3_uri: str,
        table: dynamodb.ITable,
        bus: events.IEventBus,
        code: lambda_.Code,
        powertools: lambda_.ILayerVersion,
        log_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.flow_definition_arn = flow_definition_arn
        # The config's own parser (ReviewPolicy validates the same URI with it): (bucket, prefix without '/').
        bucket, prefix = split_s3_output_uri(output_s3_uri)
        folder = "/".join(part for part in (prefix, flow_definition_name(flow_definition_arn)) if part)
        self.output_objects_arn = f"arn:{Aws.PARTITION}:s3:::{bucket}/{folder}/*"
        self._retention = log_retention(log_retention_days)

        self.dead_letter_queue = dead_letter_queue(self)
        acknowledge(
            self.dead_letter_queue,
            "AwsSolutions-SQS3",
            "This queue is the dead-letter queue of the A2I rules' targets.",
        )
        # Like the detect queues' (infra/constructs/detection.py): any message here is a review request that
        # started no loop, or a finished loop whose decision was not recorded. The pipeline sends it to its topic.
        self.dlq_alarm = dead_letter_alarm(
            self, self.dead_letter_queue, f"{model_name}: A2I events in the dead-letter queue (see docs/a2i.md)"
        )
        environment = {
            "MODEL_NAME": model_name,
            "FLOW_DEFINITION_ARN": flow_definition_arn,
            "POWERTOOLS_SERVICE_NAME": constants.SERVICE_NAME,
            "POWERTOOLS_METRICS_NAMESPACE": constants.METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }

        self.start_function, self.start_role = self._function(
            "Start",
            f"{model_name}: start an A2I human loop for a result pending review",
            constants.A2I_START_HANDLER,
            environment,
            code,
            powertools,
        )
        self.grant_start_human_loop(self.start_role)
        self.start_rule = events.Rule(
            self,
            "StartRule",
            description=f"{model_name}: results pending review start an A2I human loop",
            event_bus=bus,
            event_pattern=events.EventPattern(
                source=[contract.EVENT_SOURCE],
                detail_type=[contract.DETAIL_TYPE_REVIEW_REQUESTED],
                detail={"model_name": [model_name]},
            ),
        )
        self.start_rule.add_target(self._target(self.start_function))

        ingest_environment = {
            **environment,
            "A2I_OUTPUT_S3_URI": output_s3_uri,
            "RESULTS_TABLE": table.table_name,
            "EVENT_BUS_NAME": bus.event_bus_name,
        }
        self.ingest_function, self.ingest_role = self._function(
            "Ingest",
            f"{model_name}: record the decisions of finished A2I human loops",
            constants.A2I_INGEST_HANDLER,
            ingest_environment,
            code,
            powertools,
        )
        self.ingest_role.add_to_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[self.output_objects_arn])
        )
        # ReviewStore: the conditional UpdateItem of a decision, GetItem to republish, never the indexes.
        self.ingest_role.add_to_policy(
            iam.PolicyStatement(actions=["dynamodb:GetItem", "dynamodb:UpdateItem"], resources=[table.table_arn])
        )
        bus.grant_put_events_to(self.ingest_role)
        # A2I's status events are AWS service events: they arrive on the account's default bus.
        self.ingest_rule = events.Rule(
            self,
            "IngestRule",
            description=f"{model_name}: finished A2I human loops of its flow definition",
            event_pattern=events.EventPattern(
                source=[A2I_EVENT_SOURCE],
                detail_type=[DETAIL_TYPE_HUMAN_LOOP_STATUS],
                detail={"flowDefinitionArn": [flow_definition_arn]},
            ),
        )
        self.ingest_rule.add_target(self._target(self.ingest_function))
        acknowledge(
            self.ingest_role,
            "AwsSolutions-IAM5",
            "A2I names each output object by date and human loop; s3:GetObject is limited to this flow "
            "definition's own folder of its output location.",
            applies_to=[f"Resource::arn:<AWS::Partition>:s3:::{bucket}/{folder}/*"],
        )

    def grant_start_human_loop(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` start human loops on this flow definition only (StartHumanLoop's resource is the flow
        definition: Service Authorization Reference, Amazon SageMaker AI, ``StartHumanLoop``)."""
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=["sagemaker:StartHumanLoop"], resource_arns=[self.flow_definition_arn]
        )

    def _target(self, function: lambda_.IFunction) -> targets.LambdaFunction:
        return targets.LambdaFunction(
            function,
            dead_letter_queue=self.dead_letter_queue,
            retry_attempts=constants.A2I_RULE_RETRY_ATTEMPTS,
            max_event_age=Duration.hours(constants.A2I_RULE_MAX_EVENT_AGE_HOURS),
        )

    def _function(
        self,
        name: str,
        description: str,
        handler: str,
        environment: dict[str, str],
        code: lambda_.Code,
        powertools: lambda_.ILayerVersion,
    ) -> tuple[lambda_.Function, iam.Role]:
        log_group = logs.LogGroup(self, f"{name}Logs", retention=self._retention)
        role = iam.Role(
            self, f"{name}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=description
        )
        log_group.grant_write(role)
        function = lambda_.Function(
            self,
            f"{name}Function",
            description=description,
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            handler=handler,
            code=code,
            layers=[powertools],
            timeout=Duration.seconds(constants.A2I_FUNCTION_TIMEOUT_SECONDS),
            memory_size=constants.A2I_FUNCTION_MEMORY_MB,
            role=role,
            environment=environment,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            tracing=lambda_.Tracing.ACTIVE,
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "X-Ray PutTraceSegments/PutTelemetryRecords only accept Resource '*' (added by active tracing).",
            applies_to=["Resource::*"],
        )
        return function, role
