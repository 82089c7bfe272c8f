"""Test-only adaptations that let moto's Step Functions interpreter run the REAL backfill definition.

The deployed definition is never changed; these functions rewrite a *copy* for moto, or patch moto
while a test runs, and each names the moto gap (or cost) it bridges (tests/scale/test_backfill_definition.py
checks the real file):

* ``ItemBatcher`` — moto 5.2's ASL parser rejects it. :func:`moto_backfill_definition` removes it and
  wraps the ``ItemSelector`` as a batch of one, ``{"Items": [<selected item>], "BatchInput": <BatchInput>}``;
  :func:`emulate_moto_backfill` (registry: :func:`item_batcher_max_items`) then cuts the reader's items
  into batches of ``MaxItemsPerBatch`` (10), one child execution per batch as on AWS, and gives each
  child ``{"Items": [<up to 10 selected items>], "BatchInput": ...}`` — the ItemSelector evaluated per
  item (``$states.context.Map.Item`` = that item), the Items joined. The child states — the skip check,
  the message bodies, the SendMessageBatch of 10 — run unchanged. (moto's map run ``itemCounts`` then
  count batches; ``executionCounts`` are right.) Without it, 10,000 objects meant 10,000 children.
* ``ExecutionType: EXPRESS`` children — moto's parser accepts only ``STANDARD``; the transform
  switches the copy to STANDARD (children then run with standard semantics, which is stricter).
* ``ResultWriter`` — moto's parser rejects it in a JSONata state (and would only write a manifest);
  the copy drops it, so the Map's result is the children's outputs, which tests then read.
* ``s3:listObjectsV2`` as ItemReader — moto returns the first page only (1,000 keys) in boto3's shape
  (``ETag``, ``LastModified`` a datetime); AWS's ItemReader pages through the whole prefix and gives
  items as ``{"Etag", "Key", "LastModified" (epoch seconds), "Size", "StorageClass"}``.
  :func:`paginate_moto_item_reader` makes moto's reader do both.
* aws-sdk field names (``StateMachineArn`` / ``Input`` in, ``ExecutionArn`` out of ``sfn:startExecution``,
  as AWS names them) — moto hands arguments to boto3 unchanged and returns boto3's names;
  ``localrun.moto_adapt.install_sdk_field_names`` (installed by the fixture) translates both ways, strictly,
  so the copy keeps the definition's own names.
* aws-sdk error names — moto spells the service in lower case (``localrun.moto_adapt.moto_definition``).
* Failed children — moto 5.2 counts a failed child execution and lets the Map succeed whatever its
  tolerance; AWS fails the Map with ``States.ExceedToleratedFailureThreshold`` once more children fail
  than ``ToleratedFailureCount`` / ``ToleratedFailurePercentage`` allow (both 0 when absent, as here).
  :func:`emulate_moto_backfill` applies that rule and records each failed child's error and cause
  (``MotoBackfill.failed_children``), which AWS keeps in the child's execution and the ResultWriter files
  and moto drops.

Costs :func:`emulate_moto_backfill` removes (behaviour unchanged; before it, 2,000 objects took 7.5 min and
10,000 did not finish in 25 min, the SQS work growing with the square of the object count):

* SQS — ``send_message`` counted every message in the queue (``queue.attributes``) for each message sent,
  and ``receive_message`` did it nine times for each message received (the test drains 10,000): the
  offline runtime's ``localrun.moto_linear.linear_moto`` removes those walks (its docstring lists them),
  answers unchanged.
* JSONata — moto prefixes every expression with ``$name:=<JSON>;`` for each ``$states`` part and
  variable in scope, so each evaluation re-parsed its data (a child's ``$items`` in every per-item
  query) and no expression text repeated. The offline runtime's ``localrun.moto_jsonata`` (installed by
  every world) passes those values as bindings and keeps each parsed expression, for the backfill too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest.mock import patch

from localrun.moto_adapt import moto_definition
from localrun.moto_linear import linear_moto


def moto_backfill_definition(definition: str) -> str:
    """A copy of the substituted backfill definition that moto accepts (see the module docstring)."""
    document: dict[str, Any] = json.loads(definition)
    backfill = document["States"]["Backfill"]
    batcher = backfill.pop("ItemBatcher")
    backfill["ItemSelector"] = {"Items": [backfill["ItemSelector"]], "BatchInput": batcher["BatchInput"]}
    backfill["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] = "STANDARD"
    del backfill["ResultWriter"]
    return moto_definition(json.dumps(document)).replace('"Sfn.', '"sfn.')


def paginate_moto_item_reader() -> None:
    """Make moto's ``s3:listObjectsV2`` ItemReader list every page of the prefix, as AWS's does."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval import (
        resource_eval_s3 as reader,
    )

    def list_all(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
        client = reader.ResourceEvalS3._get_s3_client(resource_runtime_part, state_credentials)
        parameters = env.stack.pop()
        contents: list[dict[str, Any]] = []
        for page in client.get_paginator("list_objects_v2").paginate(**parameters):
            for item in page.get("Contents", []):
                contents.append(
                    {
                        "Etag": item["ETag"],
                        "Key": item["Key"],
                        "LastModified": int(item["LastModified"].timestamp()),
                        "Size": item["Size"],
                        "StorageClass": item.get("StorageClass", "STANDARD"),
                    }
                )
        env.stack.append(contents)

    reader.ResourceEvalS3._handle_list_objects_v2 = staticmethod(list_all)  # type: ignore[method-assign]


class _Batch(list[Any]):
    """One child execution's items under the emulated ItemBatcher (see :func:`emulate_moto_backfill`)."""

    def __init__(self, items: list[Any], first_index: int) -> None:
        super().__init__(items)
        self.first_index = first_index


def item_batcher_max_items(definition: str) -> int:
    """The deployed definition's ``ItemBatcher.MaxItemsPerBatch``: what :func:`emulate_moto_backfill` batches by."""
    return int(json.loads(definition)["States"]["Backfill"]["ItemBatcher"]["MaxItemsPerBatch"])


@dataclass
class MotoBackfill:
    """What :func:`emulate_moto_backfill` yields.

    ``item_batchers[state_machine_arn] = MaxItemsPerBatch`` batches the distributed Map of that state machine;
    ``failed_children`` collects ``{"error", "cause"}`` of every child execution that failed.
    """

    item_batchers: dict[str, int] = field(default_factory=dict)
    failed_children: list[dict[str, str | None]] = field(default_factory=list)


@contextmanager
def emulate_moto_backfill() -> Iterator[MotoBackfill]:
    """Patch moto (for the duration of the block) so the backfill runs as AWS runs it, at AWS-like cost.

    See the module docstring for what is emulated; everything else is unchanged.
    """
    emulated = MotoBackfill()
    # The list is built (and moto's originals captured) before the first patch is applied.
    replacements = _distributed_map_patches(emulated)
    with ExitStack() as patches:
        patches.enter_context(linear_moto())
        for target, name, replacement in replacements:
            patches.enter_context(patch.object(target, name, replacement))
        yield emulated


_Patch = tuple[Any, str, Any]  # (owner, attribute, replacement) for patch.object


def _distributed_map_patches(emulated: MotoBackfill) -> list[_Patch]:
    """ItemBatcher batches, the tolerated-failure rule and failed children's errors, as AWS runs a distributed Map."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        distributed_iteration_component as distributed,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
        distributed_item_processor_worker as worker,
    )
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramError
    from moto.stepfunctions.parser.asl.eval.states import ItemData, MapData

    registry = emulated.item_batchers
    map_run = distributed.DistributedIterationComponent._map_run
    select_item = worker.DistributedItemProcessorWorker._eval_input
    eval_job = worker.DistributedItemProcessorWorker._eval_job

    def batched_map_run(self: Any, env: Any, eval_input: Any) -> None:
        size = registry.get(env.states.context_object.context_object_data["StateMachine"]["Id"])
        if size:
            items: list[Any] = env.stack.pop()
            env.stack.append([_Batch(items[i : i + size], first_index=i) for i in range(0, len(items), size)])
        map_run(self, env=env, eval_input=eval_input)
        _fail_beyond_tolerance(env, eval_input.map_run_record)

    def recorded_job(self: Any, env: Any, job: Any) -> None:
        eval_job(self, env=env, job=job)
        state = env.program_state()
        if isinstance(state, ProgramError):
            details = state.error or {}
            emulated.failed_children.append({"error": details.get("error"), "cause": details.get("cause")})

    def batch_input(self: Any, env_frame: Any) -> None:
        context = env_frame.states.context_object.context_object_data
        batch = context["Map"]["Item"]["Value"]
        if not isinstance(batch, _Batch):
            select_item(self, env_frame=env_frame)
            return
        # The copy's ItemSelector is the batch of one, {"Items": [<selected item>], "BatchInput": ...}: evaluate it
        # per item (Map.Item = that item, as AWS evaluates ItemSelector before batching) and join the Items.
        depth, job_item = len(env_frame.stack), context["Map"]
        selected: list[Any] = []
        for offset, value in enumerate(batch):
            context["Map"] = MapData(Item=ItemData(Index=batch.first_index + offset, Value=value))
            select_item(self, env_frame=env_frame)
            selected.append(env_frame.stack[-1])
            del env_frame.stack[depth:]
        context["Map"] = job_item
        output = {**selected[0], "Items": [item for one in selected for item in one["Items"]]}
        env_frame.stack.append(output)
        env_frame.states.reset(input_value=output)

    return [
        (distributed.DistributedIterationComponent, "_map_run", batched_map_run),
        (worker.DistributedItemProcessorWorker, "_eval_input", batch_input),
        (worker.DistributedItemProcessorWorker, "_eval_job", recorded_job),
    ]


def _fail_beyond_tolerance(env: Any, record: Any) -> None:
    """Fail the Map with States.ExceedToleratedFailureThreshold when more children failed than it tolerates."""
    from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    failed, total = record.execution_counter.failed.get(), record.execution_counter.total.get()
    tolerated = max(record.tolerated_failure_count, total * record.tolerated_failure_percentage / 100)
    if failed > tolerated:
        error = StatesErrorNameType.StatesExceedToleratedFailureThreshold.to_name()
        cause = f"The specified tolerated failure threshold was exceeded ({failed} of {total} children failed)"
        raise FailureEventException(
            FailureEvent(
                env=env,
                error_name=StatesErrorName(typ=StatesErrorNameType.StatesExceedToleratedFailureThreshold),
                event_type=HistoryEventType.ExecutionFailed,
                event_details=EventDetails(
                    executionFailedEventDetails=ExecutionFailedEventDetails(error=error, cause=cause)
                ),
            )
        )
