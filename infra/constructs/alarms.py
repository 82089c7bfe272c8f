"""The SNS topic every pipeline alarm notifies, and the dead-letter queues those alarms watch."""

from __future__ import annotations

from aws_cdk import (
    ArnFormat,
    Aws,
    Duration,
    Stack,
    aws_cloudwatch as cloudwatch,
    aws_cloudwatch_actions as cw_actions,
    aws_iam as iam,
    aws_kms as kms,
    aws_sns as sns,
    aws_sqs as sqs,
)
from constructs import Construct

from infra import constants


class AlarmTopic(Construct):
    """Encrypted, TLS-only topic; subscribe operators' e-mail or a chat integration to it."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self, "Key", enable_key_rotation=True, description="Encrypts the Custom Labels Pipeline alarm topic"
        )
        # CloudWatch can only publish alarm notifications to an encrypted topic with use of its key;
        # the key policy ("*" there means this key) is limited to alarms of this account.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )
        self.topic = sns.Topic(self, "Topic", master_key=self.key, enforce_ssl=True)
        # enforce_ssl gives the topic an AWS::SNS::TopicPolicy, and a TopicPolicy replaces the topic's
        # default policy: without this Allow, CloudWatch may not publish and every alarm reaches nobody.
        # Source: alarms of this account and region. No alarm is named, and CloudFormation documents a
        # generated AlarmName only as "a unique physical ID", so a stack-name prefix would rest on
        # undocumented behaviour, and a wrong narrowing silently drops every notification again.
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsOfThisStack",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {"aws:SourceArn": alarm_arn_pattern(self)},
                },
            )
        )
        self.action = cw_actions.SnsAction(self.topic)

    def watch(self, alarm: cloudwatch.AlarmBase) -> None:
        """Send ``alarm``'s state changes to the topic."""
        alarm.add_alarm_action(self.action)


def alarm_arn_pattern(scope: Construct) -> str:
    """ARN pattern of every CloudWatch alarm in the account and region of ``scope``'s stack."""
    return Stack.of(scope).format_arn(
        service="cloudwatch",
        resource="alarm",
        resource_name="*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


def dead_letter_queue(scope: Construct) -> sqs.Queue:
    """``DeadLetterQueue`` in ``scope``: SSE-SQS (EventBridge and SQS redrive deliver without key grants),
    TLS-only, kept as long as the pipeline's queues."""
    return sqs.Queue(
        scope,
        "DeadLetterQueue",
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=Duration.days(constants.QUEUE_RETENTION_DAYS),
    )


def dead_letter_alarm(scope: Construct, queue: sqs.IQueue, description: str) -> cloudwatch.Alarm:
    """``DeadLetterAlarm`` in ``scope``: a message visible in ``queue`` during a minute (none should land there)."""
    return cloudwatch.Alarm(
        scope,
        "DeadLetterAlarm",
        alarm_description=description,
        metric=queue.metric_approximate_number_of_messages_visible(period=Duration.minutes(1), statistic="Maximum"),
        threshold=0,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluation_periods=1,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
