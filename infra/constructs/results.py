"""The results table: one item per object version × model version, queryable by image and by label."""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from infra import constants
from infra.constructs.tables import retained_table


class ResultsTable(Construct):
    """On-demand, PITR, encrypted; two sparse GSIs over the per-label items and one over the results pending or
    after review (docs/results.md)."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        string = dynamodb.AttributeType.STRING
        self.table = retained_table(self, constants.RESULTS_PK, constants.RESULTS_SK)
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
        # Only results the review policy selected carry review_key: pending (then reviewed) results per model,
        # oldest first, without a scan.
        self.table.add_global_secondary_index(
            index_name=constants.BY_REVIEW_INDEX,
            partition_key=dynamodb.Attribute(name=constants.REVIEW_PK, type=string),
            sort_key=dynamodb.Attribute(name=constants.REVIEW_SK, type=string),
            projection_type=dynamodb.ProjectionType.ALL,
        )
