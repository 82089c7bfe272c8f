"""Per model: S3 "Object Created" events for its prefix (EventBridge, default bus) → its detect queue (+DLQ)
→ its detect function."""

from __future__ import annotations

import shutil
from pathlib import Path

from aws_cdk import (
    CfnElement,
    Duration,
    Stack,
    aws_dynamodb as dynamodb,
    aws_events as events,
    aws_events_targets as targets,
    aws_iam as iam,
    aws_lambda as lambda_,
    aws_lambda_event_sources as sources,
    aws_logs as logs,
    aws_s3 as s3,
    aws_sqs as sqs,
)
from constructs import Construct, IConstruct

from infra import constants
from infra.config import ModelConfig, PipelineConfig
from infra.constructs.alarms import dead_letter_alarm, dead_letter_queue
from infra.nag import acknowledge
from lambdas.common import ingest

ROOT = Path(__file__).resolve().parents[2]


def lambda_asset_dir() -> Path:
    """A staging directory holding only ``lambdas/`` so the handler path is ``lambdas.detect.handler``."""
    staging = ROOT / "build" / "lambda-asset"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(ROOT / "lambdas", staging / "lambdas", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return staging


_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def _logical_id(construct: IConstruct) -> str:
    child = construct.node.default_child
    assert isinstance(child, CfnElement)
    return Stack.of(construct).get_logical_id(child)


def log_retention(days: int) -> logs.RetentionDays:
    """The CDK enum member for a retention the config has already validated."""
    return _RETENTION[days]


class ModelDetection(Construct):
    """The detection path of one model. ``event_source_mapping_id`` is what the controller toggles."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        model: ModelConfig,
        bucket: s3.IBucket,
        table: dynamodb.ITable,
        bus: events.IEventBus,
        code: lambda_.Code,
        powertools: lambda_.ILayerVersion,
    ) -> None:
        super().__init__(scope, construct_id)
        self.model = model
        self.dead_letter_queue = dead_letter_queue(self)
        self.queue = sqs.Queue(
            self,
            "Queue",
            # SSE-SQS rather than KMS: EventBridge can deliver to it without key grants.
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(constants.QUEUE_RETENTION_DAYS),
            visibility_timeout=Duration.seconds(constants.QUEUE_VISIBILITY_TIMEOUT_SECONDS),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=constants.DLQ_MAX_RECEIVE_COUNT
            ),
        )
        # Uploads arrive through EventBridge, not S3 event notifications: configuring a notification makes S3
        # put an s3:TestEvent on the queue, which would age into the backlog alarm and start a billed model
        # session for nothing (lambdas/common/ingest.py). S3 events go to the account's default bus only.
        pattern = ingest.object_created_pattern(bucket.bucket_name, model.prefix)
        self.ingest_rule = events.Rule(
            self,
            "IngestRule",
            description=f"{model.name}: objects created under {model.prefix} go to the detect queue",
            event_pattern=events.EventPattern(
                source=pattern["source"], detail_type=pattern["detail-type"], detail=pattern["detail"]
            ),
        )
        # The target grants events.amazonaws.com SendMessage only with aws:SourceArn = this rule's ARN (a rule
        # ARN names its account, so no extra account guard is needed), and the same on the dead-letter queue.
        # SSE-SQS needs no key grant; a KMS key would (EventBridge user guide, Amazon SQS target).
        self.ingest_rule.add_target(
            targets.SqsQueue(
                self.queue,
                dead_letter_queue=self.dead_letter_queue,
                retry_attempts=ingest.RETRY_ATTEMPTS,
                max_event_age=Duration.seconds(ingest.MAX_EVENT_AGE_SECONDS),
            )
        )

        self.dlq_alarm = dead_letter_alarm(
            self, self.dead_letter_queue, f"{model.name}: messages in the dead-letter queue (see docs/operations.md)"
        )

        self.log_group = logs.LogGroup(self, "Logs", retention=log_retention(config.log_retention_days))
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Detect function of model {model.name}",
        )
        self.log_group.grant_write(self.role)
        self.role.add_to_policy(
            iam.PolicyStatement(actions=["rekognition:DetectCustomLabels"], resources=[model.project_version_arn])
        )
        # DetectCustomLabels reads S3Object images with the caller's permissions.
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[bucket.arn_for_objects(f"{model.prefix}*")],
            )
        )
        # The table only, not its indexes: the function never queries them.
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                resources=[table.table_arn],
            )
        )
        bus.grant_put_events_to(self.role)
        self.queue.grant_send_messages(self.role)  # records put back while the model is not running

        environment = {
            "MODEL_NAME": model.name,
            "PROJECT_VERSION_ARN": model.project_version_arn,
            "MODEL_PREFIX": model.prefix,
            "RESULTS_TABLE": table.table_name,
            "EVENT_BUS_NAME": bus.event_bus_name,
            "QUEUE_URL": self.queue.queue_url,
            "NOT_READY_DELAY_SECONDS": str(constants.NOT_READY_REQUEUE_DELAY_SECONDS),
            "POWERTOOLS_SERVICE_NAME": constants.SERVICE_NAME,
            "POWERTOOLS_METRICS_NAMESPACE": constants.METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }
        if model.min_confidence is not None:
            environment["MIN_CONFIDENCE"] = str(model.min_confidence)
        if model.max_results is not None:
            environment["MAX_RESULTS"] = str(model.max_results)
        if model.review.enabled:  # absent: review off, and the template of a model without review is unchanged
            environment["REVIEW_POLICY"] = model.review.model_dump_json()

        self.function = lambda_.Function(
            self,
            "Function",
            description=f"Custom Labels detection for model {model.name}",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            handler=constants.DETECT_HANDLER,
            code=code,
            layers=[powertools],
            timeout=Duration.seconds(constants.DETECT_FUNCTION_TIMEOUT_SECONDS),
            memory_size=constants.DETECT_FUNCTION_MEMORY_MB,
            role=self.role,
            environment=environment,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            tracing=lambda_.Tracing.ACTIVE,
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5",
            "X-Ray PutTraceSegments/PutTelemetryRecords only accept Resource '*' (added by active tracing).",
            applies_to=["Resource::*"],
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5",
            "DetectCustomLabels reads images with the caller's permissions; s3:GetObject is limited to the "
            "objects under this model's own prefix.",
            applies_to=[f"Resource::<{_logical_id(bucket)}.Arn>/{model.prefix}*"],
        )

        self.event_source = sources.SqsEventSource(
            self.queue,
            batch_size=constants.SQS_BATCH_SIZE,
            max_batching_window=Duration.seconds(constants.SQS_MAX_BATCHING_WINDOW_SECONDS),
            report_batch_item_failures=True,
            max_concurrency=model.effective_max_concurrency,
            # Created disabled: the model controller enables it only while the model is RUNNING,
            # so no invocation is spent on a stopped model.
            enabled=False,
        )
        self.function.add_event_source(self.event_source)

    @property
    def event_source_mapping_id(self) -> str:
        """UUID of the SQS event source mapping (for ``lambda:UpdateEventSourceMapping``)."""
        return self.event_source.event_source_mapping_id
