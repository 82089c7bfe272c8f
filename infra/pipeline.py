"""The public L3 construct: the whole pipeline, for this app's stack and for anyone's own CDK app."""

from __future__ import annotations

import re

from aws_cdk import (
    Aws,
    CfnOutput,
    CfnRule,
    CfnRuleAssertion,
    Fn,
    Stack,
    Token,
    aws_dynamodb as dynamodb,
    aws_events as events,
    aws_lambda as lambda_,
    aws_s3 as s3,
    aws_ssm as ssm,
)
from constructs import Construct

from infra import constants
from infra.config import PipelineConfig
from infra.constructs.alarms import AlarmTopic
from infra.constructs.backfill import ModelBackfill
from infra.constructs.control_table import ControlTable
from infra.constructs.controller import ModelController
from infra.constructs.detection import ModelDetection, lambda_asset_dir
from infra.constructs.events_bus import PipelineEventBus
from infra.constructs.monitoring import PipelineMonitoring
from infra.constructs.results import ResultsTable
from infra.constructs.review import A2iReview
from infra.constructs.storage import UploadsStorage
from infra.nag import acknowledge

# The output the ``clp`` CLI reads (DescribeStacks); its logical id is pinned so it does not depend on where
# the construct sits in the user's tree.
MANIFEST_OUTPUT_ID = "PipelineManifest"

# CDK creates this singleton at the stack's root for a bucket with EventBridge notifications enabled.
_BUCKET_NOTIFICATIONS_HANDLER = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"
# CloudFormation: an output's logical id "must be alphanumeric (a-z, A-Z, 0-9) and unique within the template"
# (User Guide, "CloudFormation template Outputs syntax").
_OUTPUT_ID = re.compile(r"^[A-Za-z0-9]{1,255}$")


# The feature flags this construct is built and tested with (cdk.json sets the same ones for the app). Set on the
# construct's own node, they hold for its resources whatever the user's app sets: without
# serverAccessLogsUseBucketPolicy, for one, CDK grants log delivery by ACL, which the access log bucket
# (BUCKET_OWNER_ENFORCED: ACLs disabled) refuses at synth.
FEATURE_FLAGS: dict[str, bool] = {
    "@aws-cdk/aws-iam:minimizePolicies": True,
    "@aws-cdk/aws-lambda:recognizeLayerVersion": True,
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
    "@aws-cdk/aws-s3:createDefaultLoggingPolicy": True,
    "@aws-cdk/aws-sqs:dlqEnforceSSL": True,
}


class PipelineCollisionError(ValueError):
    """Two pipelines in one stack would deploy resources with the same name or the same output id."""


