"""State machine definitions kept as ASL JSON files, and the one loader CDK, the offline runtime and tests use.

The controller definition (``controller.asl.json``) carries ``${Name}`` placeholders. In AWS they are
CloudFormation ``DefinitionSubstitutions`` (values may be tokens: queue URL, table name, ...); offline
and in tests :func:`substitute` applies the same mapping in Python. :func:`controller_substitutions`
is the single place that maps the typed config to those placeholders, so every consumer gets the
same values.

``controller.asl.json`` is generated from the reviewable sources in ``controller/`` (phase fragments,
commented JSONata) and the named retry policies of ``retries.py`` by ``assemble.py`` (``make asl``); it
stays committed so that every consumer, asl-validator included, reads one file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from infra import constants
from infra.config import Lifecycle, ModelConfig, PipelineConfig
from lambdas.common import contract

STATEMACHINES_DIR = Path(__file__).resolve().parent
CONTROLLER_DEFINITION_PATH = STATEMACHINES_DIR / constants.CONTROLLER_ASL_FILE
BACKFILL_DEFINITION_PATH = STATEMACHINES_DIR / constants.BACKFILL_ASL_FILE

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z][A-Za-z0-9]*)\}")


class DefinitionError(ValueError):
    """A definition and its substitutions do not match (a placeholder without value, or the reverse)."""


def placeholders(definition: str) -> set[str]:
    """Names of the ``${Name}`` placeholders in ``definition``."""
    return set(_PLACEHOLDER.findall(definition))


def execution_timeout_seconds(lifecycle: Lifecycle) -> int:
    """The state machine's own ``TimeoutSeconds``: equal to the lock TTL, so no execution outlives its lock.
    The config guarantees it exceeds the session's deadlines and teardown (``Lifecycle.minimum_lock_ttl_minutes``)."""
    return lifecycle.effective_lock_ttl_minutes * 60


def controller_definition(timeout_seconds: int, path: Path = CONTROLLER_DEFINITION_PATH) -> str:
    """The controller ASL with its top-level ``TimeoutSeconds`` set, placeholders left in place.

    ``TimeoutSeconds`` must be a JSON integer, which a string placeholder cannot provide while the
    file stays valid JSON, so it is set here (CDK ignores ``StateMachine(timeout=...)`` for string
    definitions).
    """
    if timeout_seconds < 1:
        raise DefinitionError(f"TimeoutSeconds must be >= 1, got {timeout_seconds}")
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    document["TimeoutSeconds"] = timeout_seconds
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def controller_substitutions(
    config: PipelineConfig,
    model: ModelConfig,
    *,
    queue_url: str,
    event_source_mapping_id: str,
    control_table_name: str,
    event_bus_name: str,
    backlog_alarm_name: str,
) -> dict[str, str]:
    """Values of every placeholder of the controller definition for one model.

    Numbers are passed as strings (``$number('${X}')`` in the ASL) because substitution is textual.
    ``backlog_alarm_name`` is empty when the model has no backlog trigger (mode ``scheduled``); the definition
    then gets ``constants.NO_BACKLOG_ALARM``.
    """
    life = model.lifecycle
    return {
        "ProjectArn": model.project_arn,
        "ProjectVersionArn": model.project_version_arn,
        "VersionName": model.version_name,
        "ModelName": model.name,
        # The control table's keys (lambdas/common/contract.py), so the ASL spells no key prefix of its own.
        "ModelKey": contract.model_pk(model.name),
        "LockSortKey": contract.CONTROL_TABLE_LOCK_SK,
        "CleanupSortKey": contract.CONTROL_TABLE_CLEANUP_SK,
        "SessionSortKeyPrefix": contract.SESSION_SK_PREFIX,
        "QueueUrl": queue_url,
        "EventSourceMappingId": event_source_mapping_id,
        "ControlTableName": control_table_name,
        "EventBusName": event_bus_name,
        "BacklogAlarmName": backlog_alarm_name or constants.NO_BACKLOG_ALARM,
        "EventSource": constants.EVENT_SOURCE,
        "ModelStartedDetailType": constants.DETAIL_TYPE_MODEL_STARTED,
        "ModelStoppedDetailType": constants.DETAIL_TYPE_MODEL_STOPPED,
        "PollIntervalSeconds": str(life.poll_interval_seconds),
        "StartPollIntervalSeconds": str(life.start_poll_interval_seconds),
        "StartTimeoutSeconds": str(life.start_timeout_minutes * 60),
        "IdleGraceSeconds": str(life.idle_grace_seconds),
        "MaxRuntimeSeconds": str(life.max_runtime_minutes * 60),
        "StopTimeoutSeconds": str(constants.CONTROLLER_STOP_TIMEOUT_MINUTES * 60),
        "LockTtlSeconds": str(life.effective_lock_ttl_minutes * 60),
        "MinInferenceUnits": str(life.min_inference_units),
        "MaxInferenceUnits": str(life.max_inference_units),
        "PricePerInferenceUnitHour": repr(float(config.price_per_inference_unit_hour)),
    }


