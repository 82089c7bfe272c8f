"""The pipeline's EventBridge bus, where downstream consumers subscribe."""

from __future__ import annotations

from aws_cdk import Duration, aws_events as events
from constructs import Construct

from infra import constants
from infra.config import PipelineConfig


class PipelineEventBus(Construct):
    """Custom bus for the pipeline's events, with a replayable archive of them."""

    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(self, "Bus", event_bus_name=f"{config.resource_prefix}-events")
        # Consumers that were down can replay what they missed.
        self.archive = self.bus.archive(
            "Archive",
            event_pattern=events.EventPattern(source=[constants.EVENT_SOURCE]),
            retention=Duration.days(30),
            description="Custom Labels Pipeline events, for replay to consumers",
        )
