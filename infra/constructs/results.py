"""The results table: one item per object version × model version, queryable by image and by label."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, aws_dynamodb as dynamodb
from constructs import Construct

from infra import constants


class ResultsTable(Construct):
    """On-demand, PITR, encrypted; two sparse GSIs over the per-label items (docs/results.md)."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        string = dynamodb.AttributeType.STRING
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=constants.RESULTS_PK, type=string),
            sort_key=dynamodb.Attribute(name=constants.RESULTS_SK, type=string),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # Only label items carry label_key, so both indexes are sparse: one entry per (image, label).
        self.table.add_global_secondary_index(
            index_name=constants.GSI_LABEL_BY_CONFIDENCE,
            partition_key=dynamodb.Attribute(name=constants.GSI_LABEL_PK, type=string),
            sort_key=dynamodb.Attribute(name=constants.GSI_CONFIDENCE_SK, type=dynamodb.AttributeType.NUMBER),
            projection_type=dynamodb.ProjectionType.ALL,
        )
        self.table.add_global_secondary_index(
            index_name=constants.GSI_LABEL_BY_TIME,
            partition_key=dynamodb.Attribute(name=constants.GSI_LABEL_PK, type=string),
            sort_key=dynamodb.Attribute(name=constants.GSI_TIME_SK, type=string),
            projection_type=dynamodb.ProjectionType.ALL,
        )
