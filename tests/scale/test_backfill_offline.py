"""Backfill end to end in the offline runtime: objects that were never notified get labelled by the real
detect handler, keyed on their ETag, and a second backfill skips them."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from infra.config import PipelineConfig
from localrun.rehearsal import Rehearsal
from localrun.runtime import LOCAL_BUCKET, LOCAL_TABLE, OfflineRuntime, RuntimeOptions
from tests.support.backfill import wait_for_execution
from tests.support.moto_backfill import moto_backfill_definition, paginate_moto_item_reader


def _run(sfn: Any, arn: str, payload: dict[str, object]) -> dict[str, Any]:
    execution = sfn.start_execution(
        stateMachineArn=arn, name=f"backfill-{uuid.uuid4().hex[:12]}", input=json.dumps(payload)
    )["executionArn"]
    return wait_for_execution(sfn, execution, timeout=120)


def test_backfilled_objects_are_labelled_once_and_a_rerun_skips_them(
    three_models: PipelineConfig, tmp_path: Path
) -> None:
    paginate_moto_item_reader()
    options = RuntimeOptions(start_delay_seconds=300.0, stop_delay_seconds=60.0)
    with OfflineRuntime(three_models, options) as runtime:
        model = three_models.model("produce")
        resources = runtime.models["produce"]
        sqs, s3, sfn = runtime.client("sqs"), runtime.client("s3"), runtime.client("stepfunctions")
        # Given objects that existed before the pipeline (their notifications are gone)
        keys = [f"produce/archive/old {i}+.jpg" for i in range(20)]
        for key in keys:
            s3.put_object(Bucket=LOCAL_BUCKET, Key=key, Body=f"bytes of {key}".encode())
        sqs.purge_queue(QueueUrl=resources.queue_url)
        rehearsal = Rehearsal(runtime, model)
        assert rehearsal.queue_depth() == 0
        backfill_arn, _ = runtime.world.create_backfill(resources, moto_backfill_definition)

        # When the backfill enqueues them (the rehearsal then runs the controller with scaled waits)
        first = _run(sfn, backfill_arn, {"prefix": "produce/archive/", "start_controller": False})
        assert first["status"] == "SUCCEEDED", first.get("cause")
        assert rehearsal.queue_depth() == 20
        result = rehearsal.run(keys, trigger="backfill", timeout_seconds=120)

        # Then the real detect handler gave every object exactly one terminal result, keyed on its ETag
        assert result.completed and result.final_status == "STOPPED"
        assert sorted(r.key for r in result.results) == sorted(keys)
        ddb = runtime.client("dynamodb")
        for key in keys[:3]:
            etag = s3.head_object(Bucket=LOCAL_BUCKET, Key=key)["ETag"].strip('"')
            item = ddb.get_item(
                TableName=LOCAL_TABLE,
                Key={
                    "pk": {"S": f"OBJ#{LOCAL_BUCKET}/{key}"},
                    "sk": {"S": f"RESULT#{model.project_version_arn}#{etag}"},
                },
            )
            assert "Item" in item
        assert result.dead_letters == 0

        # And a second backfill of the same prefix finds nothing left to do
        second = _run(sfn, backfill_arn, {"prefix": "produce/archive/", "start_controller": False})
        assert second["status"] == "SUCCEEDED", second.get("cause")
        assert rehearsal.queue_depth() == 0
