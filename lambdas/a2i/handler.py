"""Ingest function entry point: A2I's "SageMaker A2I HumanLoop Status Change" event (default bus) → the loop's
decision recorded (see ``lambdas.a2i.ingest``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from lambdas.a2i.ingest import IngestDependencies, S3OutputReader, ingest
from lambdas.a2i.models import HumanLoopStatusChange
from lambdas.a2i.settings import IngestSettings
from lambdas.common.observability import logger, metrics
from lambdas.review.events import ReviewedPublisher
from lambdas.review.store import ReviewStore

CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 6})


def deployed_client(service: str) -> Any:
    return boto3.client(service, config=CLIENT_CONFIG)  # type: ignore[call-overload]


@cache
def settings() -> IngestSettings:
    return IngestSettings.model_validate({k: v for k, v in os.environ.items() if v != ""})


def build_dependencies(current: IngestSettings, client: Callable[[str], Any]) -> IngestDependencies:
    """The real adapters on the clients ``client`` returns (the tests pass moto's)."""
    return IngestDependencies(
        outputs=S3OutputReader(client("s3"), current.output_s3_uri),
        store=ReviewStore(client("dynamodb"), current.results_table),
        publisher=ReviewedPublisher(client("events"), current.event_bus_name),
        model_name=current.model_name,
        flow_definition_arn=current.flow_definition_arn,
    )


@cache
def dependencies() -> IngestDependencies:
    """Clients are created once per container, lazily, so importing the module stays cheap."""
    return build_dependencies(settings(), deployed_client)


def handle(event: dict[str, Any], deps: IngestDependencies) -> dict[str, str]:
    """One status event with explicit adapters. A malformed event raises: the rule's retries end in its DLQ."""
    change = HumanLoopStatusChange.model_validate(event)
    return {"human_loop": change.detail.human_loop_name, "outcome": ingest(change, deps).value}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    """Lambda entry point."""
    metrics.add_dimension(name="model", value=settings().model_name)
    return handle(event, dependencies())
