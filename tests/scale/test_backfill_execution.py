"""The REAL backfill definition executed by moto (test-only transform: tests/support/moto_backfill.py)."""

from __future__ import annotations

import json
import os
import time
from typing import Any
from unittest.mock import patch
from urllib.parse import unquote_plus

import pytest

from tests.support import ids
from tests.support.backfill import BUCKET, TABLE, BackfillEnv

VERSION_ARN_PRODUCE = ids.version_arn("produce")


def _keys_of(bodies: list[dict[str, Any]]) -> list[str]:
    return [unquote_plus(b["Records"][0]["s3"]["object"]["key"]) for b in bodies]


def _seed_result(env: BackfillEnv, key: str, object_version: str, version_arn: str = VERSION_ARN_PRODUCE) -> None:
    env.ddb.put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": f"OBJ#{BUCKET}/{key}"},
            "sk": {"S": f"RESULT#{version_arn}#{object_version}"},
            "record_type": {"S": "result"},
        },
    )


def test_enqueues_every_object_once_as_an_s3_notification_and_starts_the_controller(backfill_env: BackfillEnv) -> None:
    # Given 500 objects under the model's prefix (keys with a space and a '+'), a folder marker and
    # objects of another model
    keys = [f"produce/2025/img {i:03d}+x.jpg" for i in range(500)]
    backfill_env.put_objects([*keys, "produce/2025/", "parts/a.jpg"])

    # When the backfill runs over the prefix
    started = time.monotonic()
    execution = backfill_env.run({"prefix": "produce/2025/"})
    elapsed = time.monotonic() - started

    # Then it succeeded, every image is on the queue exactly once, the folder marker is not
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    bodies = backfill_env.messages()
    assert sorted(_keys_of(bodies)) == sorted(keys)
    # ... each body is an S3 ObjectCreated notification the detect handler accepts, keyed on the ETag
    record = bodies[0]["Records"][0]
    assert record["eventSource"] == "aws:s3"
    assert record["eventName"].startswith("ObjectCreated:")
    assert record["s3"]["bucket"]["name"] == BUCKET
    head = backfill_env.s3.head_object(Bucket=BUCKET, Key=unquote_plus(record["s3"]["object"]["key"]))
    assert record["s3"]["object"]["eTag"] == head["ETag"].strip('"')
    assert record["s3"]["object"]["size"] == head["ContentLength"]
    assert "versionId" not in record["s3"]["object"]  # listObjectsV2 has none: results keyed on the ETag
    assert record["eventTime"].endswith("Z")
    # ... by one child execution per batch of ItemBatcher.MaxItemsPerBatch (10) listed objects: 501 with the marker
    assert backfill_env.child_executions(execution["executionArn"]) == 51
    # ... and the model's controller was started once with trigger "backfill"
    assert backfill_env.controller_inputs() == [{"trigger": "backfill"}]
    print(f"backfill of 500 objects in moto: {elapsed:.1f} s")


def test_skip_existing_skips_objects_with_a_result_of_this_model_version(backfill_env: BackfillEnv) -> None:
    # Given 30 objects: 10 labelled after upload (result keyed on a version id), 5 labelled by an earlier
    # backfill (keyed on the ETag), 5 with a result of ANOTHER model version only
    keys = [f"produce/img{i:02d}.jpg" for i in range(30)]
    backfill_env.put_objects(keys)
    for key in keys[:10]:
        _seed_result(backfill_env, key, "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY")
    for key in keys[10:15]:
        etag = backfill_env.s3.head_object(Bucket=BUCKET, Key=key)["ETag"].strip('"')
        _seed_result(backfill_env, key, etag)
    other = VERSION_ARN_PRODUCE.replace("produce.v1", "produce.v0")
    for key in keys[15:20]:
        _seed_result(backfill_env, key, "v0", version_arn=other)

    # When the backfill runs with skip_existing (the default)
    execution = backfill_env.run({"prefix": "produce/"})

    # Then only the 15 objects without a result of this version are enqueued
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert sorted(_keys_of(backfill_env.messages())) == keys[15:]


