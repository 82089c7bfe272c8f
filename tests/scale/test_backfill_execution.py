"""The REAL backfill definition executed by moto (test-only transform: tests/scale/moto_backfill.py)."""

from __future__ import annotations

import os
import time
from typing import Any
from urllib.parse import unquote_plus

import pytest

from tests.scale.conftest import BUCKET, TABLE, BackfillEnv

VERSION_ARN_PRODUCE = "arn:aws:rekognition:us-east-1:123456789012:project/produce/version/produce.v1/1767225600000"


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
    # One child execution per batch of 10 objects (the emulated ItemBatcher, tests/scale/moto_backfill.py,
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
