"""The model controller: one Step Functions STANDARD workflow per model that starts the model around
batch windows or a backlog, lets the detect Lambda drain the queue at full speed and stops it, on
every path (docs/controller.md).

The workflow is ``infra/statemachines/controller.asl.json`` (JSONata, aws-sdk and optimized
integrations only, no Lambda); this construct supplies its substitutions, one least-privilege role,
logs, alarms and the triggers of the model's ``lifecycle.mode``.
"""

from __future__ import annotations

import math
import re

from aws_cdk import (
    ArnFormat,
    Duration,
    Stack,
    TimeZone,
    aws_cloudwatch as cloudwatch,
    aws_dynamodb as dynamodb,
    aws_events as events,
    aws_events_targets as events_targets,
    aws_iam as iam,
    aws_lambda as lambda_,
    aws_scheduler as scheduler,
    aws_scheduler_targets as scheduler_targets,
    aws_sqs as sqs,
    aws_stepfunctions as sfn,
)
from constructs import Construct

from infra import constants
from infra.config import ConfigError, LifecycleMode, ModelConfig, PipelineConfig, Schedule
from infra.constructs.states import state_machine_logs_and_role
from infra.nag import acknowledge, nag_arn
from infra.statemachines import controller_definition, controller_substitutions, execution_timeout_seconds
from lambdas.common import contract

_CRON = re.compile(r"^cron\((?P<fields>.+)\)$")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")  # EventBridge: 1 = SUN ... 7 = SAT


