"""The stack: composes one construct per capability, nothing else."""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, CfnOutput, CfnRule, CfnRuleAssertion, Fn, Stack, aws_lambda as lambda_, aws_ssm as ssm
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
from infra.constructs.storage import UploadsStorage
from infra.nag import acknowledge


def _construct_id(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


class PipelineStack(Stack):
    """Custom Labels Pipeline: uploads → per-model queue → detect function → results + events,
    with a model controller per model that starts and stops the model around the work."""

    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
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

        self._region_rule()
        self._acknowledge_cdk_internals()
        self._outputs()

    def _region_rule(self) -> None:
        # Rekognition Custom Labels serves a model only in its own region, and the detect function and the
        # controller call it in the stack's: a stack in another region deploys and then fails every image.
        CfnRule(
            self,
            "ModelsInStackRegion",
            assertions=[
                CfnRuleAssertion(
                    assert_=Fn.condition_equals(Aws.REGION, model.region),
                    assert_description=(
                        f"Model {model.name} ({model.project_version_arn}) is in {model.region}: deploy this "
                        f"stack to {model.region}, or use a model version trained there."
                    ),
                )
                for model in self.config.models
            ],
        )

    def _acknowledge_cdk_internals(self) -> None:
        # CDK's own singleton function that writes the bucket's notification configuration.
        handler = self.node.try_find_child("BucketNotificationsHandler050a0587b7544547bf325f094a3db834")
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

    def _outputs(self) -> None:
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
        CfnOutput(self, "PipelineManifest", value=self.to_json_string(manifest), description="clp reads this")
        CfnOutput(self, "UploadsBucketName", value=self.storage.bucket.bucket_name)
        CfnOutput(self, "ResultsTableName", value=self.results.table.table_name)
        CfnOutput(self, "EventBusName", value=self.events.bus.event_bus_name)