def test_skip_existing_false_enqueues_everything_and_start_controller_false_starts_nothing(
    backfill_env: BackfillEnv,
) -> None:
    keys = [f"produce/img{i:02d}.jpg" for i in range(12)]
    backfill_env.put_objects(keys)
    for key in keys[:6]:
        _seed_result(backfill_env, key, "some-version")

    execution = backfill_env.run({"prefix": "produce/", "skip_existing": False, "start_controller": False})

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert sorted(_keys_of(backfill_env.messages())) == keys
    assert backfill_env.controller_inputs() == []


def test_a_prefix_outside_the_model_prefix_fails_before_any_side_effect(backfill_env: BackfillEnv) -> None:
    backfill_env.put_objects(["parts/a.jpg", "produce/b.jpg"])

    execution = backfill_env.run({"prefix": "parts/"})

    assert execution["status"] == "FAILED"
    assert "prefix must start with produce/" in (execution.get("cause") or "")
    assert backfill_env.messages() == []
    assert backfill_env.controller_inputs() == []


def test_an_empty_prefix_enqueues_nothing_and_still_succeeds(backfill_env: BackfillEnv) -> None:
    backfill_env.put_objects(["parts/a.jpg"])

    execution = backfill_env.run({"prefix": "produce/nothing-here/", "start_controller": False})

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert backfill_env.messages() == []


