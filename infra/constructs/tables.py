"""What every table of the pipeline shares: on demand, point-in-time recovery, AWS-managed encryption,
deletion protection and retained on stack deletion (the results and the session ledger are the pipeline's
records: never lost with the stack)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, aws_dynamodb as dynamodb
from constructs import Construct


def retained_table(
    scope: Construct, partition_key: str, sort_key: str, *, time_to_live_attribute: str | None = None
) -> dynamodb.Table:
    """A ``Table`` (construct id ``Table``) keyed on two string attributes."""
    string = dynamodb.AttributeType.STRING
    return dynamodb.Table(
        scope,
        "Table",
        partition_key=dynamodb.Attribute(name=partition_key, type=string),
        sort_key=dynamodb.Attribute(name=sort_key, type=string),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        time_to_live_attribute=time_to_live_attribute,
        deletion_protection=True,
        removal_policy=RemovalPolicy.RETAIN,
    )
