"""The A2I functions' environments as models, validated once per container."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    model_name: str = Field(alias="MODEL_NAME")
    flow_definition_arn: str = Field(alias="FLOW_DEFINITION_ARN")


class StartSettings(_Settings):
    """The starter function: one model's Review Requested events → StartHumanLoop on its flow definition."""


class IngestSettings(_Settings):
    """The ingest function: the flow definition's status events → the results table and the pipeline's bus."""

    output_s3_uri: str = Field(alias="A2I_OUTPUT_S3_URI", pattern=r"^s3://[^/]+(/.*)?$")
    results_table: str = Field(alias="RESULTS_TABLE")
    event_bus_name: str = Field(alias="EVENT_BUS_NAME")
