"""Monitoring: one CloudWatch dashboard for the pipeline and the operator alarms it adds.

Plain ``aws_cloudwatch`` rather than cdk-monitoring-constructs: the panels that matter most here —
Rekognition Custom Labels inference units, the Powertools EMF metrics of the detect function and the
session cost — are custom metrics that library has no facade for, and the rest (SQS, Lambda) is a
dozen metric calls; no extra dependency pinned to the CDK version is worth that.

Session cost: the controller publishes a ``Model Stopped`` event carrying ``estimated_cost_usd``. A rule
on the pipeline bus copies those events into a log group (a durable session log), and a metric filter
turns the field into the metric ``CustomLabelsPipeline/SessionCostUSD`` with dimension ``model``.
"""

from __future__ import annotations

from aws_cdk import (
    ArnFormat,
    Duration,
    Stack,
    aws_cloudwatch as cloudwatch,
    aws_events as events,
    aws_iam as iam,
    aws_logs as logs,
)
from constructs import Construct

from infra import constants
from infra.config import LifecycleMode, PipelineConfig
from infra.constructs.controller import ModelController
from infra.constructs.detection import ModelDetection, log_retention
from infra.constructs.naming import stack_instance_suffix


class PipelineMonitoring(Construct):
    """Dashboard, session-cost metric and operator alarms for every model.

    Attributes: ``dashboard``, ``sessions_log_group``, ``alarms`` (every alarm this construct adds, to
    be watched by the alarm topic), ``oldest_message_alarms`` and ``lambda_error_alarms`` by model name.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        detections: dict[str, ModelDetection],
        controllers: dict[str, ModelController],
        event_bus: events.IEventBus,
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        period = Duration.minutes(constants.MONITORING_PERIOD_MINUTES)
        self.sessions_log_group = logs.LogGroup(
            self,
            "Sessions",
            # Retained (CDK's default for log groups): unique per stack instance, see stack_instance_suffix.
            log_group_name=f"/aws/events/{config.resource_prefix}-model-sessions-{stack_instance_suffix()}",
            retention=log_retention(config.log_retention_days),
        )
        rule = events.Rule(
            self,
            "SessionsRule",
            description="Keep every Model Stopped event (session ledger with its cost) in CloudWatch Logs",
            event_bus=event_bus,
            event_pattern=events.EventPattern(
                source=[constants.EVENT_SOURCE], detail_type=[constants.DETAIL_TYPE_MODEL_STOPPED]
            ),
        )
        # The log-group target is wired at the L1 level with a plain resource policy: CDK's
        # CloudWatchLogGroup target writes that policy through a custom-resource Lambda instead.
        stack = Stack.of(self)
        target_arn = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=self.sessions_log_group.log_group_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        cfn_rule = rule.node.default_child
        assert isinstance(cfn_rule, events.CfnRule)
        cfn_rule.targets = [events.CfnRule.TargetProperty(id="SessionsLog", arn=target_arn)]
        logs.ResourcePolicy(
            self,
            "SessionsPolicy",
            resource_policy_name=f"{config.resource_prefix}-model-sessions-from-events",
            policy_statements=[
                iam.PolicyStatement(
                    principals=[
                        iam.ServicePrincipal("events.amazonaws.com"),
                        iam.ServicePrincipal("delivery.logs.amazonaws.com"),
                    ],
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[self.sessions_log_group.log_group_arn],
                    conditions={"ArnEquals": {"aws:SourceArn": rule.rule_arn}},
                )
            ],
        )
        logs.MetricFilter(
            self,
            "SessionCost",
            log_group=self.sessions_log_group,
            filter_pattern=logs.FilterPattern.exists("$.detail.estimated_cost_usd"),
            metric_namespace=constants.METRICS_NAMESPACE,
            metric_name=constants.SESSION_COST_METRIC,
            metric_value="$.detail.estimated_cost_usd",
            dimensions={"model": "$.detail.model_name"},
            unit=cloudwatch.Unit.NONE,
        )

        self.alarms: list[cloudwatch.Alarm] = []
        self.oldest_message_alarms: dict[str, cloudwatch.Alarm] = {}
        self.lambda_error_alarms: dict[str, cloudwatch.Alarm] = {}
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"{config.resource_prefix}-custom-labels-pipeline",
            default_interval=Duration.hours(24),
        )
        self.dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown=(
                    "# Custom Labels Pipeline\nOne row per model. Runbook for every alarm: docs/operations.md "
                    "(clp status / start / stop / results / cost / redrive / backfill)."
                ),
                width=24,
                height=2,
            )
        )
        for name, detection in detections.items():
            self._model_row(name, detection, controllers[name], period)
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(
                title="Operator alarms", alarms=[*self.alarms, *self._controller_alarms(controllers)], width=24
            )
        )

    @staticmethod
    def _controller_alarms(controllers: dict[str, ModelController]) -> list[cloudwatch.IAlarm]:
        alarms: list[cloudwatch.IAlarm] = []
        for controller in controllers.values():
            alarms.extend(controller.alarms)
        return alarms

    def _emf(self, metric: str, model: str, statistic: str, period: Duration) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=constants.METRICS_NAMESPACE,
            metric_name=metric,
            dimensions_map={"service": constants.SERVICE_NAME, "model": model},
            statistic=statistic,
            period=period,
        )

    def _model_row(self, name: str, detection: ModelDetection, controller: ModelController, period: Duration) -> None:
        model = detection.model
        queue, dlq, function = detection.queue, detection.dead_letter_queue, detection.function
        oldest = queue.metric_approximate_age_of_oldest_message(period=Duration.minutes(1), statistic="Maximum")
        target_seconds = model.lifecycle.latency_target_minutes * 60
        if model.lifecycle.mode is LifecycleMode.SCHEDULED:
            # Scheduled-only work waits for its window by design: alarm only past a day.
            target_seconds = max(target_seconds, 24 * 3600)
        oldest_alarm = oldest.create_alarm(
            self,
            f"OldestMessage{_pascal(name)}",
            alarm_description=(
                f"{name}: the oldest message of the detect queue is older than {target_seconds // 60} minutes "
                "(latency target): images wait and the model is not draining them. See docs/operations.md."
            ),
            threshold=target_seconds,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=5,
            datapoints_to_alarm=5,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        errors_alarm = function.metric_errors(period=period, statistic="Sum").create_alarm(
            self,
            f"LambdaErrors{_pascal(name)}",
            alarm_description=(
                f"{name}: the detect function failed whole invocations (crash, timeout, out of memory). Per-image "
                "failures are results, not errors. See docs/operations.md."
            ),
            threshold=constants.LAMBDA_ERRORS_ALARM_THRESHOLD,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.oldest_message_alarms[name] = oldest_alarm
        self.lambda_error_alarms[name] = errors_alarm
        self.alarms.extend([oldest_alarm, errors_alarm])

        in_service = cloudwatch.Metric(
            namespace="AWS/Rekognition",
            metric_name="InServiceInferenceUnits",
            dimensions_map={"ProjectName": model.project_name, "VersionName": model.version_name},
            statistic="Maximum",
            period=period,
            label="inference units in service",
        )
        self.dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown=f"## {name} — prefix `{model.prefix}`, mode {model.lifecycle.mode}", width=24, height=1
            )
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title=f"{name}: detect queue",
                left=[
                    queue.metric_approximate_number_of_messages_visible(period=period, statistic="Maximum"),
                    queue.metric_approximate_number_of_messages_not_visible(period=period, statistic="Maximum"),
                ],
                right=[oldest],
                right_annotations=[cloudwatch.HorizontalAnnotation(value=target_seconds, label="latency target")],
                width=6,
            ),
            cloudwatch.GraphWidget(
                title=f"{name}: dead-letter queue",
                left=[dlq.metric_approximate_number_of_messages_visible(period=period, statistic="Maximum")],
                width=6,
            ),
            cloudwatch.GraphWidget(
                title=f"{name}: detect function",
                left=[
                    function.metric_errors(period=period, statistic="Sum"),
                    function.metric_throttles(period=period, statistic="Sum"),
                    function.metric("ConcurrentExecutions", period=period, statistic="Maximum"),
                ],
                right=[
                    function.metric_duration(period=period, statistic="p50"),
                    function.metric_duration(period=period, statistic="p99"),
                ],
                width=6,
            ),
            cloudwatch.GraphWidget(
                title=f"{name}: images",
                left=[
                    self._emf("ImagesDetected", name, "Sum", period),
                    self._emf("ImagesFailed", name, "Sum", period),
                ],
                right=[
                    self._emf("DetectLatency", name, "p90", period),
                    self._emf("LabelsPerImage", name, "Average", period),
                ],
                width=6,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title=f"{name}: model running (inference units in service)",
                left=[in_service],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title=f"{name}: controller executions",
                left=[
                    controller.state_machine.metric_started(period=period, statistic="Sum"),
                    controller.state_machine.metric_succeeded(period=period, statistic="Sum"),
                    controller.state_machine.metric_failed(period=period, statistic="Sum"),
                ],
                width=8,
            ),
            cloudwatch.SingleValueWidget(
                title=f"{name}: session cost (USD, estimated)",
                metrics=[
                    cloudwatch.Metric(
                        namespace=constants.METRICS_NAMESPACE,
                        metric_name=constants.SESSION_COST_METRIC,
                        dimensions_map={"model": name},
                        statistic="Sum",
                        period=Duration.days(1),
                    )
                ],
                set_period_to_time_range=True,
                width=8,
            ),
        )


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))
