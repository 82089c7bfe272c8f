"""Offline runtime scaling: the wall time per image of the moto work that grows with the images.

``python -m bench.offline_scaling [--images 100 1000 5000] [--sample 20] [--modes off on]``

For each image count N and each mode — moto's own code (``off``) or with :mod:`localrun.moto_linear`'s
adaptations (``on``) — a fresh moto world (``localrun.world.World``: results table, detect queue) is brought to
N images: the results table holds N results (copies, under other keys, of the items the real detect handler
wrote for one image: the result and its two labels) and N messages wait on the detect queue. Then ``sample``
more images are timed, per image:

* ``send``: SendMessage of the image's event (the body EventBridge delivers to the queue);
* ``receive_delete``: ReceiveMessage with the offline poller's arguments (batches of 10) and DeleteMessageBatch;
* ``write_result``: the real detect handler (``lambdas.detect.wiring.build_dependencies``, batches of 10):
  DetectCustomLabels on the Custom Labels emulator, the TransactWriteItems of the result and its two labels,
  the publish claim, PutEvents and the published mark.

The fill writes straight into moto's backends (it is not timed); the timed sample is the marginal cost of an
image once the pipeline holds N, the cost that makes a run superlinear when it grows with N (moto's own
TransactWriteItems at 5,000 images takes seconds per image, hence the small default sample).
One JSON line per figure on stdout (docs/offline.md, "Cost linear in the images").
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from moto import mock_aws
from moto.dynamodb.models import dynamodb_backends
from moto.sqs.models import sqs_backends
from PIL import Image

from infra.config import ModelConfig, PipelineConfig, load_config
from lambdas.common.observability import logger
from lambdas.detect.handler import Settings, handle
from lambdas.detect.wiring import build_dependencies
from localrun.emulator import BoundingBox, CustomLabelsEmulator, Manifest, ManifestEntry, ManifestLabel
from localrun.moto_adapt import MOTO_CONFIG
from localrun.moto_linear import linear_moto
from localrun.world import ACCOUNT, ModelResources, World

BATCH = 10
DEFAULT_IMAGES = (100, 1000, 5000)


def emit(figure: str, data: dict[str, Any]) -> None:
    """One JSON line per figure on the real stdout (Powertools prints its EMF metrics to sys.stdout)."""
    stream = sys.__stdout__ or sys.stderr
    stream.write(json.dumps({"figure": figure, **data}) + "\n")
    stream.flush()


def _client(service: str, region: str) -> Any:
    return boto3.client(service, region_name=region)  # type: ignore[call-overload]


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def _manifest(image: bytes) -> Manifest:
    """Every upload is the same PNG: the emulator answers two labels for it (three items per result)."""
    box = BoundingBox(width=0.3, height=0.4, left=0.1, top=0.2)
    labels = (ManifestLabel("ripe", 97.1), ManifestLabel("apple", 88.4, box))
    sha = hashlib.sha256(image).hexdigest()
    return Manifest([ManifestEntry(line_number=1, source_ref="bench.png", labels=labels, sha256=sha)])


@dataclass
class _Pipeline:
    """One moto world holding images: the S3 uploads, the detect queue and the real handler."""

    config: PipelineConfig
    model: ModelConfig
    resources: ModelResources
    bucket: str
    table: str
    image: bytes
    invoke: Callable[[dict[str, Any]], dict[str, Any]]
    uploaded: int = 0

    def client(self, service: str) -> Any:
        return _client(service, self.model.region)

    def upload(self, count: int, *, store: bool = True) -> list[str]:
        """``count`` new objects under the model's prefix (``store=False``: events only, for messages never
        processed); the bodies EventBridge would put on the queue."""
        s3 = self.client("s3")
        bodies = []
        for _ in range(count):
            key = f"{self.model.prefix}bench/img-{self.uploaded:06d}.png"
            self.uploaded += 1
            if store:
                put = s3.put_object(Bucket=self.bucket, Key=key, Body=self.image)
            else:
                put = {"ETag": f'"{self.uploaded:032x}"', "VersionId": f"v{self.uploaded}"}
            detail = {
                "version": "0",
                "bucket": {"name": self.bucket},
                "object": {
                    "key": key,
                    "size": len(self.image),
                    "etag": put["ETag"].strip('"'),
                    "version-id": put.get("VersionId"),
                },
                "reason": "PutObject",
            }
            event = {
                "version": "0",
                "id": f"bench-{self.uploaded}",
                "detail-type": "Object Created",
                "source": "aws.s3",
                "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": self.model.region,
                "resources": [f"arn:aws:s3:::{self.bucket}"],
                "detail": detail,
            }
            bodies.append(json.dumps(event))
        return bodies

    def send(self, bodies: list[str]) -> None:
        sqs = self.client("sqs")
        for body in bodies:
            sqs.send_message(QueueUrl=self.resources.queue_url, MessageBody=body)

    def receive_delete(self, count: int) -> list[dict[str, Any]]:
        """Receive and delete ``count`` messages as the offline poller does; returns them."""
        sqs = self.client("sqs")
        received: list[dict[str, Any]] = []
        while len(received) < count:
            messages = sqs.receive_message(
                QueueUrl=self.resources.queue_url,
                MaxNumberOfMessages=min(BATCH, count - len(received)),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                VisibilityTimeout=60,
            ).get("Messages", [])
            if not messages:
                raise RuntimeError(f"the queue ran dry after {len(received)} of {count} messages")
            sqs.delete_message_batch(
                QueueUrl=self.resources.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
            received += messages
        return received

    def write_results(self, bodies: list[str]) -> None:
        """The real detect handler over ``bodies``, in batches of 10 (each image's result written once)."""
        for start in range(0, len(bodies), BATCH):
            records = [
                {"messageId": f"m-{start + i}", "receiptHandle": "r", "body": body, "eventSource": "aws:sqs"}
                for i, body in enumerate(bodies[start : start + BATCH])
            ]
            failures = self.invoke({"Records": records})["batchItemFailures"]
            if failures:
                raise RuntimeError(f"the handler failed {len(failures)} records")


@contextlib.contextmanager
def _pipeline(config: PipelineConfig) -> Iterator[_Pipeline]:
    model = config.models[0]
    with mock_aws(config=MOTO_CONFIG):
        world = World(config, lambda service: _client(service, model.region))
        world.create_shared().create_models()
        image = _png()
        emulator = CustomLabelsEmulator(region_name=model.region)
        emulator.add_model(
            project_arn=model.project_arn,
            project_version_arn=model.project_version_arn,
            tps_per_inference_unit=1000,
            inference_units=10,
            status="RUNNING",
            manifest=_manifest(image),
        )
        resources = world.models[model.name]
        settings = Settings.model_validate(
            {
                "MODEL_NAME": model.name,
                "PROJECT_VERSION_ARN": model.project_version_arn,
                "MODEL_PREFIX": model.prefix,
                "RESULTS_TABLE": world.names.results_table,
                "EVENT_BUS_NAME": world.names.bus,
                "QUEUE_URL": resources.queue_url,
            }
        )
        with emulator:
            deps = build_dependencies(settings, lambda service: _client(service, model.region))
            context: Any = _Context(resources.function_name)

            def invoke(event: dict[str, Any]) -> dict[str, Any]:
                return dict(handle(event, context, settings, deps))

            yield _Pipeline(config, model, resources, world.names.bucket, world.names.results_table, image, invoke)


class _Context:
    """The parts of LambdaContext Powertools reads."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 1024
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.aws_request_id = "bench"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def _timed(work: Callable[[], object]) -> float:
    began = time.perf_counter()
    work()
    return time.perf_counter() - began


def _fill(pipeline: _Pipeline, images: int) -> None:
    """Bring the world to ``images`` results and ``images`` waiting messages, straight into moto's backends."""
    region = pipeline.model.region
    table_name = pipeline.table
    pipeline.write_results(pipeline.upload(1))  # the items the handler writes for one image: the template
    template = pipeline.client("dynamodb").scan(TableName=table_name)["Items"]
    ddb: Any = dynamodb_backends[ACCOUNT][region]
    for n in range(1, images):
        for item in template:
            ddb.put_item(table_name, {**item, "pk": {"S": f"{item['pk']['S']}#copy-{n}"}})
    sqs: Any = sqs_backends[ACCOUNT][region]
    queue_name = pipeline.resources.queue_url.rsplit("/", 1)[-1]
    for body in pipeline.upload(images, store=False):
        sqs.send_message(queue_name, body)


def measure(config: PipelineConfig, images: int, sample: int, adapted: bool) -> dict[str, float]:
    """Milliseconds per image of each operation for ``sample`` images once the pipeline holds ``images``."""
    with _pipeline(config) as pipeline:
        with linear_moto():  # the fill, fast in both modes
            _fill(pipeline, images)
            timed = pipeline.upload(sample)
        with linear_moto() if adapted else contextlib.nullcontext():
            seconds = {
                "send": _timed(lambda: pipeline.send(timed)),
                "receive_delete": _timed(lambda: pipeline.receive_delete(sample)),
                "write_result": _timed(lambda: pipeline.write_results(timed)),
            }
    return {operation: round(1000 * s / sample, 3) for operation, s in seconds.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.offline_scaling", description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, nargs="+", default=list(DEFAULT_IMAGES))
    parser.add_argument("--sample", type=int, default=20, help="images timed at each size (default 20)")
    parser.add_argument("--modes", nargs="+", choices=["off", "on"], default=["off", "on"])
    args = parser.parse_args(argv)
    for key, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "bench")
    logger.setLevel("ERROR")
    config = load_config()
    with contextlib.redirect_stdout(io.StringIO()):
        for images in args.images:
            for mode in args.modes:
                began = time.perf_counter()
                per_image = measure(config, images, args.sample, adapted=mode == "on")
                for operation, ms in per_image.items():
                    emit(
                        "offline_scaling",
                        {
                            "operation": operation,
                            "images": images,
                            "adaptations": mode,
                            "sample": args.sample,
                            "ms_per_image": ms,
                        },
                    )
                emit(
                    "offline_scaling_run",
                    {"images": images, "adaptations": mode, "seconds": round(time.perf_counter() - began, 1)},
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
