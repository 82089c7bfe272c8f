"""B2: detections/s while draining vs capacity (TPS × IUs), through the real handler and the emulator.

Real: ``lambdas.detect.handler.handle`` with the adapters wired as deployed (``build_dependencies``), its
``RekognitionDetector`` on a boto3 Rekognition client answered by the Custom Labels emulator (TPS limit per IU
over a sliding second, real wall clock), and the event source mapping's maximum concurrency from
``ModelConfig.effective_max_concurrency``.
In memory: the queue (item failures go back to its tail, receive count kept, dead-lettered after 5 receives),
and the S3, DynamoDB, EventBridge and SQS clients under the other adapters (the emulator reads one PNG from the
fake S3; results are counted, never stored).
Modelled: each DetectCustomLabels call takes ``call_seconds`` (the 1.0 s the concurrency sizing assumes,
``DETECT_CALL_SECONDS_ESTIMATE``); the emulator itself answers at once.
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
from collections import deque
from collections.abc import Container
from dataclasses import dataclass
from typing import Any

from PIL import Image

from bench.handler import FakeAws, _Context, s3_record
from infra.config import Lifecycle, ModelConfig
from lambdas.common.observability import logger
from lambdas.detect.handler import Settings, handle
from lambdas.detect.wiring import build_dependencies
from localrun.emulator import CustomLabelsEmulator

PROJECT_ARN = "arn:aws:rekognition:us-east-1:111122223333:project/bench/1767225600000"
VERSION_ARN = "arn:aws:rekognition:us-east-1:111122223333:project/bench/version/bench.1/1767225600000"
MAX_RECEIVES = 5


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


class _Body(io.BytesIO):
    pass


class _FakeAws(FakeAws):
    """:class:`bench.handler.FakeAws`, plus GetObject of a real PNG for the emulator's image checks."""

    def __init__(self) -> None:
        super().__init__()
        self._data = _png()

    def get_object(self, **_: Any) -> dict[str, Any]:
        return {"Body": _Body(self._data), "ContentLength": len(self._data)}


class _SlowRekognition:
    """The emulator's client, plus the service-side latency of a call (the emulator answers instantly)."""

    def __init__(self, inner: Any, call_seconds: float) -> None:
        self._inner, self._call = inner, call_seconds

    def detect_custom_labels(self, **request: Any) -> Any:
        time.sleep(self._call)
        return self._inner.detect_custom_labels(**request)


@dataclass
class ThroughputResult:
    inference_units: int
    capacity_tps: float
    concurrency: int
    images: int
    detected: int
    seconds: float
    throttled_attempts: int
    dead_lettered: int

    @property
    def achieved_tps(self) -> float:
        return self.detected / self.seconds if self.seconds else 0.0

    @property
    def share(self) -> float:
        return self.achieved_tps / self.capacity_tps


def _message(n: int) -> dict[str, Any]:
    record = s3_record(f"bench/img-{n}.png", 100, n)
    return {"id": f"m-{n}", "body": json.dumps({"Records": [record]}), "receives": 0}


class _Queue:
    """The detect queue as the workers see it: batches of up to 10, failures back to the tail until MAX_RECEIVES."""

    def __init__(self, images: int) -> None:
        self._messages: deque[dict[str, Any]] = deque(_message(n) for n in range(images))
        self._lock = threading.Lock()
        self.dead_lettered = 0

    def receive(self) -> list[dict[str, Any]]:
        with self._lock:
            batch = [self._messages.popleft() for _ in range(min(10, len(self._messages)))]
        for m in batch:
            m["receives"] += 1
        return batch

    def settle(self, batch: list[dict[str, Any]], failed: Container[object]) -> None:
        with self._lock:
            for m in batch:
                if m["id"] not in failed:
                    continue
                if m["receives"] >= MAX_RECEIVES:
                    self.dead_lettered += 1
                else:
                    self._messages.append(m)


def _sqs_event(batch: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Records": [
            {"messageId": m["id"], "receiptHandle": m["id"], "body": m["body"], "eventSource": "aws:sqs"} for m in batch
        ]
    }


def _settings() -> Settings:
    return Settings.model_validate(
        {
            "MODEL_NAME": "bench",
            "PROJECT_VERSION_ARN": VERSION_ARN,
            "MODEL_PREFIX": "bench/",
            "RESULTS_TABLE": "t",
            "EVENT_BUS_NAME": "b",
            "QUEUE_URL": "q",
        }
    )


def _run_workers(count: int, work: Any) -> float:
    """Seconds for ``count`` threads running ``work`` until each returns (the mapping's concurrent invocations)."""
    began = time.perf_counter()
    threads = [threading.Thread(target=work) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - began


def run_one(units: int, seconds_of_work: float, *, tps: float = 5.0, call_seconds: float = 1.0) -> ThroughputResult:
    logger.setLevel("ERROR")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(key, "bench")
    model = ModelConfig(
        name="bench",
        project_arn=PROJECT_ARN,
        project_version_arn=VERSION_ARN,
        prefix="bench/",
        tps_per_inference_unit=tps,
        lifecycle=Lifecycle(min_inference_units=units, max_inference_units=units),
    )
    concurrency = model.effective_max_concurrency
    capacity = tps * units
    images = round(capacity * seconds_of_work)
    aws = _FakeAws()
    emulator = CustomLabelsEmulator(s3_client=aws)  # type: ignore[arg-type]
    emulator.add_model(
        project_arn=PROJECT_ARN,
        project_version_arn=VERSION_ARN,
        tps_per_inference_unit=tps,
        status="RUNNING",
        inference_units=units,
    )
    settings = _settings()
    queue = _Queue(images)
    context: Any = _Context()
    with emulator:
        rekognition = _SlowRekognition(emulator.client("us-east-1"), call_seconds)
        deps = build_dependencies(settings, lambda service: rekognition if service == "rekognition" else aws)

        def worker() -> None:
            while batch := queue.receive():
                response = handle(_sqs_event(batch), context, settings, deps)
                queue.settle(batch, {f["itemIdentifier"] for f in response["batchItemFailures"]})

        elapsed = _run_workers(concurrency, worker)
        throttled = emulator.errors.get("ProvisionedThroughputExceededException", 0)
    return ThroughputResult(units, capacity, concurrency, images, aws.results, elapsed, throttled, queue.dead_lettered)


def run_b2(seconds_of_work: float = 20.0, units: tuple[int, ...] = (1, 2, 4)) -> list[ThroughputResult]:
    return [run_one(u, seconds_of_work) for u in units]
