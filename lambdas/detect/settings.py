"""The detect function's environment as a model (shared by the handler and ``wiring``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, Json

from lambdas.review.models import ReviewPolicy


class Settings(BaseModel):
    """Environment of the function, validated once per container."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    model_name: str = Field(alias="MODEL_NAME")
    project_version_arn: str = Field(alias="PROJECT_VERSION_ARN")
    model_prefix: str = Field(alias="MODEL_PREFIX")
    min_confidence: float | None = Field(default=None, alias="MIN_CONFIDENCE", ge=0, le=100)
    max_results: int | None = Field(default=None, alias="MAX_RESULTS", ge=1)
    results_table: str = Field(alias="RESULTS_TABLE")
    event_bus_name: str = Field(alias="EVENT_BUS_NAME")
    queue_url: str = Field(alias="QUEUE_URL")
    not_ready_delay_seconds: int = Field(default=60, alias="NOT_READY_DELAY_SECONDS", ge=0, le=900)
    # The model's ``review`` block as JSON (infra/config.py); absent: review disabled.
    review_policy: Json[ReviewPolicy] = Field(default_factory=ReviewPolicy, alias="REVIEW_POLICY")
