"""What a command works on: the pipeline config (cdk.json), the deployed stack's manifest, the AWS clients.

The stack is found by its ``PipelineManifest`` CloudFormation output (infra/pipeline.py), read by
:func:`read_deployment` only; its default name is ``pipeline.stack_name`` of cdk.json. Every AWS
client comes from :class:`Clients`, one per service per command.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from clp.errors import ManifestError, ModelSelectionError, StackNotFoundError, UsageError
from infra.config import DEFAULT_CDK_JSON, ConfigError, PipelineConfig, load_config

MANIFEST_OUTPUT = "PipelineManifest"
FALLBACK_STACK_NAME = "CustomLabelsPipeline"


def default_stack_name() -> str:
    """``pipeline.stack_name`` of cdk.json (the stack ``make deploy`` creates)."""
    try:
        context = json.loads(DEFAULT_CDK_JSON.read_text(encoding="utf-8"))["context"]
        return str(context["pipeline"].get("stack_name", FALLBACK_STACK_NAME))
    except (OSError, KeyError, TypeError, json.JSONDecodeError):
        return FALLBACK_STACK_NAME


def pipeline_config(path: Path) -> PipelineConfig:
    """The ``pipeline`` block of ``path``; a missing or invalid file is invalid usage (exit 2)."""
    try:
        return load_config(path)
    except FileNotFoundError as exc:
        raise UsageError(f"config file not found: {path}") from exc
    except (ConfigError, json.JSONDecodeError) as exc:
        lines = str(exc).splitlines()
        raise UsageError(f"{path}: {lines[0]} {' '.join(lines[1:])}".strip()) from exc


@dataclass(frozen=True)
class ModelTarget:
    """One model of the deployed stack (an entry of the manifest's ``models``)."""

    name: str
    prefix: str
    project_version_arn: str
    queue_url: str
    dead_letter_queue_url: str
    function: str
    event_source_mapping_id: str
    controller_arn: str
    # In the manifest since the backfill release; None for a stack deployed before (read from the controller).
    project_arn: str | None = None
    backfill_arn: str | None = None


@dataclass(frozen=True)
class Deployment:
    stack: str
    bucket: str
    results_table: str
    control_table: str
    models: dict[str, ModelTarget]
    # The pipeline's bus (the manifest's ``event_bus``; ``clp review pull`` publishes Reviewed events on it).
    event_bus: str | None = None

    def select(self, name: str | None, *, one: bool = False) -> list[ModelTarget]:
        """The named model, or every model; ``one`` requires a single model (``--model`` when several)."""
        known = ", ".join(sorted(self.models)) or "none"
        if name is not None:
            if name not in self.models:
                raise ModelSelectionError(f"unknown model {name!r} in stack {self.stack} (known: {known})")
            return [self.models[name]]
        if one and len(self.models) != 1:
            raise ModelSelectionError(
                f"stack {self.stack} has several models: choose one with --model (known: {known})"
            )
        return [self.models[key] for key in sorted(self.models)]


def _model(name: str, entry: dict[str, Any]) -> ModelTarget:
    return ModelTarget(
        name=name,
        prefix=entry["prefix"],
        project_version_arn=entry["project_version_arn"],
        queue_url=entry["queue_url"],
        dead_letter_queue_url=entry["dead_letter_queue_url"],
        function=entry["function"],
        event_source_mapping_id=entry["event_source_mapping_id"],
        controller_arn=entry["controller_state_machine_arn"],
        project_arn=entry.get("project_arn"),
        backfill_arn=entry.get("backfill_state_machine_arn"),
    )


def parse_manifest(stack: str, text: str) -> Deployment:
    """A ``PipelineManifest`` output value (JSON), as a :class:`Deployment`."""
    try:
        manifest = json.loads(text)
        return Deployment(
            stack=stack,
            bucket=manifest["bucket"],
            results_table=manifest["results_table"],
            control_table=manifest["control_table"],
            models={name: _model(name, entry) for name, entry in manifest["models"].items()},
            event_bus=manifest.get("event_bus"),
        )
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise ManifestError(f"stack {stack!r}: {MANIFEST_OUTPUT} output is malformed ({exc!r})") from exc


def read_deployment(cloudformation: Any, stack: str) -> Deployment:
    """The stack's ``PipelineManifest`` output, parsed."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        # CloudFormation answers an unknown stack name with ValidationError "Stack with id X does not exist".
        error = exc.response["Error"]
        if error.get("Code") == "ValidationError" and "does not exist" in error.get("Message", ""):
            raise StackNotFoundError(f"stack {stack!r} does not exist (check --stack and --region)") from exc
        raise
    outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in stacks[0].get("Outputs", [])}
    if MANIFEST_OUTPUT not in outputs:
        raise ManifestError(f"stack {stack!r} has no {MANIFEST_OUTPUT} output: not a Custom Labels Pipeline stack?")
    return parse_manifest(stack, outputs[MANIFEST_OUTPUT])


class Clients:
    """boto3 clients, created once per command (lazily: a command only builds the ones it uses)."""

    def __init__(self, region: str | None) -> None:
        self._session = boto3.session.Session(region_name=region) if region else boto3.session.Session()
        self._clients: dict[str, Any] = {}

    def __call__(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._session.client(service)  # type: ignore[call-overload]
        return self._clients[service]


class StackContext:
    """What an operator command works on: its clients and, read once on first use, the deployed stack."""

    def __init__(self, stack: str | None, region: str | None) -> None:
        self.clients = Clients(region)
        self.stack_name = stack or default_stack_name()

    @cached_property
    def deployment(self) -> Deployment:
        return read_deployment(self.clients("cloudformation"), self.stack_name)