def shift_cron(expression: str, minutes_earlier: int) -> str:
    """``expression`` (EventBridge Scheduler cron) moved ``minutes_earlier`` minutes earlier.

    Windows are configured by when they open; the model must be started ``lead_minutes`` before.
    Supported: a single minute, hours ``*`` / a number / a comma list; crossing midnight is
    supported when the day-of-month is ``*``/``?`` (day-of-week names/numbers move back one day).
    Anything else raises :class:`ConfigError` naming the expression.
    """
    match = _CRON.match(expression)
    fields = match["fields"].split() if match else []
    if len(fields) != 6:
        raise ConfigError(f"cannot shift {expression!r}: expected cron(min hour dom month dow year)")
    minute, hour, dom, month, dow, year = fields
    if minutes_earlier == 0:
        return expression
    if not minute.isdigit() or not 0 <= int(minute) <= 59:
        raise ConfigError(f"cannot shift {expression!r} by lead_minutes: the minute field must be one number")
    if hour == "*":
        # Every hour: only the minute moves (the hour before is also "every hour").
        if minutes_earlier >= 60:
            raise ConfigError(f"cannot shift hourly {expression!r} by {minutes_earlier} >= 60 minutes")
        return f"cron({(int(minute) - minutes_earlier) % 60} * {dom} {month} {dow} {year})"
    hours = hour.split(",")
    if not all(h.isdigit() and 0 <= int(h) <= 23 for h in hours):
        raise ConfigError(f"cannot shift {expression!r} by lead_minutes: hours must be '*' or numbers 0-23")
    starts = [int(h) * 60 + int(minute) - minutes_earlier for h in hours]
    new_minute = starts[0] % 60
    crosses = [start < 0 for start in starts]
    if any(crosses) and not all(crosses) and not (dom in ("*", "?") and dow in ("*", "?")):
        raise ConfigError(f"cannot shift {expression!r}: some hours cross midnight and others do not")
    new_hours = ",".join(str((start // 60) % 24) for start in starts)
    if any(crosses) and not (dom in ("*", "?") and dow in ("*", "?")):
        if dom not in ("*", "?"):
            raise ConfigError(f"cannot shift {expression!r} across midnight with a day-of-month; set the cron earlier")
        dow = ",".join(_previous_day(day, expression) for day in dow.split(","))
    return f"cron({new_minute} {new_hours} {dom} {month} {dow} {year})"


def _previous_day(day: str, expression: str) -> str:
    if "-" in day:  # a range such as MON-FRI moves as a whole: SUN-THU
        first, _, last = day.partition("-")
        return f"{_previous_day(first, expression)}-{_previous_day(last, expression)}"
    if day.isdigit() and 1 <= int(day) <= 7:
        return str((int(day) - 2) % 7 + 1)
    if day.upper() in _DAYS:
        return _DAYS[(_DAYS.index(day.upper()) - 1) % 7]
    raise ConfigError(f"cannot shift {expression!r} across midnight: day-of-week {day!r} is not a day name or 1-7")


def _alarm_window(minutes: int) -> tuple[int, int]:
    """(period minutes, evaluation periods) covering ``minutes`` within CloudWatch's one-day range."""
    minutes = min(minutes, constants.CLOUDWATCH_MAX_EVALUATION_RANGE_MINUTES)
    for period in (constants.CONTROLLER_ALARM_PERIOD_MINUTES, 10, 15, 30, 60):
        periods = math.ceil(minutes / period)
        if periods * period <= constants.CLOUDWATCH_MAX_EVALUATION_RANGE_MINUTES:
            return period, periods
    return 60, constants.CLOUDWATCH_MAX_EVALUATION_RANGE_MINUTES // 60  # pragma: no cover - unreachable


class ModelController(Construct):
    """The controller of one model: state machine, role, logs, alarms and triggers.

    Attributes: ``state_machine``, ``role``, ``log_group``, ``alarms`` (operator alarms:
    ``failed_alarm``, ``running_too_long_alarm``), ``backlog_alarm`` (the on-demand trigger, or
    ``None``), ``schedules`` (EventBridge Scheduler schedules: windows and the backlog re-check).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        model: ModelConfig,
        queue: sqs.IQueue,
        event_source_mapping_id: str,
        detect_function: lambda_.IFunction,
        control_table: dynamodb.ITable,
        event_bus: events.IEventBus,
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.model = model
        lifecycle = model.lifecycle
        stack = Stack.of(self)
        name = f"{config.resource_prefix}-{model.name}-controller"
        self._state_machine_name = name
        on_demand = lifecycle.mode in (LifecycleMode.ON_DEMAND, LifecycleMode.BOTH)
        scheduled = lifecycle.mode in (LifecycleMode.SCHEDULED, LifecycleMode.BOTH)

        self.backlog_alarm: cloudwatch.Alarm | None = self._backlog_alarm(queue) if on_demand else None

        self.log_group, self.role = state_machine_logs_and_role(
            self,
            name=name,
            config=config,
            description=f"Model controller of {model.name}: start/stop one model version, toggle its mapping",
        )
        self._grant(
            stack=stack,
            queue=queue,
            event_source_mapping_id=event_source_mapping_id,
            detect_function=detect_function,
            control_table=control_table,
            event_bus=event_bus,
        )

        substitutions = controller_substitutions(
            config,
            model,
            queue_url=queue.queue_url,
            event_source_mapping_id=event_source_mapping_id,
            control_table_name=control_table.table_name,
            event_bus_name=event_bus.event_bus_name,
            backlog_alarm_name=self.backlog_alarm.alarm_name if self.backlog_alarm else "",
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            # from_string keeps the definition inline in the template (from_file would make it an S3 asset).
            definition_body=sfn.DefinitionBody.from_string(controller_definition(execution_timeout_seconds(lifecycle))),
            definition_substitutions=substitutions,
            role=self.role,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            tracing_enabled=True,
        )

        self.failed_alarm = self._failed_alarm()
        self.running_too_long_alarm = self._running_too_long_alarm()
        self.alarms: list[cloudwatch.Alarm] = [self.failed_alarm, self.running_too_long_alarm]

        self.schedules: list[scheduler.Schedule] = []
        if scheduled:
            for index, window in enumerate(lifecycle.schedules):
                self.schedules.append(self._window_schedule(index, window))
        if on_demand and self.backlog_alarm is not None:
            self._backlog_rule(self.backlog_alarm)
        self._recheck_schedule()
        self._acknowledge()

    # -- permissions ------------------------------------------------------------------------

    def _grant(
        self,
        *,
        stack: Stack,
        queue: sqs.IQueue,
        event_source_mapping_id: str,
        detect_function: lambda_.IFunction,
        control_table: dynamodb.ITable,
        event_bus: events.IEventBus,
    ) -> None:
        model = self.model
        statements = [
            iam.PolicyStatement(
                sid="StartStopTheModelVersion",
                actions=["rekognition:StartProjectVersion", "rekognition:StopProjectVersion"],
                resources=[model.project_version_arn],
            ),
            # DescribeProjectVersions is authorized on the project (the version is a request filter).
            iam.PolicyStatement(
                sid="DescribeTheProjectVersions",
                actions=["rekognition:DescribeProjectVersions"],
                resources=[model.project_arn],
            ),
            iam.PolicyStatement(
                sid="ToggleTheDetectMapping",
                actions=["lambda:UpdateEventSourceMapping"],
                resources=[
                    stack.format_arn(
                        service="lambda",
                        resource="event-source-mapping",
                        resource_name=event_source_mapping_id,
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
                # Belt and braces: only while the mapping still feeds this model's detect function.
                conditions={"StringEquals": {"lambda:FunctionArn": detect_function.function_arn}},
            ),
            iam.PolicyStatement(sid="ReadQueueDepth", actions=["sqs:GetQueueAttributes"], resources=[queue.queue_arn]),
            # Whether the holder of a lock still runs (an aborted execution keeps its lock until the TTL).
            # The ARN is built from the fixed name: the state machine's own ARN token would make the role's
            # policy depend on the state machine that depends on the role.
            iam.PolicyStatement(
                sid="DescribeOwnExecutions",
                actions=["states:DescribeExecution"],
                resources=[
                    stack.format_arn(
                        service="states",
                        resource="execution",
                        resource_name=f"{self._state_machine_name}:*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            ),
            iam.PolicyStatement(
                sid="LockAndLedgerOfThisModelOnly",
                actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                resources=[control_table.table_arn],
                conditions={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [contract.model_pk(model.name)]}},
            ),
            iam.PolicyStatement(
                sid="PublishModelEvents",
                actions=["events:PutEvents"],
                resources=[event_bus.event_bus_arn],
                conditions={
                    "StringEquals": {
                        "events:source": constants.EVENT_SOURCE,
                        "events:detail-type": [
                            constants.DETAIL_TYPE_MODEL_STARTED,
                            constants.DETAIL_TYPE_MODEL_STOPPED,
                        ],
                    }
                },
            ),
        ]
        if self.backlog_alarm is not None:
            statements.append(
                iam.PolicyStatement(
                    sid="ReadTheBacklogAlarm",
                    actions=["cloudwatch:DescribeAlarms"],
                    resources=[self.backlog_alarm.alarm_arn],
                )
            )
        for statement in statements:
            self.role.add_to_policy(statement)

    # -- alarms -----------------------------------------------------------------------------

    def _backlog_alarm(self, queue: sqs.IQueue) -> cloudwatch.Alarm:
        """ALARM when the queue holds ``backlog_threshold`` visible messages, or its oldest message is so
        old that a start begun now would only just meet the latency target."""
        lifecycle = self.model.lifecycle
        period = Duration.minutes(constants.CONTROLLER_BACKLOG_PERIOD_MINUTES)
        age_limit = max(60, (lifecycle.latency_target_minutes - constants.CONTROLLER_START_LATENCY_MARGIN_MINUTES) * 60)
        backlog = cloudwatch.MathExpression(
            expression=f"IF(visible >= {lifecycle.backlog_threshold} OR age >= {age_limit}, 1, 0)",
            using_metrics={
                "visible": queue.metric_approximate_number_of_messages_visible(period=period, statistic="Maximum"),
                "age": queue.metric_approximate_age_of_oldest_message(period=period, statistic="Maximum"),
            },
            period=period,
            label="backlog over threshold (1) or not (0)",
        )
        return backlog.create_alarm(
            self,
            "BacklogAlarm",
            alarm_description=(
                f"Backlog of {self.model.name}: >= {lifecycle.backlog_threshold} visible messages or oldest "
                f">= {age_limit} s. Starts the model controller (not an operator alarm)."
            ),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

    def _failed_alarm(self) -> cloudwatch.Alarm:
        period = Duration.minutes(constants.CONTROLLER_ALARM_PERIOD_MINUTES)
        machine = self.state_machine
        failures = cloudwatch.MathExpression(
            expression="FILL(failed, 0) + FILL(timedout, 0) + FILL(aborted, 0)",
            using_metrics={
                "failed": machine.metric_failed(period=period, statistic="Sum"),
                "timedout": machine.metric_timed_out(period=period, statistic="Sum"),
                "aborted": machine.metric_aborted(period=period, statistic="Sum"),
            },
            period=period,
            label="failed + timed out + aborted executions",
        )
        return failures.create_alarm(
            self,
            "FailedAlarm",
            alarm_description=(
                f"A model controller execution of {self.model.name} failed, timed out or was aborted. "
                "Failed executions have already disabled the mapping and stopped the model when they could; "
                "read the execution's error and the session ledger. Timed-out or aborted ones ran no cleanup: "
                "check the model status."
            ),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

    def _running_too_long_alarm(self) -> cloudwatch.Alarm:
        """The model itself (whoever started it) has been in service longer than a session may last."""
        lifecycle = self.model.lifecycle
        limit = lifecycle.max_runtime_minutes + constants.CONTROLLER_STOP_TIMEOUT_MINUTES
        period, periods = _alarm_window(limit)
        in_service = cloudwatch.Metric(
            namespace="AWS/Rekognition",
            metric_name="InServiceInferenceUnits",
            dimensions_map={"ProjectName": self.model.project_name, "VersionName": self.model.version_name},
            statistic="Minimum",
            period=Duration.minutes(period),
        )
        return in_service.create_alarm(
            self,
            "RunningTooLongAlarm",
            alarm_description=(
                f"Model {self.model.name} has had inference units in service for {periods * period} minutes "
                f"without a break (max runtime {lifecycle.max_runtime_minutes} min + stop timeout). It bills "
                "about price x inference units per hour: stop it (clp stop) unless someone runs it on purpose."
            ),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

    # -- triggers ---------------------------------------------------------------------------

    def _window_schedule(self, index: int, window: Schedule) -> scheduler.Schedule:
        lead_and_window = (window.lead_minutes + window.window_minutes) * 60
        return scheduler.Schedule(
            self,
            f"Window{index}",
            description=(
                f"Start {self.model.name} {window.lead_minutes} min before the {window.window_minutes}-min window "
                f"{window.cron} ({window.timezone})"
            ),
            schedule=scheduler.ScheduleExpression.expression(
                shift_cron(window.cron, window.lead_minutes), TimeZone.of(window.timezone)
            ),
            target=scheduler_targets.StepFunctionsStartExecution(
                self.state_machine,
                # The window is anchored on the scheduled time, not the delivery time, so a late
                # (retried) delivery cannot extend it.
                input=scheduler.ScheduleTargetInput.from_object(
                    {
                        "trigger": "schedule",
                        "window_anchor": scheduler.ContextAttribute.scheduled_time,
                        "window_seconds": lead_and_window,
                    }
                ),
                retry_attempts=constants.CONTROLLER_TRIGGER_RETRY_ATTEMPTS,
                max_event_age=Duration.minutes(constants.CONTROLLER_TRIGGER_MAX_EVENT_AGE_MINUTES),
            ),
        )

    def _backlog_rule(self, alarm: cloudwatch.Alarm) -> None:
        # The alarm's transition to ALARM starts a session at once ...
        events.Rule(
            self,
            "BacklogRule",
            description=f"Start the {self.model.name} controller when its backlog alarm goes to ALARM",
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=["CloudWatch Alarm State Change"],
                resources=[alarm.alarm_arn],
                detail={"state": {"value": ["ALARM"]}},
            ),
            targets=[
                events_targets.SfnStateMachine(
                    self.state_machine,
                    input=events.RuleTargetInput.from_object({"trigger": "backlog"}),
                    retry_attempts=constants.CONTROLLER_TRIGGER_RETRY_ATTEMPTS,
                    max_event_age=Duration.minutes(constants.CONTROLLER_TRIGGER_MAX_EVENT_AGE_MINUTES),
                )
            ],
        )

    def _recheck_schedule(self) -> None:
        # A rule only fires on transitions: a backlog still in ALARM when a session ends (max runtime, window
        # over) would never re-trigger. The re-check reads the alarm state (no alarm: mode scheduled, no
        # backlog) and, without a backlog, only looks for the cleanup marker a session that timed out or
        # failed its teardown left (a model to stop, a mapping to disable): every mode gets it, so nothing the
        # pipeline started waits for the next window to be stopped.
        self.schedules.append(
            scheduler.Schedule(
                self,
                "Recheck",
                description=(
                    f"Re-check {self.model.name}: backlog alarm still in ALARM, or a model / mapping a session left"
                ),
                schedule=scheduler.ScheduleExpression.rate(Duration.minutes(constants.CONTROLLER_RECHECK_MINUTES)),
                target=scheduler_targets.StepFunctionsStartExecution(
                    self.state_machine,
                    input=scheduler.ScheduleTargetInput.from_object({"trigger": "recheck", "require_backlog": True}),
                    retry_attempts=0,  # the next re-check is minutes away
                    max_event_age=Duration.minutes(constants.CONTROLLER_RECHECK_MINUTES),
                ),
            )
        )

    # -- cdk-nag ----------------------------------------------------------------------------

    def _acknowledge(self) -> None:
        acknowledge(
            self.role,
            "AwsSolutions-IAM5",
            "Step Functions log delivery (logs:CreateLogDelivery and friends) and X-Ray trace segments do not "
            "support resource-level permissions; CDK grants them on '*'. Every service call of the workflow "
            "is scoped to exact ARNs.",
            applies_to=["Resource::*"],
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5",
            "states:DescribeExecution is granted on this state machine's own executions only (their names are "
            "generated per execution), to tell whether a lock's holder still runs.",
            applies_to=[f"Resource::{nag_arn(self, 'states', f'execution:{self._state_machine_name}:*')}"],
        )
