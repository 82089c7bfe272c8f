"""Powertools Logger and Metrics, created once per container and imported by logic modules.

Tracer is deliberately not used: its X-Ray SDK import costs cold-start time and Lambda's built-in
active tracing (enabled on the function) already records the invocation and AWS SDK segments.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

SERVICE = "custom-labels-pipeline"
NAMESPACE = "CustomLabelsPipeline"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