def _construct_id(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


class CustomLabelsPipeline(Construct):
    """Custom Labels Pipeline: uploads → per-model queue → detect function → results + events, with a model
    controller per model that starts and stops the model around the work.

    ``manifest_output_id`` names the stack output ``clp`` reads; only a second pipeline in the same stack
    needs another one (and a distinct ``config.resource_prefix``, which names its bus, state machines,
    dashboard and log groups).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        manifest_output_id: str = MANIFEST_OUTPUT_ID,
    ) -> None:
        if not _OUTPUT_ID.match(manifest_output_id):
            raise ValueError(f"manifest_output_id {manifest_output_id!r}: an output id is letters and digits only")
        super().__init__(scope, construct_id)
        for flag, value in FEATURE_FLAGS.items():  # context can only be set before the first child
            self.node.set_context(flag, value)
        self.config = config
        self.manifest_output_id = manifest_output_id
        self._refuse_collisions()
        self._refuse_another_region()

        self.storage = UploadsStorage(self, "Storage", config=config)
        self.results = ResultsTable(self, "Results")
        self.events = PipelineEventBus(self, "Events", config=config)
        self.alarms = AlarmTopic(self, "Alarms")
        self.control = ControlTable(self, "Control")

        code = lambda_.Code.from_asset(str(lambda_asset_dir()))
        # The public Powertools layer, pinned to the library version the tests run against.
        powertools = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "Powertools",
            ssm.StringParameter.value_for_string_parameter(self, constants.POWERTOOLS_LAYER_SSM_PARAMETER),
        )

        self.detections: dict[str, ModelDetection] = {}
        self.controllers: dict[str, ModelController] = {}
        self.backfills: dict[str, ModelBackfill] = {}
        # Only models whose review names an A2I flow definition (docs/a2i.md); none by default.
        self.a2i_reviews: dict[str, A2iReview] = {}
        for model in config.models:
            detection = ModelDetection(
                self,
                f"Model{_construct_id(model.name)}",
                config=config,
                model=model,
                bucket=self.storage.bucket,
                table=self.results.table,
                bus=self.events.bus,
                code=code,
                powertools=powertools,
            )
            self.alarms.watch(detection.dlq_alarm)
            self.detections[model.name] = detection
            controller = ModelController(
                self,
                f"Controller{_construct_id(model.name)}",
                config=config,
                model=model,
                queue=detection.queue,
                event_source_mapping_id=detection.event_source_mapping_id,
                detect_function=detection.function,
                control_table=self.control.table,
                event_bus=self.events.bus,
            )
            for alarm in controller.alarms:
                self.alarms.watch(alarm)
            self.controllers[model.name] = controller
            self.backfills[model.name] = ModelBackfill(
                self,
                f"Backfill{_construct_id(model.name)}",
                config=config,
                model=model,
                bucket=self.storage.bucket,
                queue=detection.queue,
                results_table=self.results.table,
                controller=controller.state_machine,
            )
            if model.review.starts_a2i_loops:
                # ReviewPolicy refuses a flow definition without its output location.
                assert model.review.a2i_flow_definition_arn is not None and model.review.a2i_output_s3_uri is not None
                review = A2iReview(
                    self,
                    f"A2i{_construct_id(model.name)}",
                    model_name=model.name,
                    flow_definition_arn=model.review.a2i_flow_definition_arn,
                    output_s3_uri=model.review.a2i_output_s3_uri,
                    table=self.results.table,
                    bus=self.events.bus,
                    code=code,
                    powertools=powertools,
                    log_retention_days=config.log_retention_days,
                )
                self.alarms.watch(review.dlq_alarm)
                self.a2i_reviews[model.name] = review

        self.monitoring = PipelineMonitoring(
            self,
            "Monitoring",
            config=config,
            detections=self.detections,
            controllers=self.controllers,
            event_bus=self.events.bus,
        )
        for alarm in self.monitoring.alarms:
            self.alarms.watch(alarm)

        self.region_rule = self._region_rule()
        self._acknowledge_cdk_internals()
        self.manifest_output = self._manifest_output()

    @property
    def bucket(self) -> s3.IBucket:
        """The uploads bucket: an image under a model's prefix is labelled by that model."""
        return self.storage.bucket

    @property
    def results_table(self) -> dynamodb.ITable:
        return self.results.table

    @property
    def event_bus(self) -> events.IEventBus:
        """The bus the detection and model events go to (docs/events.md)."""
        return self.events.bus

    def _refuse_collisions(self) -> None:
        # CDK synthesizes two equal physical names without complaint; CloudFormation then fails the deploy
        # half-way ("already exists"), so the clash is named here, before anything is built.
        for other in Stack.of(self).node.find_all():
            if not isinstance(other, CustomLabelsPipeline) or other is self:
                continue
            clashes = [
                f"{label} {mine!r}"
                for label, mine, theirs in (
                    ("resource_prefix", self.config.resource_prefix, other.config.resource_prefix),
                    ("bucket_name", self.config.bucket_name, other.config.bucket_name),
                    ("manifest_output_id", self.manifest_output_id, other.manifest_output_id),
                )
                if mine is not None and mine == theirs
            ]
            if clashes:
                raise PipelineCollisionError(
                    f"{self.node.path} and {other.node.path} are in the same stack with the same "
                    f"{', '.join(clashes)}: give each pipeline its own"
                )

    def _refuse_another_region(self) -> None:
        # The template's rule (_region_rule) stops an environment-agnostic stack at deploy time; a stack whose
        # region is known at synth time can be refused now, with the same message.
        region = Stack.of(self).region
        if Token.is_unresolved(region):
            return
        for model in self.config.models:
            if model.region != region:
                raise ValueError(f"{self.node.path}: {self._region_message(model.name)} (the stack is in {region})")

    def _region_message(self, model_name: str) -> str:
        model = self.config.model(model_name)
        return (
            f"Model {model.name} ({model.project_version_arn}) is in {model.region}: deploy this "
            f"stack to {model.region}, or use a model version trained there."
        )

    def _region_rule(self) -> CfnRule:
        # Rekognition Custom Labels serves a model only in its own region, and the detect function and the
        # controller call it in the stack's: a stack in another region deploys and then fails every image.
        return CfnRule(
            self,
            "ModelsInStackRegion",
            assertions=[
                CfnRuleAssertion(
                    assert_=Fn.condition_equals(Aws.REGION, model.region),
                    assert_description=self._region_message(model.name),
                )
                for model in self.config.models
            ],
        )

    def _acknowledge_cdk_internals(self) -> None:
        # CDK's own singleton function that writes the bucket's notification configuration; it belongs to the
        # stack, not to this construct, and a second pipeline in the stack shares it.
        handler = Stack.of(self).node.try_find_child(_BUCKET_NOTIFICATIONS_HANDLER)
        if handler is not None:
            acknowledge(
                handler,
                "AwsSolutions-IAM4",
                "CDK's BucketNotificationsHandler (runs only at deploy time) uses AWSLambdaBasicExecutionRole "
                "for its logs; it is not configurable.",
                applies_to=["Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"],
            )
            acknowledge(
                handler,
                "AwsSolutions-IAM5",
                "CDK's BucketNotificationsHandler needs s3:PutBucketNotification; CDK scopes it to '*'.",
                applies_to=["Resource::*"],
            )

    def _manifest_output(self) -> CfnOutput:
        """One JSON output describing the deployment; the ``clp`` CLI finds everything from it."""
        manifest = {
            "bucket": self.storage.bucket.bucket_name,
            "results_table": self.results.table.table_name,
            "event_bus": self.events.bus.event_bus_name,
            "alarm_topic": self.alarms.topic.topic_arn,
            "control_table": self.control.table.table_name,
            "dashboard": self.monitoring.dashboard.dashboard_name,
            "models": {
                name: {
                    "prefix": detection.model.prefix,
                    "project_arn": detection.model.project_arn,
                    "project_version_arn": detection.model.project_version_arn,
                    "queue_url": detection.queue.queue_url,
                    "dead_letter_queue_url": detection.dead_letter_queue.queue_url,
                    "function": detection.function.function_name,
                    "event_source_mapping_id": detection.event_source_mapping_id,
                    "controller_state_machine_arn": self.controllers[name].state_machine.state_machine_arn,
                    "backfill_state_machine_arn": self.backfills[name].state_machine.state_machine_arn,
                }
                for name, detection in self.detections.items()
            },
        }
        output = CfnOutput(
            self, "PipelineManifest", value=Stack.of(self).to_json_string(manifest), description="clp reads this"
        )
        # Outputs are keyed by logical id, which CDK derives from the construct path: pinned, clp finds the
        # manifest in any stack that holds the construct, however deep.
        output.override_logical_id(self.manifest_output_id)
        return output
