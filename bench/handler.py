"""B3 (cold start: import time) and B4 (handler CPU per record with in-memory fake AWS clients)."""

from __future__ import annotations

import cProfile
import io
import json
import logging
import pstats
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambdas.common.observability import logger, metrics
from lambdas.detect.handler import Settings, handle
from lambdas.detect.wiring import build_dependencies

ROOT = Path(__file__).resolve().parent.parent
ARN = "arn:aws:rekognition:us-east-1:111122223333:project/bench/version/bench.1/1767225600000"

_IMPORT = (
    "import time,sys; t=time.perf_counter(); c=time.process_time(); import {module}; "
    "sys.stdout.write(f'{{time.perf_counter()-t}} {{time.process_time()-c}}')"
)


def import_seconds(module: str) -> tuple[float, float]:
    """Wall and CPU seconds to import ``module`` in a fresh interpreter (bytecode cached, same environment)."""
    out = subprocess.run(
        [sys.executable, "-c", _IMPORT.format(module=module)],
        check=True,
        capture_output=True,
        text=True,
        env={"POWERTOOLS_METRICS_NAMESPACE": "bench", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    wall, cpu = out.stdout.split()
    return float(wall), float(cpu)


@dataclass
class ImportResult:
    module: str
    runs: int
    median_ms: float
    min_ms: float
    median_cpu_ms: float


def run_b3(runs: int = 10) -> list[ImportResult]:
    """Median over ``runs`` fresh interpreters, modules interleaved so both see the same machine load."""
    modules = ["boto3", "lambdas.detect.handler"]
    samples: dict[str, list[float]] = {m: [] for m in modules}
    cpu: dict[str, list[float]] = {m: [] for m in modules}
    for m in modules:  # warm the bytecode cache once
        import_seconds(m)
    for _ in range(runs):
        for m in modules:
            wall, used = import_seconds(m)
            samples[m].append(wall * 1000)
            cpu[m].append(used * 1000)
    return [ImportResult(m, runs, statistics.median(v), min(v), statistics.median(cpu[m])) for m, v in samples.items()]


# -- B4 ------------------------------------------------------------------------------------------


class FakeAws:
    """In-memory S3, DynamoDB, EventBridge and SQS (and Rekognition) clients: the calls the detect adapters make,
    with realistic response shapes. Every object exists, no result is stored yet, every write and publish
    succeeds; written results are counted."""

    def __init__(self) -> None:
        self.results = 0
        self.lock = threading.Lock()

    def detect_custom_labels(self, **_: Any) -> dict[str, Any]:
        return {
            "CustomLabels": [
                {"Name": "ripe", "Confidence": 97.1},
                {
                    "Name": "apple",
                    "Confidence": 88.4,
                    "Geometry": {"BoundingBox": {"Width": 0.3, "Height": 0.4, "Left": 0.1, "Top": 0.2}},
                },
            ]
        }

    def head_object(self, **_: Any) -> dict[str, Any]:
        return {}

    def get_item(self, **_: Any) -> dict[str, Any]:
        return {}

    def transact_write_items(self, **_: Any) -> dict[str, Any]:
        with self.lock:
            self.results += 1
        return {}

    def update_item(self, **_: Any) -> dict[str, Any]:
        return {}

    def put_events(self, **_: Any) -> dict[str, Any]:
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "e-1"}]}

    def send_message(self, **_: Any) -> dict[str, Any]:
        return {"MessageId": "m-1"}


def s3_record(key: str, size: int, n: int) -> dict[str, Any]:
    """An S3 ObjectCreated notification record for ``key`` in the bench bucket (ETag derived from ``n``)."""
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2026-11-26T01:58:12.631Z",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": "clp-uploads-bench", "arn": "arn:aws:s3:::clp-uploads-bench"},
            "object": {"key": key, "size": size, "eTag": f"{n:032x}"},
        },
    }