BENCH_OBJECTS = int(os.environ.get("CLP_BACKFILL_BENCH_OBJECTS", "10000"))


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("CLP_BACKFILL_BENCH") != "1", reason="10,000-object run: make backfill-bench")
def test_backfill_of_10000_objects(backfill_env: BackfillEnv) -> None:
    # One child execution per batch of 10 objects (the emulated ItemBatcher, tests/support/moto_backfill.py,
    # which also removes moto's per-message queue scans and JSONata re-parsing): ~165 s for the run itself,
    # ~3.5 min for `make backfill-bench` on 2 cores.
    keys = [f"produce/bench/{i:05d}.jpg" for i in range(BENCH_OBJECTS)]
    backfill_env.put_objects(keys)

    started = time.monotonic()
    execution = backfill_env.run({"prefix": "produce/bench/"}, timeout=4 * 3600)
    elapsed = time.monotonic() - started

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert sorted(_keys_of(backfill_env.messages())) == keys  # every object on the queue exactly once
    assert backfill_env.child_executions(execution["executionArn"]) == -(-BENCH_OBJECTS // 10)
    assert backfill_env.controller_inputs() == [{"trigger": "backfill"}]
    print(f"\nbackfill of {BENCH_OBJECTS} objects in moto: {elapsed:.1f} s ({BENCH_OBJECTS / elapsed:.0f} objects/s)")


class _FlakySqs:
    """Wraps moto's SendMessageBatch: entries whose key is in ``fail`` come back in ``Failed`` (HTTP 200).

    That is how SQS reports a partial failure (botocore's sqs model: ``SendMessageBatchResult`` has
    ``Successful`` and ``Failed``, each ``BatchResultErrorEntry`` an ``Id``, ``SenderFault`` and ``Code``);
    moto itself only ever fails an entry for an invalid delay. ``fail[key]`` is how many more sends of that
    key fail (``None``: every one).
    """

    def __init__(self, fail: dict[str, int | None], sender_fault: bool = False) -> None:
        self.fail, self.sender_fault = fail, sender_fault
        self.attempts: dict[str, int] = {}

    def __call__(self, original: Any) -> Any:
        def send_message_batch(backend: Any, queue_name: str, entries: dict[str, dict[str, Any]]) -> Any:
            failed, passed = [], {}
            for index, entry in entries.items():
                key = unquote_plus(json.loads(entry["MessageBody"])["Records"][0]["s3"]["object"]["key"])
                self.attempts[key] = self.attempts.get(key, 0) + 1
                left = self.fail.get(key, 0)
                if left is None or left > 0:
                    if left is not None:
                        self.fail[key] = left - 1
                    code = "InvalidMessageContents" if self.sender_fault else "InternalError"
                    failed.append({"Id": entry["Id"], "SenderFault": self.sender_fault, "Code": code, "Message": "x"})
                else:
                    passed[index] = entry
            messages, more_failed = original(backend, queue_name, passed) if passed else ([], [])
            return messages, [*more_failed, *failed]

        return send_message_batch


def _flaky(flaky: _FlakySqs) -> Any:
    from moto.sqs.models import SQSBackend

    return patch.object(SQSBackend, "send_message_batch", flaky(SQSBackend.send_message_batch))


def _child_outputs(env: BackfillEnv, execution_arn: str) -> list[dict[str, Any]]:
    """The outputs of the backfill's children: moto's copy has no ResultWriter, so they are the Map's result."""
    events = env.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    (exited,) = [e for e in events if e["type"] == "MapStateExited"]
    outputs: list[dict[str, Any]] = json.loads(exited["stateExitedEventDetails"]["output"])
    return outputs


def test_entries_sqs_failed_in_a_200_response_are_sent_again_and_counted_once(backfill_env: BackfillEnv) -> None:
    # Given 20 objects, and SQS answering SendMessageBatch with 3 of them in Failed (not the sender's fault) once
    keys = [f"produce/img{i:02d}.jpg" for i in range(20)]
    backfill_env.put_objects(keys)
    flaky = _FlakySqs({keys[1]: 1, keys[4]: 1, keys[13]: 1})

    # When the backfill runs
    with _flaky(flaky):
        execution = backfill_env.run({"prefix": "produce/", "start_controller": False})

    # Then it succeeded with every object on the queue exactly once, the 3 sent a second time
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert sorted(_keys_of(backfill_env.messages())) == keys
    assert {k: n for k, n in flaky.attempts.items() if n > 1} == {keys[1]: 2, keys[4]: 2, keys[13]: 2}
    # ... and the children report what reached the queue: 10 + 10, not 10 + 3 (the last attempt's count)
    outputs = _child_outputs(backfill_env, execution["executionArn"])
    assert sorted(o["enqueued"] for o in outputs) == [10, 10]
    assert sum(o["listed"] for o in outputs) == 20


def test_entries_that_keep_failing_fail_their_child_with_the_keys_and_the_true_count(
    backfill_env: BackfillEnv,
) -> None:
    # Given 10 objects (one child), one of which SQS never accepts
    keys = [f"produce/img{i:02d}.jpg" for i in range(10)]
    backfill_env.put_objects(keys)
    flaky = _FlakySqs({keys[7]: None})

    # When the backfill runs
    with _flaky(flaky):
        execution = backfill_env.run({"prefix": "produce/", "start_controller": False})

    # Then the run fails (the map tolerates no failed child) after 3 sends of that key, the other 9 enqueued
    assert execution["status"] == "FAILED"
    assert flaky.attempts[keys[7]] == 3
    assert sorted(_keys_of(backfill_env.messages())) == keys[:7] + keys[8:]
    # ... and the failed child says how many reached the queue and which key did not, with the SQS code
    assert execution["error"] == "States.ExceedToleratedFailureThreshold"
    (child,) = backfill_env.failed_children
    assert child["error"] == "Backfill.EnqueueFailed"
    cause = json.loads(child["cause"])
    assert cause["listed"] == 10 and cause["enqueued"] == 9
    assert cause["not_enqueued"] == [{"key": keys[7], "code": "InternalError", "sender_fault": False}]


def test_an_entry_sqs_blames_on_the_sender_is_not_sent_again(backfill_env: BackfillEnv) -> None:
    # Given 10 objects, one rejected as the sender's fault (SenderFault true: resending cannot help)
    keys = [f"produce/img{i:02d}.jpg" for i in range(10)]
    backfill_env.put_objects(keys)
    flaky = _FlakySqs({keys[2]: None}, sender_fault=True)

    with _flaky(flaky):
        execution = backfill_env.run({"prefix": "produce/", "start_controller": False})

    assert execution["status"] == "FAILED"
    assert flaky.attempts[keys[2]] == 1
    (child,) = backfill_env.failed_children
    cause = json.loads(child["cause"])
    assert cause["enqueued"] == 9
    assert cause["not_enqueued"] == [{"key": keys[2], "code": "InvalidMessageContents", "sender_fault": True}]
