"""Fault injection over the offline runtime: each scenario uploads known images, injects one fault, runs
the real controller and detect handler to completion and checks the invariants of issue 5."""

from __future__ import annotations

from typing import Any

import pytest

from localrun.emulator import Faults
from localrun.rehearsal import Progress
from localrun.runtime import LOCAL_BUCKET, OfflineRuntime
from tests.support import ids
from tests.support.faults import CrashingRepository, dynamodb_throttling, put_events_partial_failure
from tests.support.images import jpeg
from tests.support.reliability import check_invariants, record
from tests.support.scenarios import run_scenario

SUITE = "faults"


def _images(count: int, start: int = 0) -> dict[str, bytes]:
    return {f"batch/img-{n:04d}.jpg": jpeg(n) for n in range(start, start + count)}


def _model_arn(runtime: OfflineRuntime, name: str) -> str:
    return runtime.models[name].model.project_version_arn


def test_throttling_storm_mid_run_loses_nothing() -> None:
    # Given 60 images and a model whose TPS drops to a tenth once the first results are in
    def storm(runtime: OfflineRuntime, name: str, progress: Progress) -> None:
        assert runtime.emulator is not None
        if progress.detected >= 5:
            runtime.emulator.set_tps(_model_arn(runtime, name), 0.5)

    # When the pipeline runs
    outcome = run_scenario(_images(60), during=storm)

    # Then every image is DETECTED exactly once and the model is stopped
    check_invariants(outcome)
    [name] = outcome.runs
    assert outcome.statuses(name) == {"DETECTED": 60}
    record(SUITE, "throttling storm", "emulator TPS 5 → 0.5 mid-run", "all DETECTED, once", outcome.summary())


def test_model_stopped_externally_mid_batch_requeues_and_finishes() -> None:
    # Given 60 images and someone stopping the model while the batch is in flight
    stopped: list[bool] = []

    def stop(runtime: OfflineRuntime, name: str, progress: Progress) -> None:
        assert runtime.emulator is not None
        if not stopped and progress.detected >= 10:
            runtime.emulator.stop_externally(_model_arn(runtime, name))
            stopped.append(True)

    # When the pipeline runs (ResourceNotReady for the records in flight)
    # (the controller keeps a session open until its max runtime: the queue never drains while the model is
    # down, so a short max runtime keeps the scenario quick; the next session restarts the model)
    outcome = run_scenario(_images(60), during=stop, lifecycle={"max_runtime_minutes": 10})

    # Then the not-ready records went back on the queue, a later session labelled them, nothing was DLQ'd
    check_invariants(outcome)
    [name] = outcome.runs
    assert stopped
    assert outcome.statuses(name) == {"DETECTED": 60}
    assert len(outcome.runs[name].sessions) >= 2
    record(
        SUITE,
        "model stopped externally mid-batch",
        "StopProjectVersion by someone else after 10 results",
        "in-flight records requeued (never DLQ), a new session finishes",
        outcome.summary(),
    )


@pytest.mark.parametrize(
    ("faults", "case"),
    [
        (Faults(fail_start=True), "model fails to start (FAILED)"),
        (Faults(hang_start=True), "model never reaches RUNNING (start timeout)"),
    ],
    ids=["fail-start", "hang-start"],
)
def test_model_that_cannot_start_leaves_images_queued_and_nothing_running(faults: Faults, case: str) -> None:
    # Given 10 images and a model that cannot start
    # When the rehearsal tries two sessions
    outcome = run_scenario(_images(10), faults=faults, max_sessions=2)

    # Then no image was processed or lost: all still queued; model not running; mapping off; lock released
    check_invariants(outcome, expect_complete=False)
    [name] = outcome.runs
    assert outcome.runs[name].results == []
    assert not outcome.runs[name].completed
    assert outcome.queued[name] == 10  # exactly the 10 images: configuring ingest queues nothing
    assert outcome.dead_letter_bodies[name] == []
    assert len(outcome.runs[name].controller_executions) == 2
    record(
        SUITE,
        case,
        repr(faults).split("(")[0] + ("(fail_start)" if faults.fail_start else "(hang_start)"),
        "images stay queued, model not running, lock released, mapping disabled",
        outcome.summary(),
    )


def test_transient_rekognition_errors_on_five_percent_of_calls() -> None:
    # Given 5% of DetectCustomLabels / lifecycle calls answered ThrottlingException or InternalServerError
    faults = Faults(transient_error_rate=0.05, seed=3)

    # When 80 images run
    outcome = run_scenario(_images(80), faults=faults)

    # Then every image is DETECTED once, nothing dead-lettered
    check_invariants(outcome)
    [name] = outcome.runs
    assert outcome.statuses(name) == {"DETECTED": 80}
    record(SUITE, "transient Rekognition errors", "5% Throttling/InternalServerError", "retried", outcome.summary())


def test_dynamodb_throttling_on_result_writes() -> None:
    # Given 30% of result writes (TransactWriteItems) throttled
    outcome = run_scenario(_images(40), wrap=dynamodb_throttling(0.3))

    # Then the messages are redelivered and every image gets exactly one result and one event
    check_invariants(outcome)
    [name] = outcome.runs
    assert outcome.statuses(name) == {"DETECTED": 40}
    assert sum(outcome.events.values()) == 40
    record(
        SUITE,
        "DynamoDB throttling on result writes",
        "30% TransactWriteItems → ProvisionedThroughputExceeded",
        "redelivered, one result + one event each",
        outcome.summary(),
    )


