"""Typed configuration of the pipeline, read from the ``pipeline`` block of ``cdk.json``.

The CDK app, the offline runtime and the CLI all build from this one model, so names, prefixes and
thresholds have a single source of truth. Invalid configuration fails fast with the field named.
"""

from __future__ import annotations

import json
import math
import re
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from infra import constants
from lambdas.common import contract
from lambdas.review.models import ReviewPolicy

# On top of the API's ARN patterns (lambdas/common/contract.py) the config asks for a real partition
# (aws, aws-cn, aws-us-gov, ...) and the 13-digit millisecond timestamp Rekognition writes into its ARNs.
_PARTITION = re.compile(r"^aws[a-z-]*$")
_TIMESTAMP = re.compile(r"^\d{13}$")
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
_CRON = re.compile(r"^cron\(\S+ \S+ \S+ \S+ \S+ \S+\)$")


class ConfigError(ValueError):
    """The pipeline configuration is invalid; the message names the offending field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LifecycleMode(StrEnum):
    SCHEDULED = "scheduled"
    ON_DEMAND = "on_demand"
    BOTH = "both"


class Schedule(_Strict):
    """A batch window: the model is started ``lead_minutes`` before ``cron`` fires in ``timezone``."""

    cron: str = Field(description="EventBridge Scheduler cron expression, e.g. cron(0 2 * * ? *)")
    timezone: str = "UTC"
    window_minutes: int = Field(default=120, ge=5, le=24 * 60)
    lead_minutes: int = Field(default=10, ge=0, le=120)

    @field_validator("cron")
    @classmethod
    def _cron_shape(cls, value: str) -> str:
        if not _CRON.match(value):
            raise ValueError("must look like cron(minutes hours day-of-month month day-of-week year)")
        return value


class Lifecycle(_Strict):
    """How the model controller starts and stops the model (read by the controller)."""

    mode: LifecycleMode = LifecycleMode.ON_DEMAND
    min_inference_units: int = Field(default=1, ge=1, le=100)
    max_inference_units: int = Field(default=1, ge=1, le=100)
    schedules: tuple[Schedule, ...] = ()
    backlog_threshold: int = Field(default=100, ge=1, description="visible messages that start the model")
    latency_target_minutes: int = Field(default=60, ge=5, le=24 * 60)
    idle_grace_seconds: int = Field(default=300, ge=0, le=3600)
    # >= 1: a 0-second Wait on AWS is a busy loop that exhausts the execution history in minutes.
    poll_interval_seconds: int = Field(default=30, ge=1, le=3600)
    start_poll_interval_seconds: int = Field(default=30, ge=1, le=3600)
    start_timeout_minutes: int = Field(default=45, ge=1, le=180)
    max_runtime_minutes: int = Field(default=240, ge=5, le=24 * 60)
    lock_ttl_minutes: int | None = Field(
        default=None, ge=10, le=48 * 60, description="omitted: the shortest that covers a whole session"
    )

    @property
    def minimum_lock_ttl_minutes(self) -> int:
        """The shortest lock TTL (= execution timeout) that lets a session run all its deadlines and its teardown:
        start timeout + max runtime + stop timeout, one poll of each loop past its deadline, and the retries'
        allowance."""
        seconds = (
            (self.start_timeout_minutes + self.max_runtime_minutes + constants.CONTROLLER_STOP_TIMEOUT_MINUTES) * 60
            + self.poll_interval_seconds
            + 2 * self.start_poll_interval_seconds
            + constants.CONTROLLER_TIMEOUT_RETRY_ALLOWANCE_MINUTES * 60
        )
        return math.ceil(seconds / 60)

    @property
    def effective_lock_ttl_minutes(self) -> int:
        return self.lock_ttl_minutes if self.lock_ttl_minutes is not None else self.minimum_lock_ttl_minutes

    @property
    def history_events_estimate(self) -> int:
        """Execution history events of the longest session this lifecycle allows (see constants)."""
        drain_polls = math.ceil(self.max_runtime_minutes * 60 / self.poll_interval_seconds) + 1
        start_polls = math.ceil(self.start_timeout_minutes * 60 / self.start_poll_interval_seconds) + 1
        stop_polls = math.ceil(constants.CONTROLLER_STOP_TIMEOUT_MINUTES * 60 / self.start_poll_interval_seconds) + 1
        return (
            drain_polls * constants.CONTROLLER_DRAIN_LOOP_EVENTS
            + (start_polls + stop_polls) * constants.CONTROLLER_START_STOP_LOOP_EVENTS
            + constants.CONTROLLER_FIXED_EVENTS_ALLOWANCE
        )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.max_inference_units < self.min_inference_units:
            raise ValueError("max_inference_units must be >= min_inference_units")
        if self.mode in (LifecycleMode.SCHEDULED, LifecycleMode.BOTH) and not self.schedules:
            raise ValueError(f"mode {self.mode.value!r} needs at least one entry in schedules")
        if self.lock_ttl_minutes is not None and self.lock_ttl_minutes < self.minimum_lock_ttl_minutes:
            raise ValueError(
                f"lock_ttl_minutes must be >= {self.minimum_lock_ttl_minutes} (start_timeout_minutes + "
                f"max_runtime_minutes + {constants.CONTROLLER_STOP_TIMEOUT_MINUTES} min stop timeout + one poll of "
                f"each loop + {constants.CONTROLLER_TIMEOUT_RETRY_ALLOWANCE_MINUTES} min for retries), or omitted"
            )
        events = self.history_events_estimate
        if events > constants.CONTROLLER_HISTORY_BUDGET:
            raise ValueError(
                f"a session could record ~{events} execution history events (poll_interval_seconds "
                f"{self.poll_interval_seconds} over max_runtime_minutes {self.max_runtime_minutes}); Step Functions "
                f"fails an execution past {constants.STEP_FUNCTIONS_HISTORY_QUOTA}: keep it under "
                f"{constants.CONTROLLER_HISTORY_BUDGET} with a longer poll interval or a shorter max runtime"
            )
        return self


class ModelConfig(_Strict):
    """One trained Custom Labels model version and the S3 prefix whose images it labels."""

    name: str
    project_arn: str
    project_version_arn: str
    prefix: str
    min_confidence: float | None = Field(
        default=None, ge=0, le=100, description="omitted: the model's own per-label thresholds"
    )
    max_results: int | None = Field(default=None, ge=1, le=constants.MAX_LABELS_PER_RESULT)
    tps_per_inference_unit: float = Field(default=5.0, gt=0, le=1000)
    max_concurrency: int | None = Field(
        default=None,
        ge=constants.ESM_MIN_CONCURRENCY,
        le=constants.ESM_MAX_CONCURRENCY,
        description="event source mapping MaximumConcurrency; omitted: derived from the model's TPS",
    )
    lifecycle: Lifecycle = Lifecycle()
    # Validated by the very model the detect function reads back from its environment (lambdas/review/models.py):
    # confidences 0..100, audit_fraction 0..1, plain label names, an A2I flow definition ARN's shape; unknown keys
    # refused. Omitted: disabled, the function writes and publishes what it did before.
    review: ReviewPolicy = ReviewPolicy()

    @field_validator("name")
    @classmethod
    def _name_shape(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must be 2-32 characters: lower-case letters, digits and '-', starting with a letter")
        return value

    @field_validator("project_version_arn")
    @classmethod
    def _version_arn_shape(cls, value: str) -> str:
        parts = contract.parse_project_version_arn(value)
        if parts is None or not _PARTITION.match(parts.partition) or not _TIMESTAMP.match(parts.timestamp):
            raise ValueError(f"must look like {contract.PROJECT_VERSION_ARN_SHAPE}")
        return value

    @field_validator("project_arn")
    @classmethod
    def _project_arn_shape(cls, value: str) -> str:
        parts = contract.parse_project_arn(value)
        if parts is None or not _PARTITION.match(parts.partition) or not _TIMESTAMP.match(parts.timestamp):
            raise ValueError(f"must look like {contract.PROJECT_ARN_SHAPE}")
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix_shape(cls, value: str) -> str:
        if not value or value.startswith("/") or not value.endswith("/") or "//" in value:
            raise ValueError("must be a non-empty S3 prefix ending in '/' (e.g. 'produce/'), not starting with '/'")
        return value

    @model_validator(mode="after")
    def _arns_agree(self) -> Self:
        version = contract.parse_project_version_arn(self.project_version_arn)
        project = contract.parse_project_arn(self.project_arn)
        assert version and project  # field validators ran first
        for part in ("partition", "region", "account", "project"):
            if getattr(version, part) != getattr(project, part):
                raise ValueError(f"project_arn and project_version_arn disagree on the {part}")
        return self

    @model_validator(mode="after")
    def _review_fits_the_environment(self) -> Self:
        size = len(self.review.model_dump_json().encode())
        if self.review.enabled and size > constants.REVIEW_POLICY_ENV_MAX_BYTES:
            raise ValueError(
                f"review is {size} bytes as the detect function's REVIEW_POLICY variable; at most "
                f"{constants.REVIEW_POLICY_ENV_MAX_BYTES} fit in Lambda's 4 KB of environment: fewer label overrides"
            )
        return self

    @property
    def version_name(self) -> str:
        """The version name DescribeProjectVersions takes in ``VersionNames``."""
        parts = contract.parse_project_version_arn(self.project_version_arn)
        assert parts
        return parts.version

    @property
    def project_name(self) -> str:
        """The project's name: the CloudWatch ``ProjectName`` dimension of the model's metrics."""
        parts = contract.parse_project_arn(self.project_arn)
        assert parts
        return parts.project

    @property
    def region(self) -> str:
        parts = contract.parse_project_version_arn(self.project_version_arn)
        assert parts
        return parts.region

    @property
    def effective_max_concurrency(self) -> int:
        """Pollers needed to saturate the model at its maximum inference units, within AWS bounds."""
        if self.max_concurrency is not None:
            return self.max_concurrency
        tps = self.tps_per_inference_unit * self.lifecycle.max_inference_units
        wanted = math.ceil(tps * constants.DETECT_CALL_SECONDS_ESTIMATE)
        return max(constants.ESM_MIN_CONCURRENCY, min(constants.ESM_MAX_CONCURRENCY, wanted))


class PipelineConfig(_Strict):
    """The ``pipeline`` block of ``cdk.json``."""

    stack_name: str = "CustomLabelsPipeline"
    resource_prefix: str = Field(default="clp", pattern=r"^[a-z][a-z0-9-]{1,15}$")
    bucket_name: str | None = Field(default=None, description="omitted: CloudFormation generates one")
    price_per_inference_unit_hour: float = Field(default=4.0, gt=0)
    log_retention_days: int = constants.LOG_RETENTION_DAYS
    models: tuple[ModelConfig, ...] = Field(min_length=1)

    @field_validator("log_retention_days")
    @classmethod
    def _retention_choice(cls, value: int) -> int:
        if value not in constants.LOG_RETENTION_CHOICES:
            raise ValueError(f"must be one of {', '.join(map(str, constants.LOG_RETENTION_CHOICES))}")
        return value

    @field_validator("bucket_name")
    @classmethod
    def _bucket_shape(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", value):
            raise ValueError("must be a valid S3 bucket name")
        return value

    @model_validator(mode="after")
    def _models_distinct(self) -> Self:
        names = [m.name for m in self.models]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate model names: {', '.join(duplicates)}")
        for i, first in enumerate(self.models):
            for second in self.models[i + 1 :]:
                if first.prefix.startswith(second.prefix) or second.prefix.startswith(first.prefix):
                    raise ValueError(
                        f"prefixes overlap: {first.name!r} ({first.prefix}) and {second.name!r} ({second.prefix})"
                    )
        return self

    def model(self, name: str) -> ModelConfig:
        """The model named ``name``; ``KeyError`` listing the known names otherwise."""
        for model in self.models:
            if model.name == name:
                return model
        raise KeyError(f"unknown model {name!r}; configured: {', '.join(m.name for m in self.models)}")

    def model_for_key(self, key: str) -> ModelConfig | None:
        """The model whose prefix contains ``key``, or ``None`` (prefixes never overlap)."""
        return next((m for m in self.models if key.startswith(m.prefix)), None)


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"]) or "pipeline"
        lines.append(f"pipeline.{location}: {item['msg']}")
    return "invalid pipeline configuration:\n  " + "\n  ".join(lines)


def parse_config(raw: Any) -> PipelineConfig:
    """Validate a ``pipeline`` block (a dict, or a JSON string as ``-c pipeline=...`` passes it)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"pipeline: not valid JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise ConfigError("pipeline: expected an object")
    try:
        return PipelineConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from exc


DEFAULT_CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"


def load_config(cdk_json: Path | str = DEFAULT_CDK_JSON) -> PipelineConfig:
    """Read the ``pipeline`` block of a ``cdk.json`` file."""
    data = json.loads(Path(cdk_json).read_text(encoding="utf-8"))
    try:
        block = data["context"]["pipeline"]
    except KeyError as exc:
        raise ConfigError(f"{cdk_json}: no context.pipeline block") from exc
    return parse_config(block)
