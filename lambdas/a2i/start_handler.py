"""Starter function entry point: the pipeline's "Custom Labels Review Requested" event for one model → an A2I
human loop for the result (``lambdas.a2i.starter``).

Started from the event rather than inside the detect function: the event is published at least once with the
result (same PutEvents call as "Custom Labels Detected"), so a loop is started even when the detect invocation
that wrote the result ended before it could, and StartHumanLoop's latency and throttling stay off the detect path.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any, Literal

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from pydantic import BaseModel, ConfigDict, Field

from lambdas.a2i.settings import StartSettings
from lambdas.a2i.starter import HumanLoopStarter
from lambdas.common.observability import logger, metrics
from lambdas.review.models import PendingReview

CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 6})


class ReviewRequested(BaseModel):
    """The pipeline's Review Requested event; its detail is a pending review (docs/events/)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    source: Literal["custom-labels-pipeline"]
    detail_type: Literal["Custom Labels Review Requested"] = Field(alias="detail-type")
    detail: PendingReview


@cache
def settings() -> StartSettings:
    return StartSettings.model_validate({k: v for k, v in os.environ.items() if v != ""})


@cache
def starter() -> HumanLoopStarter:
    client = boto3.client("sagemaker-a2i-runtime", config=CLIENT_CONFIG)
    return HumanLoopStarter(client, settings().flow_definition_arn)


def handle(event: dict[str, Any], current: StartSettings, start: HumanLoopStarter) -> dict[str, str | None]:
    """One Review Requested event with explicit settings and starter."""
    pending = ReviewRequested.model_validate(event).detail
    if pending.model_name != current.model_name:
        # The rule matches this model only; a foreign event means a misrouted rule, not a loop to start.
        logger.warning("review request of another model", extra={"model": pending.model_name})
        return {"result_id": pending.result_id, "human_loop": None}
    return {"result_id": pending.result_id, "human_loop": start.start(pending)}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str | None]:
    """Lambda entry point."""
    return handle(event, settings(), starter())
