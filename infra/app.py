"""Builds the CDK app from ``cdk.json`` (or ``-c pipeline=...``) with cdk-nag checks attached."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from infra.config import DEFAULT_CDK_JSON, PipelineConfig, parse_config
from infra.stack import PipelineStack


def cdk_json_context(path: Path = DEFAULT_CDK_JSON) -> dict[str, Any]:
    context: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")).get("context", {})
    return context


def build_app(
    context: dict[str, Any] | None = None, outdir: str | None = None, nag: bool = True
) -> tuple[App, PipelineStack, PipelineConfig]:
    """The app and its stack. Without the CDK CLI (``python app.py``), context comes from cdk.json."""
    app = App(context=context, outdir=outdir) if context is not None else App(outdir=outdir)
    raw = app.node.try_get_context("pipeline")
    if raw is None:  # run as `python app.py`: the CLI did not pass cdk.json's context
        app = App(context=cdk_json_context(), outdir=outdir)
        raw = app.node.try_get_context("pipeline")
    config = parse_config(raw)
    stack = PipelineStack(
        app,
        config.stack_name,
        config=config,
        description="Custom Labels Pipeline: S3 → SQS → DetectCustomLabels → DynamoDB + EventBridge",
    )
    if nag:
        Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack, config