def backfill_definition(
    *,
    items_per_batch: int = constants.BACKFILL_ITEMS_PER_BATCH,
    max_concurrency: int = constants.BACKFILL_MAX_CONCURRENCY,
    path: Path = BACKFILL_DEFINITION_PATH,
) -> str:
    """The backfill ASL with the Distributed Map's batch size and concurrency set, placeholders left in place.

    Both must be JSON integers (like the controller's ``TimeoutSeconds``), so they are set here rather
    than substituted. A batch is one ``sqs:SendMessageBatch`` call: at most 10 entries.
    """
    if not 1 <= items_per_batch <= 10:
        raise DefinitionError(f"items_per_batch must be 1-10 (one SendMessageBatch), got {items_per_batch}")
    if not 1 <= max_concurrency <= 10_000:
        raise DefinitionError(f"max_concurrency must be 1-10000, got {max_concurrency}")
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    backfill = document["States"]["Backfill"]
    backfill["ItemBatcher"]["MaxItemsPerBatch"] = items_per_batch
    backfill["MaxConcurrency"] = max_concurrency
    backfill["ItemProcessor"]["States"]["FindResults"]["MaxConcurrency"] = items_per_batch
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def backfill_substitutions(
    config: PipelineConfig,
    model: ModelConfig,
    *,
    bucket_name: str,
    queue_url: str,
    results_table_name: str,
    controller_state_machine_arn: str,
    region: str,
    partition: str = "aws",
) -> dict[str, str]:
    """Values of every placeholder of the backfill definition for one model."""
    del config  # same signature as controller_substitutions; nothing pipeline-wide is needed yet
    return {
        "ModelName": model.name,
        "ModelPrefix": model.prefix,
        "BucketName": bucket_name,
        "QueueUrl": queue_url,
        "ResultsTableName": results_table_name,
        # The results table's keys (lambdas/common/contract.py): the object's partition, one model's results.
        "ObjectKeyPrefix": contract.OBJECT_PK_PREFIX,
        "ResultKeyPrefix": contract.result_sk_prefix(model.project_version_arn),
        "ControllerStateMachineArn": controller_state_machine_arn,
        "ResultsPrefix": constants.BACKFILL_RESULTS_PREFIX,
        "Region": region,
        "Partition": partition,
    }


def deployed_controller(
    config: PipelineConfig, model: ModelConfig, *, overrides: dict[str, str] | None = None, **resources: str
) -> str:
    """The controller definition of one model as CloudFormation deploys it: every placeholder substituted.

    ``resources`` are :func:`controller_substitutions`' keyword arguments; ``overrides`` replaces values
    (the offline runtime and tests only: moto sleeps Wait states in real time).
    """
    substitutions = controller_substitutions(config, model, **resources)
    substitutions.update(overrides or {})
    return substitute(controller_definition(execution_timeout_seconds(model.lifecycle)), substitutions)


def deployed_backfill(config: PipelineConfig, model: ModelConfig, **resources: str) -> str:
    """The backfill definition of one model as CloudFormation deploys it (:func:`backfill_substitutions`)."""
    return substitute(backfill_definition(), backfill_substitutions(config, model, **resources))


def substitute(definition: str, substitutions: dict[str, str]) -> str:
    """Replace every ``${Name}`` as CloudFormation ``DefinitionSubstitutions`` would.

    Raises :class:`DefinitionError` when a placeholder has no value or a value has no placeholder,
    so a renamed placeholder cannot silently reach AWS.
    """
    wanted = placeholders(definition)
    missing = sorted(wanted - substitutions.keys())
    unused = sorted(substitutions.keys() - wanted)
    if missing or unused:
        raise DefinitionError(f"placeholders without value: {missing}; values without placeholder: {unused}")
    for name, value in substitutions.items():
        # Values land inside JSON strings (and JSONata string literals): refuse what would break them.
        if any(ch in value for ch in "\"'\\\n"):
            raise DefinitionError(f"substitution {name}={value!r} contains a quote, backslash or newline")
    return _PLACEHOLDER.sub(lambda match: substitutions[match.group(1)], definition)


__all__ = [
    "BACKFILL_DEFINITION_PATH",
    "CONTROLLER_DEFINITION_PATH",
    "DefinitionError",
    "backfill_definition",
    "backfill_substitutions",
    "controller_definition",
    "controller_substitutions",
    "deployed_backfill",
    "deployed_controller",
    "execution_timeout_seconds",
    "placeholders",
    "substitute",
]
