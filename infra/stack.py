"""The app's stack: the public construct, plus the flat outputs ``cdk deploy`` prints."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.config import PipelineConfig
from infra.pipeline import CustomLabelsPipeline


class PipelineStack(Stack):
    """One ``CustomLabelsPipeline``, as ``make deploy`` creates it from cdk.json."""

    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        # "Default" is left out of the logical ids CDK derives from construct paths, so every resource keeps
        # the id it had before the construct existed: an update of a stack deployed then replaces nothing
        # (the uploads bucket and the access log bucket are retained, and a new id would orphan them).
        self.pipeline = CustomLabelsPipeline(self, "Default", config=config)
        # Readable names for people and for docs/results.md and docs/events.md. They stay with this stack, not
        # the construct: their fixed ids would clash for two pipelines in one stack, and the manifest output
        # (the construct's, what clp reads) already holds the same values.
        CfnOutput(self, "UploadsBucketName", value=self.pipeline.bucket.bucket_name)
        CfnOutput(self, "ResultsTableName", value=self.pipeline.results_table.table_name)
        CfnOutput(self, "EventBusName", value=self.pipeline.event_bus.event_bus_name)