def test_eventbridge_put_events_partial_failure() -> None:
    # Given half of PutEvents calls answered with FailedEntryCount=1 (nothing delivered)
    outcome = run_scenario(_images(40), wrap=put_events_partial_failure(0.5))

    # Then every result event is delivered exactly once
    check_invariants(outcome)
    [name] = outcome.runs
    assert outcome.statuses(name) == {"DETECTED": 40}
    assert sum(outcome.events.values()) == 40
    record(
        SUITE,
        "EventBridge PutEvents partial failure",
        "50% of PutEvents → FailedEntryCount 1",
        "failed entries retried / republished, one event each",
        outcome.summary(),
    )


def test_crash_between_detection_and_result_write() -> None:
    # Given a handler that raises after DetectCustomLabels, before the result write, once per image
    repositories: list[CrashingRepository] = []

    def wrap(_: Any, deps: Any) -> Any:
        deps.repository = CrashingRepository(deps.repository)
        repositories.append(deps.repository)
        return deps

    outcome = run_scenario(_images(20), wrap=wrap)

    # Then the redelivery labels the image again and writes exactly one result and one event
    check_invariants(outcome)
    [name] = outcome.runs
    assert repositories[0].crashes == 20
    assert outcome.statuses(name) == {"DETECTED": 20}
    assert sum(outcome.events.values()) == 20
    record(
        SUITE,
        "crash between detection and result write",
        "handler raises after DetectCustomLabels, first try of every image",
        "redelivered, one result + one event each",
        outcome.summary(),
    )


def test_every_s3_event_delivered_three_times() -> None:
    # Given every S3 notification on the queue three times
    def triplicate(runtime: OfflineRuntime) -> None:
        sqs = runtime.client("sqs")
        url = runtime.models[runtime.config.models[0].name].queue_url
        seen: dict[str, dict[str, Any]] = {}
        while len(seen) < 30:
            for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get(
                "Messages", []
            ):
                seen[message["MessageId"]] = message
        for message in seen.values():
            for _ in range(2):
                sqs.send_message(QueueUrl=url, MessageBody=message["Body"])
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)

    outcome = run_scenario(_images(30), before_run=triplicate)

    # Then 90 deliveries make 30 results (exactly once, always)
    check_invariants(outcome)
    [name] = outcome.runs
    assert outcome.statuses(name) == {"DETECTED": 30}
    assert sum(outcome.result_items.values()) == 30
    duplicated = sorted(k for k, n in outcome.events.items() if n > 1)
    record(
        SUITE,
        "every S3 event delivered 3×",
        "90 deliveries of 30 notifications",
        "30 results, 30 events",
        outcome.summary() + f"; {len(duplicated)} object(s) with a duplicate event",
        passed=not duplicated,
    )
    # A concurrent duplicate that finds the result written but not yet published leaves the event to the
    # delivery holding the publish claim (lambdas/detect/logic.py), so each event goes out once too.
    assert duplicated == []
    assert sum(outcome.events.values()) == 30


def test_object_deleted_after_upload_before_detection() -> None:
    # Given 10 images, 3 of them deleted before the model starts
    deleted = ["batch/img-0001.jpg", "batch/img-0004.jpg", "batch/img-0007.jpg"]

    def delete(runtime: OfflineRuntime) -> None:
        # Delete the version the upload event names: the bucket is versioned, so deleting the key alone only
        # adds a delete marker and the uploaded version stays readable (and gets labelled).
        prefix, s3 = runtime.config.models[0].prefix, runtime.client("s3")
        for key in deleted:
            for version in s3.list_object_versions(Bucket=LOCAL_BUCKET, Prefix=prefix + key)["Versions"]:
                s3.delete_object(Bucket=LOCAL_BUCKET, Key=prefix + key, VersionId=version["VersionId"])

    outcome = run_scenario(_images(10), before_run=delete)

    # Then they are FAILED ObjectNotFound, the rest DETECTED
    check_invariants(outcome)
    [name] = outcome.runs
    reasons = outcome.reasons(name)
    prefix = next(iter(reasons)).split("batch/")[0]
    assert {k for k, r in reasons.items() if r == "ObjectNotFound"} == {prefix + k for k in deleted}
    assert outcome.statuses(name) == {"DETECTED": 7, "FAILED": 3}
    record(
        SUITE,
        "object deleted before detection",
        "DeleteObject after upload",
        "FAILED ObjectNotFound",
        outcome.summary(),
    )


# 1,000 images: about 3.5 min of moto on 2 cores.
PER_MODEL = 500


def test_many_images_across_two_models() -> None:
    # Given 2 x PER_MODEL images, half for each of two models on their own prefixes
    body = jpeg(1)
    outcome = run_scenario(
        {
            ids.MODEL: {f"k/{n:04d}.jpg": body for n in range(PER_MODEL)},
            f"{ids.MODEL}-2": {f"k/{n:04d}.jpg": body for n in range(PER_MODEL)},
        },
        models=2,
        timeout_seconds=600,
    )

    # Then both models label theirs, once each, and both are stopped
    check_invariants(outcome)
    for name in (ids.MODEL, f"{ids.MODEL}-2"):
        assert outcome.statuses(name) == {"DETECTED": PER_MODEL}
    assert sum(outcome.events.values()) == 2 * PER_MODEL
    record(
        SUITE,
        f"{2 * PER_MODEL:,} images, two models",
        f"{PER_MODEL} + {PER_MODEL} uploads, two rehearsals at once",
        f"{2 * PER_MODEL} results",
        outcome.summary(),
    )