def _event(batch: int, offset: int) -> dict[str, Any]:
    records = []
    for i in range(batch):
        n = offset + i
        record = s3_record(f"bench/crate+{n}/img%28{n}%29.jpg", 204511, n)
        records.append(
            {
                "messageId": f"m-{n}",
                "receiptHandle": f"r-{n}",
                "body": json.dumps({"Records": [record]}),
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795658292700"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:111122223333:clp-bench-detect",
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


class _Context:
    function_name = "clp-bench-detect"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:111122223333:function:clp-bench-detect"
    aws_request_id = "bench"
    log_group_name = "/aws/lambda/clp-bench-detect"
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@dataclass
class OverheadResult:
    batches: int
    batch_size: int
    cpu_us_per_record: float
    wall_us_per_record: float
    top: list[tuple[str, float]]  # (function, cumulative share of handler time)
    categories: list[tuple[str, float]]  # (kind of work, share of self time)


def run_b4(batches: int = 300, batch_size: int = 10, log_level: str = "INFO") -> OverheadResult:
    """Handler CPU per record through ``handle()`` with the real adapters on fake boto3 clients."""
    settings = Settings.model_validate(
        {
            "MODEL_NAME": "bench",
            "PROJECT_VERSION_ARN": ARN,
            "MODEL_PREFIX": "bench/",
            "MIN_CONFIDENCE": "50",
            "MAX_RESULTS": "10",
            "RESULTS_TABLE": "clp-results",
            "EVENT_BUS_NAME": "clp-bus",
            "QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/111122223333/q",
        }
    )
    client = FakeAws()
    deps = build_dependencies(settings, lambda _service: client)
    context: Any = _Context()
    # Logs go where Lambda sends them (stdout → CloudWatch); here to a sink so the terminal is not the cost.
    sink = io.StringIO()
    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sink)
    logger.setLevel(log_level)
    events = [_event(batch_size, i * batch_size) for i in range(batches)]
    for event in events[:20]:  # warm-up: pydantic/powertools caches
        handle(event, context, settings, deps)
    metrics.clear_metrics()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for event in events:
        response = handle(event, context, settings, deps)
        assert not response["batchItemFailures"]
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    metrics.clear_metrics()
    profiler = cProfile.Profile()
    profiler.enable()
    for event in events:
        handle(event, context, settings, deps)
    profiler.disable()
    metrics.clear_metrics()
    per_record = 1e6 / (batches * batch_size)
    return OverheadResult(
        batches, batch_size, cpu * per_record, wall * per_record, _top(profiler), _categories(profiler)
    )


_KINDS = (
    ("DynamoDB item building + TypeSerializer", ("boto3/dynamodb", "detect/mapping.py", "decimal")),
    ("structured logging (Powertools Logger)", ("logging/", "powertools/logging")),
    ("EMF metrics (Powertools Metrics)", ("powertools/metrics",)),
    ("pydantic parsing / validation", ("pydantic",)),
    ("JSON encode / decode", ("json/",)),
    ("batch processing (Powertools)", ("utilities/batch", "data_classes")),
)


def _categories(profiler: cProfile.Profile) -> list[tuple[str, float]]:
    """Self time grouped by the kind of work, as shares of the total."""
    raw: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    totals: dict[str, float] = {}
    for (filename, _, func), (_, _, tt, _, _) in raw.items():
        where = f"{filename}:{func}"
        kind = next((name for name, keys in _KINDS if any(k in where for k in keys)), "other (handler logic, stdlib)")
        totals[kind] = totals.get(kind, 0.0) + tt
    whole = sum(totals.values()) or 1.0
    return sorted(((k, v / whole) for k, v in totals.items()), key=lambda kv: -kv[1])


_GENERIC = ("handle", "process_partial_response", "process", "_record_handler", "process_message", "<lambda>")


def _top(profiler: cProfile.Profile, n: int = 3) -> list[tuple[str, float]]:
    """The ``n`` project-or-library functions with the largest cumulative time below the generic entry points."""
    stats = pstats.Stats(profiler)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = max(ct for (_, _, _, ct, _) in raw.values())
    rows: list[tuple[str, float]] = []
    for (filename, line, func), (_, _, _, ct, _) in raw.items():
        if func in _GENERIC or func.startswith("_") or "cProfile" in filename or filename.startswith("~"):
            continue
        short = filename.split("site-packages/")[-1].split("/work/main/")[-1]
        rows.append((f"{short}:{line}({func})", ct / total))
    rows.sort(key=lambda r: -r[1])
    # Keep the first three that are not callers of one another's whole subtree (distinct costs).
    picked: list[tuple[str, float]] = []
    for name, share in rows:
        if share > 0.97:
            continue
        picked.append((name, share))
        if len(picked) == n * 4:
            break
    return picked
