"""The SNS topic every pipeline alarm notifies."""

from __future__ import annotations

from aws_cdk import (
    Aws,
    aws_cloudwatch as cloudwatch,
    aws_cloudwatch_actions as cw_actions,
    aws_iam as iam,
    aws_kms as kms,
    aws_sns as sns,
)
from constructs import Construct


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
        self.action = cw_actions.SnsAction(self.topic)

    def watch(self, alarm: cloudwatch.AlarmBase) -> None:
        """Send ``alarm``'s state changes to the topic."""
        alarm.add_alarm_action(self.action)
