"""The detect function's adapters, wired from its settings and a client factory.

The one place that knows which client and which setting each adapter takes: the deployed handler, the
offline runtime, the benchmarks and the integration tests differ only in where their clients come from.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

import boto3
from botocore.config import Config

from lambdas.detect.adapters import (
    DynamoResultsRepository,
    EventBridgePublisher,
    RekognitionDetector,
    S3ObjectInspector,
    SqsRequeuer,
)
from lambdas.detect.logic import Dependencies
from lambdas.detect.settings import Settings

# A boto3 client for a service name: "rekognition", "s3", "dynamodb", "events" or "sqs".
ClientFactory = Callable[[str], Any]

# Adaptive mode adds client-side rate limiting on top of retries: a model at its TPS limit
# answers ProvisionedThroughputExceeded, and backing off is cheaper than failing the message.
REKOGNITION_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 8})
STANDARD_CONFIG = Config(retries={"mode": "standard", "max_attempts": 6})


def deployed_client(service: str) -> Any:
    """The client the deployed function uses for ``service`` (region and credentials from the environment)."""
    config = REKOGNITION_CONFIG if service == "rekognition" else STANDARD_CONFIG
    return boto3.client(service, config=config)  # type: ignore[call-overload]


def build_dependencies(
    settings: Settings,
    client: ClientFactory,
    *,
    now: Callable[[], datetime] | None = None,
    publish_sleep: Callable[[float], None] = time.sleep,
) -> Dependencies:
    """The real adapters on the clients ``client`` returns; ``now`` replaces the wall clock when given."""
    deps = Dependencies(
        detector=RekognitionDetector(
            client("rekognition"), settings.project_version_arn, settings.min_confidence, settings.max_results
        ),
        inspector=S3ObjectInspector(client("s3")),
        repository=DynamoResultsRepository(client("dynamodb"), settings.results_table),
        publisher=EventBridgePublisher(client("events"), settings.event_bus_name, sleep=publish_sleep),
        requeuer=SqsRequeuer(client("sqs"), settings.queue_url, settings.not_ready_delay_seconds),
    )
    return deps if now is None else replace(deps, now=now)
