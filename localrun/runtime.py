"""The offline runtime: the whole pipeline in one process, no AWS account.

moto provides S3 (uploads → EventBridge → one rule per model → its queue, as deployed), SQS (with the DLQ
redrive policy), DynamoDB, EventBridge, the Lambda event source mapping records and Step Functions executing
the **real controller ASL file**; the Custom Labels emulator provides Rekognition; the **real detect
handler** is driven by :class:`localrun.poller.EventSourcePoller`. Everything is created from the same
typed config the CDK app reads. A development and rehearsal tool: nothing here is the real service.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import boto3
from aws_lambda_powertools.metrics.provider.cloudwatch_emf import cloudwatch as _emf
from botocore.config import Config
from moto import mock_aws

from infra import constants
from infra.config import ModelConfig, PipelineConfig
from lambdas.common.observability import SERVICE
from lambdas.detect.handler import Settings, handle
from lambdas.detect.logic import Dependencies
from lambdas.detect.models import DetectionResult
from lambdas.detect.ports import PublishClaim, ResultsRepository
from lambdas.detect.wiring import build_dependencies
from localrun.clock import VirtualClock
from localrun.emulator import CustomLabelsEmulator, Faults, Manifest
from localrun.moto_adapt import MOTO_CONFIG, serialize_moto_requests
from localrun.moto_fast import moto_s3_reader
from localrun.moto_linear import install_linear_moto
from localrun.moto_time import virtual_time
from localrun.poller import EventSourcePoller
from localrun.world import ACCOUNT, ModelResources, Names, World, adapt_moto

# Collector thresholds while a runtime lives (Python's default: 700, 10, 10). moto keeps every resource, item
# and message as Python objects, and with the defaults the collector re-walks them more and more often as a
# run grows (8 % of a 2,000-image rehearsal); the runtime makes little cyclic garbage, so it collects rarely.
_GC_THRESHOLDS = (50_000, 20, 100)

# The offline pipeline's resource names (localrun.world.Names), for callers that address them directly.
LOCAL_BUCKET = Names.bucket
LOCAL_TABLE = Names.results_table
LOCAL_CONTROL_TABLE = Names.control_table
LOCAL_BUS = Names.bus

__all__ = [
    "ACCOUNT",
    "LOCAL_BUCKET",
    "LOCAL_BUS",
    "LOCAL_CONTROL_TABLE",
    "LOCAL_TABLE",
    "ModelResources",
    "OfflineRuntime",
    "RuntimeOptions",
]


@dataclass
class RuntimeOptions:
    """How a rehearsal runs. Durations are simulated seconds.

    ``time_scale`` only paces a run for watching it (at most that many simulated seconds per real second);
    ``None`` runs as fast as the host can. It changes no simulated figure.
    """

    time_scale: float | None = None
    start_delay_seconds: float = 300.0
    stop_delay_seconds: float = 60.0
    manifest: Manifest | None = None
    faults: Faults | None = None
    log_path: Path | None = None
    # Fault injection (tests/faults): wraps the detect handler's adapters per model, e.g. to make result
    # writes throttle or PutEvents fail partially, without touching the AWS code. None = the real adapters.
    wrap_dependencies: Callable[[ModelConfig, Dependencies], Dependencies] | None = None


class OfflineRuntime:
    """Context manager owning moto, the emulator, the resources and the pollers."""

    def __init__(self, config: PipelineConfig, options: RuntimeOptions | None = None) -> None:
        self.config = config
        self.options = options or RuntimeOptions()
        self.clock = VirtualClock()
        # Terminal results written per (model, status): the rehearsal's progress without scanning the table.
        self.results_written: Counter[tuple[str, str]] = Counter()
        self.region = config.models[0].region
        self._clients = threading.local()  # per thread: service -> client (see client())
        self.world = World(config, self.client)
        self.models: dict[str, ModelResources] = self.world.models
        self._mock: Any = None
        self.emulator: CustomLabelsEmulator | None = None
        self._log_handler: logging.Handler | None = None
        self._lock = threading.Lock()
        self._stack = ExitStack()

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> Self:

        self._quiet_lambda_logs()
        self._stack.callback(gc.set_threshold, *gc.get_threshold())  # restored on exit
        gc.set_threshold(*_GC_THRESHOLDS)
        adapt_moto()
        install_linear_moto()
        serialize_moto_requests()
        # The calling thread drives the simulation: it is an actor for the runtime's whole life, so simulated
        # time moves only while it waits (Rehearsal.run), never while it uploads or inspects.
        self._stack.enter_context(self.clock.acting())
        self._stack.enter_context(virtual_time(self.clock))
        self._mock = mock_aws(config=MOTO_CONFIG)
        self._mock.start()
        try:
            self.emulator = CustomLabelsEmulator(
                clock=self.clock,
                start_delay_seconds=self.options.start_delay_seconds,
                stop_delay_seconds=self.options.stop_delay_seconds,
                faults=self.options.faults,
                s3_reader=moto_s3_reader(ACCOUNT),
                region_name=self.region,
                detect_service_time=True,
            ).activate()
            for model in self.config.models:
                self.emulator.add_model(
                    project_arn=model.project_arn,
                    project_version_arn=model.project_version_arn,
                    tps_per_inference_unit=model.tps_per_inference_unit,
                    manifest=self.options.manifest,
                )
            self.world.create_shared().create_models()
            self.world.configure_ingest()
            self.world.create_controllers()
            self._start_pollers()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.clock.settle()  # nobody halfway through host work (an execution between two states) ...
        self.clock.halt()  # ... then every sleeping actor (pollers, controller executions) ends at once
        for resources in self.models.values():
            if resources.poller is not None:
                resources.poller.stop()
        if self.emulator is not None:
            self.emulator.deactivate()
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        if self._log_handler is not None:
            logging.getLogger(SERVICE).removeHandler(self._log_handler)
            self._log_handler.close()
        if hasattr(_emf, "print"):
            del _emf.print  # back to the builtin
        self._stack.close()

    def _quiet_lambda_logs(self) -> None:
        """Powertools logs JSON to stdout; offline it goes to a file so stdout stays the report's.

        Metrics are EMF documents Powertools ``print``s to stdout for CloudWatch to pick up; offline the
        print of that one module is pointed at the same log file, where CloudWatch would have them.
        """
        service_logger = logging.getLogger(SERVICE)
        for handler in list(service_logger.handlers):
            service_logger.removeHandler(handler)
        if self.options.log_path is not None:
            self.options.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_handler = logging.FileHandler(self.options.log_path, encoding="utf-8")
        else:
            self._log_handler = logging.NullHandler()
        service_logger.addHandler(self._log_handler)
        service_logger.propagate = False
        log_handler = self._log_handler

        def emf_print(*values: object, **_: object) -> None:
            if isinstance(log_handler, logging.StreamHandler) and log_handler.stream is not None:
                log_handler.stream.write(" ".join(str(v) for v in values) + "\n")

        _emf.print = emf_print  # type: ignore[attr-defined]

    # -- clients ----------------------------------------------------------------------------------

    def client(self, service: str) -> Any:
        """This thread's client for ``service`` (created once: creating a boto3 client costs tens of ms)."""
        clients: dict[str, Any] | None = getattr(self._clients, "by_service", None)
        if clients is None:
            clients = self._clients.by_service = {}
        if service not in clients:
            clients[service] = boto3.client(  # type: ignore[call-overload]
                service, region_name=self.region, config=Config(retries={"mode": "standard", "max_attempts": 3})
            )
        return clients[service]

    # -- resources --------------------------------------------------------------------------------

    def _start_pollers(self) -> None:
        for resources in self.models.values():
            resources.poller = EventSourcePoller(
                sqs=self.client("sqs"),
                lambda_client=self.client("lambda"),
                mapping_uuid=resources.mapping_uuid,
                queue_url=resources.queue_url,
                queue_arn=resources.queue_arn,
                region=self.region,
                handler=self._detect_handler(resources.model),
                clock=self.clock,
            )
            resources.poller.start()

    def _detect_handler(self, model: ModelConfig) -> Callable[[dict[str, Any]], dict[str, Any]]:
        """The real detect handler with this model's settings and clients on the emulator's clock."""

        resources = self.models[model.name]
        settings = Settings.model_validate(
            {
                "MODEL_NAME": model.name,
                "PROJECT_VERSION_ARN": model.project_version_arn,
                "MODEL_PREFIX": model.prefix,
                "MIN_CONFIDENCE": model.min_confidence,
                "MAX_RESULTS": model.max_results,
                "RESULTS_TABLE": LOCAL_TABLE,
                "EVENT_BUS_NAME": LOCAL_BUS,
                "QUEUE_URL": resources.queue_url,
                "NOT_READY_DELAY_SECONDS": constants.NOT_READY_REQUEUE_DELAY_SECONDS,
                "REVIEW_POLICY": model.review.model_dump_json(),
            }
        )
        clock = self.clock
        deps = build_dependencies(
            settings, self.client, now=lambda: datetime.fromtimestamp(clock.now(), UTC), publish_sleep=clock.sleep
        )
        if self.options.wrap_dependencies is not None:
            deps = self.options.wrap_dependencies(model, deps)
        deps = replace(deps, repository=_CountingRepository(deps.repository, model.name, self._count_result))
        context = _LocalContext(resources.function_name)

        def invoke(event: dict[str, Any]) -> dict[str, Any]:
            return dict(handle(event, context, settings, deps))  # type: ignore[arg-type]

        return invoke

    def _count_result(self, model: str, status: str) -> None:
        with self._lock:
            self.results_written[(model, status)] += 1

    # -- operations -------------------------------------------------------------------------------

    def upload_directory(self, directory: Path, model: ModelConfig | None = None) -> list[str]:
        """Upload every file under ``directory`` (key = model prefix + relative path); returns the keys."""
        model = model or self.config.models[0]
        s3 = self.client("s3")
        keys = []
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            key = model.prefix + path.relative_to(directory).as_posix()
            s3.put_object(Bucket=LOCAL_BUCKET, Key=key, Body=path.read_bytes())
            keys.append(key)
        return keys


class _CountingRepository:
    """The detect handler's results repository, counting the results it writes (not the duplicates)."""

    def __init__(self, inner: ResultsRepository, model: str, count: Callable[[str, str], None]) -> None:
        self._inner = inner
        self._model = model
        self._count = count

    def put(
        self,
        result: DetectionResult,
        detail: dict[str, Any],
        claim: PublishClaim,
        review_detail: dict[str, Any] | None = None,
    ) -> bool:
        written = self._inner.put(result, detail, claim, review_detail)
        if written:
            self._count(self._model, result.status)
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _LocalContext:
    """The parts of LambdaContext Powertools reads."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = constants.DETECT_FUNCTION_MEMORY_MB
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{function_name}"
        self.aws_request_id = "offline"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "offline"

    def get_remaining_time_in_millis(self) -> int:
        return constants.DETECT_FUNCTION_TIMEOUT_SECONDS * 1000
