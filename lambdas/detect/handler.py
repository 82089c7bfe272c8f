"""Detect function entry point: SQS batch of S3 upload events (EventBridge, or notification records) → partial
batch response."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.common.observability import logger, metrics
from lambdas.detect.errors import MalformedMessageError
from lambdas.detect.logic import (
    PUBLISH_CLAIM_MARGIN_SECONDS,
    BatchState,
    Dependencies,
    ModelSettings,
    process_message,
)
from lambdas.detect.settings import Settings as Settings
from lambdas.detect.wiring import build_dependencies, deployed_client


@cache
def settings() -> Settings:
    env = {k: v for k, v in os.environ.items() if v != ""}
    return Settings.model_validate(env)


@cache
def dependencies() -> Dependencies:
    """Clients are created once per container, lazily, so importing the module stays cheap."""
    return build_dependencies(settings(), deployed_client)


def model_settings(current: Settings) -> ModelSettings:
    return ModelSettings(
        model_name=current.model_name,
        project_version_arn=current.project_version_arn,
        prefix=current.model_prefix,
        review=current.review_policy,
    )


def _record_handler(record: SQSRecord, model: ModelSettings, deps: Dependencies, state: BatchState) -> None:
    try:
        process_message(record.body, model, deps, state)
    except MalformedMessageError as exc:
        # Fails the item every time, so SQS dead-letters it after maxReceiveCount with this reason logged.
        logger.error("malformed message", extra={"message_id": record.message_id, "reason": str(exc)})
        raise


def handle(
    event: dict[str, Any], context: LambdaContext, current: Settings, deps: Dependencies
) -> PartialItemFailureResponse:
    """One SQS batch with explicit settings and adapters (the offline runtime calls this per model)."""
    model = model_settings(current)
    # A publish claim taken in this invocation stays exclusive for as long as the invocation may still run.
    remaining_seconds = context.get_remaining_time_in_millis() / 1000
    state = BatchState(publish_lease_seconds=remaining_seconds + PUBLISH_CLAIM_MARGIN_SECONDS)
    # A batch whose every record failed returns them all as item failures rather than raising:
    # Lambda retries the same records either way, and the response stays one shape.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(
        event=event,
        record_handler=lambda record: _record_handler(record, model, deps, state),
        processor=processor,
        context=context,
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """Lambda entry point."""
    current = settings()
    metrics.add_dimension(name="model", value=current.model_name)
    return handle(event, context, current, dependencies())
