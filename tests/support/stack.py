"""The project's stack, synthesized once as ``python app.py`` would, with cdk-nag attached."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk.assertions import Template

from infra.app import build_app
from infra.config import PipelineConfig
from infra.stack import PipelineStack


@dataclass
class Synthesized:
    stack: PipelineStack
    config: PipelineConfig
    template: Template
    template_path: Path

    @property
    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.template_path.read_text())
        return data

    def resources(self, resource_type: str) -> dict[str, Any]:
        return {k: v for k, v in self.json["Resources"].items() if v["Type"] == resource_type}


def synthesize(outdir: Path) -> Synthesized:
    """Build and synthesize the app into ``outdir``."""
    # cdk-nag AwsSolutions runs as a validation plugin: an unacknowledged finding fails synth() here.
    app, stack, config = build_app(outdir=str(outdir))
    assembly = app.synth()
    template_path = Path(assembly.get_stack_by_name(stack.stack_name).template_full_path)
    return Synthesized(stack, config, Template.from_stack(stack), template_path)


@dataclass
class SynthesizedScale:
    config: PipelineConfig
    template: Template
    document: dict[str, Any]
    path: Path

    def resources(self, resource_type: str) -> dict[str, Any]:
        return {k: v for k, v in self.document["Resources"].items() if v["Type"] == resource_type}


def synthesize_scale(outdir: Path) -> SynthesizedScale:
    """The three-model stack (tests/support/backfill.py), synthesized; cdk-nag findings fail synth() here."""
    from infra.app import cdk_json_context
    from tests.support.backfill import THREE_MODELS

    context = {**cdk_json_context(), "pipeline": THREE_MODELS}  # cdk.json's feature flags, three models
    app, stack, config = build_app(context=context, outdir=str(outdir))
    assembly = app.synth()
    path = Path(assembly.get_stack_by_name(stack.stack_name).template_full_path)
    return SynthesizedScale(config, Template.from_stack(stack), json.loads(path.read_text()), path)
