"""``CustomLabelsEmulator``: an API-faithful stand-in for Rekognition Custom Labels inference.

It answers StartProjectVersion, StopProjectVersion, DescribeProjectVersions and
DetectCustomLabels for every boto3/botocore client in the process while active (see ``hook``),
and the same operations can be called directly (``emu.detect_custom_labels(...)``). It is a
development and rehearsal tool, not the service: see docs/emulator.md for what it reproduces.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import random
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import boto3
from botocore.awsrequest import AWSResponse
from botocore.exceptions import BotoCoreError, ClientError
from botocore.model import OperationModel

from lambdas.common.contract import parse_project_arn, parse_project_version_arn
from localrun.clock import Clock, SystemClock
from localrun.emulator import hook
from localrun.emulator.errors import EmulatedServiceError, EmulatorConfigError
from localrun.emulator.images import check_size, inspect_image
from localrun.emulator.lifecycle import (
    INITIAL_STATUSES,
    RUNNING,
    BillingReport,
    BillingSession,
    Faults,
    ModelVersion,
)
from localrun.emulator.manifest import Manifest
from localrun.emulator.service import error_response, operation_model, success_response, validate_request

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from mypy_boto3_rekognition import RekognitionClient
    from mypy_boto3_s3 import S3Client

OPERATIONS = frozenset({"StartProjectVersion", "StopProjectVersion", "DescribeProjectVersions", "DetectCustomLabels"})

# How the service reads an S3Object image: (bucket, key, version or None) -> (declared size, read the bytes).
# Raises LookupError when there is no such object. Without one, the emulator reads through an S3 client.
S3Reader = Callable[[str, str, str | None], tuple[int, Callable[[], bytes]]]


DEFAULT_MAX_RESULTS = 100
DEFAULT_ASSUMED_THRESHOLD = 50.0

_NOT_FOUND = "The resource specified in the request cannot be found."
_NOT_READY = (
    "The requested resource isn't ready. For example, this exception occurs when you call "
    "DetectCustomLabels with a model version that isn't deployed."
)
_INVALID_S3 = "Unable to get object metadata from S3. Check object key, region and/or access permissions."
_TRANSIENT_MESSAGES = {
    "ThrottlingException": "Amazon Rekognition is temporarily unable to process the request. Try your call again.",
    "InternalServerError": "Amazon Rekognition experienced a service issue. Try your call again.",
    "ProvisionedThroughputExceededException": "Provisioned Rate exceeded.",
}


def version_name_of(project_version_arn: str) -> str:
    """Return the version name: the ARN segment after ``/version/``."""
    parts = parse_project_version_arn(project_version_arn)
    if parts is None:
        raise EmulatorConfigError(f"not a project version ARN: {project_version_arn!r}")
    return parts.version


class CustomLabelsEmulator:
    """Emulated Rekognition Custom Labels models, answering boto3 calls while active.

    Use as a context manager (``with CustomLabelsEmulator(clock=...) as emu:``) or call
    ``activate()`` / ``deactivate()``. State is guarded by a lock: calls may come from any thread.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        faults: Faults | None = None,
        start_delay_seconds: float = 300.0,
        stop_delay_seconds: float = 60.0,
        s3_client: S3Client | None = None,
        s3_reader: S3Reader | None = None,
        region_name: str = "us-east-1",
        detect_service_time: bool = False,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        # False: the TPS limit over a sliding one-second window, calls take no time (tests on a manual clock).
        # True: each DetectCustomLabels call takes its share of the model's capacity in clock time
        # (ModelVersion.occupy_lane), the offline runtime's model on its virtual clock.
        self.detect_service_time = detect_service_time
        self.start_delay_seconds = start_delay_seconds
        self.stop_delay_seconds = stop_delay_seconds
        self.region_name = region_name
        self._faults = faults or Faults()
        self._rng = random.Random(self._faults.seed)
        self._s3_client = s3_client
        # Rekognition reads the object inside AWS, not through the caller's SDK: an offline runtime can hand
        # the emulator a reader of its S3 store directly (localrun.moto_fast.moto_s3_reader).
        self._s3_reader = s3_reader
        self._s3_lock = threading.Lock()
        self._lock = threading.RLock()
        self._models: dict[str, ModelVersion] = {}
        self._calls: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()

    # -- activation -------------------------------------------------------------------------

    def activate(self) -> Self:
        """Start answering rekognition calls process-wide."""
        hook.activate(self)
        return self

    def deactivate(self) -> None:
        """Stop answering; clients fall through to whatever else handles rekognition."""
        hook.deactivate(self)

    def __enter__(self) -> Self:
        return self.activate()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.deactivate()

    def attach(self, client: BaseClient) -> BaseClient:
        """Hook a client created before activation (clients created after are hooked already)."""
        hook.attach_client(client)
        return client

    def client(self, region_name: str | None = None) -> RekognitionClient:
        """Return a new rekognition client wired to the emulator (dummy credentials: never signed)."""
        session = boto3.session.Session(
            aws_access_key_id="emulator", aws_secret_access_key="emulator", region_name=region_name or self.region_name
        )
        client = session.client("rekognition")
        hook.attach_client(client)
        return client

    # -- configuration ----------------------------------------------------------------------

    def add_model(
        self,
        *,
        project_arn: str,
        project_version_arn: str,
        tps_per_inference_unit: float = 5.0,
        manifest: Manifest | str | Path | None = None,
        status: str = "STOPPED",
        start_delay_seconds: float | None = None,
        stop_delay_seconds: float | None = None,
        inference_units: int = 1,
        assumed_threshold: float = DEFAULT_ASSUMED_THRESHOLD,
        faults: Faults | None = None,
        billable_training_seconds: int = 3600,
        f1_score: float | None = None,
    ) -> str:
        """Register a model version and return its ARN.

        ``status="RUNNING"`` registers a model someone else already started (with
        ``inference_units``); its billing session opens now. ``faults`` overrides the
        emulator-wide faults for this version.
        """
        version = parse_project_version_arn(project_version_arn)
        project = parse_project_arn(project_arn)
        if version is None:
            raise EmulatorConfigError(f"not a project version ARN: {project_version_arn!r}")
        if project is None:
            raise EmulatorConfigError(f"not a project ARN: {project_arn!r}")
        if version.project != project.project or version.account != project.account:
            raise EmulatorConfigError(f"{project_version_arn!r} does not belong to {project_arn!r}")
        if status not in INITIAL_STATUSES:
            raise EmulatorConfigError(f"status must be one of {sorted(INITIAL_STATUSES)}, got {status!r}")
        if tps_per_inference_unit <= 0 or inference_units < 1:
            raise EmulatorConfigError("tps_per_inference_unit must be > 0 and inference_units >= 1")
        if not isinstance(manifest, Manifest | None):
            manifest = Manifest.load(manifest)
        model = ModelVersion(
            project_arn=project_arn,
            version_arn=project_version_arn,
            version_name=version.version,
            created_at=int(version.timestamp) / 1000.0,
            tps_per_inference_unit=tps_per_inference_unit,
            manifest=manifest,
            start_delay_seconds=self.start_delay_seconds if start_delay_seconds is None else start_delay_seconds,
            stop_delay_seconds=self.stop_delay_seconds if stop_delay_seconds is None else stop_delay_seconds,
            assumed_threshold=assumed_threshold,
            billable_training_seconds=billable_training_seconds,
            f1_score=f1_score,
            faults=faults,
            rng=random.Random(faults.seed) if faults is not None else None,
        )
        with self._lock:
            if project_version_arn in self._models:
                raise EmulatorConfigError(f"model version already registered: {project_version_arn}")
            if status == RUNNING:
                model.mark_running_since(self.clock.now(), inference_units)
            else:
                model.set_status(status)
            self._models[project_version_arn] = model
        return project_version_arn

    def set_faults(self, faults: Faults, project_version_arn: str | None = None) -> None:
        """Replace the faults emulator-wide, or for one version (its RNG is reseeded)."""
        with self._lock:
            if project_version_arn is None:
                self._faults, self._rng = faults, random.Random(faults.seed)
            else:
                model = self._model_or_config_error(project_version_arn)
                model.faults, model.rng = faults, random.Random(faults.seed)

    def set_tps(self, project_version_arn: str, tps_per_inference_unit: float) -> None:
        """Change a version's TPS per inference unit at run time."""
        if tps_per_inference_unit <= 0:
            raise EmulatorConfigError("tps_per_inference_unit must be > 0")
        with self._lock:
            self._model_or_config_error(project_version_arn).tps_per_inference_unit = tps_per_inference_unit

    def stop_externally(self, project_version_arn: str) -> str:
        """Stop a model as someone else would (console, another script); return its new status.

        A model that is not RUNNING or STARTING is left as it is.
        """
        with self._lock:
            model = self._model_or_config_error(project_version_arn)
            # Someone else's stop of a model that is not running is simply a no-op.
            with contextlib.suppress(EmulatedServiceError):
                model.stop(self.clock.now())
            return model.status

    def status(self, project_version_arn: str) -> str:
        """Return a version's current status (transitions are applied first)."""
        with self._lock:
            model = self._model_or_config_error(project_version_arn)
            model.advance(self.clock.now())
            return model.status

    def billing(self, project_version_arn: str | None = None) -> BillingReport:
        """Billing sessions (of one version, or all) in clock time, and their IU-second total."""
        with self._lock:
            now = self.clock.now()
            if project_version_arn is None:
                models = list(self._models.values())
            else:
                models = [self._model_or_config_error(project_version_arn)]
            sessions: list[BillingSession] = []
            for model in models:
                model.advance(now)
                sessions.extend(model.billing(now))
        return BillingReport(
            sessions=tuple(sessions),
            total_inference_unit_seconds=sum(s.inference_unit_seconds for s in sessions),
            as_of=now,
        )

    @property
    def calls(self) -> Counter[str]:
        """Calls received per operation (a copy), errors included."""
        with self._lock:
            return Counter(self._calls)

    @property
    def errors(self) -> Counter[str]:
        """Emulated error responses per error code (a copy)."""
        with self._lock:
            return Counter(self._errors)

    def _model_or_config_error(self, project_version_arn: str) -> ModelVersion:
        model = self._models.get(project_version_arn)
        if model is None:
            raise EmulatorConfigError(f"unknown model version: {project_version_arn}")
        return model

    # -- direct API (same validation and response parsing as through a client) -------------

    def start_project_version(self, **params: Any) -> dict[str, Any]:
        """StartProjectVersion; raises ``ClientError`` like a boto3 client."""
        return self._call("StartProjectVersion", params)

    def stop_project_version(self, **params: Any) -> dict[str, Any]:
        """StopProjectVersion; raises ``ClientError`` like a boto3 client."""
        return self._call("StopProjectVersion", params)

    def describe_project_versions(self, **params: Any) -> dict[str, Any]:
        """DescribeProjectVersions; raises ``ClientError`` like a boto3 client."""
        return self._call("DescribeProjectVersions", params)

    def detect_custom_labels(self, **params: Any) -> dict[str, Any]:
        """DetectCustomLabels; raises ``ClientError`` like a boto3 client."""
        return self._call("DetectCustomLabels", params)

    def _call(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        op = operation_model(name)
        _, parsed = self.respond(op, params)
        if "Error" in parsed:
            raise ClientError(parsed, name)  # type: ignore[arg-type]
        return parsed

    # -- hook.Responder --------------------------------------------------------------------

    def handles(self, operation_name: str) -> bool:
        """Whether ``operation_name`` is emulated."""
        return operation_name in OPERATIONS

    def respond(self, op: OperationModel, params: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
        """Answer one call: the HTTP response and the body parsed by botocore's parser."""
        with self._lock:
            self._calls[op.name] += 1
        try:
            validate_request(op, params)
            result = self._dispatch(op.name, params)
        except EmulatedServiceError as exc:
            with self._lock:
                self._errors[exc.code] += 1
            return error_response(op, exc)
        return success_response(op, result)

    def _dispatch(self, name: str, params: Mapping[str, Any]) -> dict[str, Any]:
        if name == "StartProjectVersion":
            return self._start(params)
        if name == "StopProjectVersion":
            return self._stop(params)
        if name == "DescribeProjectVersions":
            return self._describe(params)
        if name == "DetectCustomLabels":
            return self._detect(params)
        raise EmulatorConfigError(f"operation not emulated: {name}")

    def _maybe_transient(self, operation: str, model: ModelVersion | None) -> None:
        """Raise an injected transient error for a seeded-random fraction of calls (lock held)."""
        if model is not None and model.faults is not None and model.rng is not None:
            faults, rng = model.faults, model.rng
        else:
            faults, rng = self._faults, self._rng
        if operation not in faults.transient_operations or faults.transient_error_rate <= 0:
            return
        if rng.random() < faults.transient_error_rate:
            code = rng.choice(faults.transient_error_codes)
            raise EmulatedServiceError(code, _TRANSIENT_MESSAGES.get(code, "Injected transient error."))

    def _model(self, project_version_arn: str) -> ModelVersion:
        model = self._models.get(project_version_arn)
        if model is None:
            raise EmulatedServiceError("ResourceNotFoundException", _NOT_FOUND)
        return model

    def _start(self, params: Mapping[str, Any]) -> dict[str, Any]:
        arn = params["ProjectVersionArn"]
        min_units = params["MinInferenceUnits"]
        max_units = params.get("MaxInferenceUnits")
        with self._lock:
            self._maybe_transient("StartProjectVersion", self._models.get(arn))
            model = self._model(arn)
            if max_units is not None and max_units < min_units:
                raise EmulatedServiceError(
                    "InvalidParameterException", "MaxInferenceUnits must be greater than or equal to MinInferenceUnits."
                )
            model.start(self.clock.now(), min_units, max_units, model.faults or self._faults)
            return {"Status": model.status}

    def _stop(self, params: Mapping[str, Any]) -> dict[str, Any]:
        arn = params["ProjectVersionArn"]
        with self._lock:
            self._maybe_transient("StopProjectVersion", self._models.get(arn))
            model = self._model(arn)
            model.stop(self.clock.now())
            return {"Status": model.status}

    def _describe(self, params: Mapping[str, Any]) -> dict[str, Any]:
        project_arn = params["ProjectArn"]
        names = params.get("VersionNames")
        page_size = params.get("MaxResults", DEFAULT_MAX_RESULTS)
        fingerprint = hashlib.sha256(json.dumps([project_arn, names]).encode()).hexdigest()[:16]
        offset = _decode_token(params.get("NextToken"), fingerprint)
        with self._lock:
            self._maybe_transient("DescribeProjectVersions", None)
            now = self.clock.now()
            models = [m for m in self._models.values() if m.project_arn == project_arn]
            if not models:
                raise EmulatedServiceError("ResourceNotFoundException", _NOT_FOUND)
            if names is not None:
                models = [m for m in models if m.version_name in names]
            # Newest first, like the console and the service's default listing.
            models.sort(key=lambda m: (-m.created_at, m.version_arn))
            page = models[offset : offset + page_size]
            for model in page:
                model.advance(now)
            result: dict[str, Any] = {"ProjectVersionDescriptions": [m.description() for m in page]}
        if offset + page_size < len(models):
            result["NextToken"] = _encode_token(offset + page_size, fingerprint)
        return result

    def _detect(self, params: Mapping[str, Any]) -> dict[str, Any]:
        arn = params["ProjectVersionArn"]
        image = params["Image"]
        inline, s3_object = image.get("Bytes"), image.get("S3Object")
        if (inline is None) == (s3_object is None):
            raise EmulatedServiceError(
                "InvalidParameterException", "Request has invalid parameters: pass exactly one of Bytes or S3Object."
            )
        with self._lock:
            self._maybe_transient("DetectCustomLabels", self._models.get(arn))
            model = self._model(arn)
            now = self.clock.now()
            model.advance(now)
            if model.status != RUNNING:
                raise EmulatedServiceError("ResourceNotReadyException", _NOT_READY)
            service_seconds = model.occupy_lane(now) if self.detect_service_time else 0.0
            if not self.detect_service_time:
                model.admit_detect(now)
            manifest, threshold = model.manifest, model.assumed_threshold

        # Outside the lock: S3 reads and decoding are slow and need no shared state.
        bucket: str | None = None
        key: str | None = None
        try:
            if s3_object is not None:
                bucket, key = s3_object["Bucket"], s3_object["Name"]
                data = self._read_s3(bucket, key, s3_object.get("Version"))
            else:
                data = bytes(inline)
            inspect_image(data, from_s3=s3_object is not None)
        except EmulatedServiceError:
            if service_seconds:  # a rejected image answers at once: it gives its lane back
                with self._lock:
                    model.release_lane(now + service_seconds)
            raise

        labels = manifest.labels_for(data, bucket, key) if manifest is not None else []
        min_confidence = params.get("MinConfidence")
        floor = threshold if min_confidence is None else float(min_confidence)
        kept = sorted((lb for lb in labels if lb.confidence >= floor), key=lambda lb: (-lb.confidence, lb.name))
        max_results = params.get("MaxResults")
        if max_results is not None:
            kept = kept[:max_results]
        self.clock.sleep(service_seconds)  # the call's latency: the lane is held until it answers
        return {"CustomLabels": [label.to_api() for label in kept]}

    def _s3(self) -> S3Client:
        with self._s3_lock:
            if self._s3_client is None:
                # Created lazily so that, under moto's mock_aws, it is created inside the mock.
                self._s3_client = boto3.client("s3", region_name=self.region_name)
            return self._s3_client

    def _read_s3(self, bucket: str, key: str, version: str | None) -> bytes:
        if self._s3_reader is not None:
            try:
                size, read = self._s3_reader(bucket, key, version)
            except LookupError as exc:
                raise EmulatedServiceError("InvalidS3ObjectException", _INVALID_S3) from exc
            check_size(size, from_s3=True)  # on the declared size, before reading
            return read()
        request: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version is not None:
            request["VersionId"] = version
        try:
            obj = self._s3().get_object(**request)
        except (ClientError, BotoCoreError) as exc:
            raise EmulatedServiceError("InvalidS3ObjectException", _INVALID_S3) from exc
        body = obj["Body"]
        try:
            # Reject on the declared size before reading 15+ MB into memory.
            check_size(int(obj.get("ContentLength") or 0), from_s3=True)
            data: bytes = body.read()
        finally:
            body.close()
        return data


def _encode_token(offset: int, fingerprint: str) -> str:
    raw = json.dumps({"o": offset, "f": fingerprint}).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _decode_token(token: str | None, fingerprint: str) -> int:
    """Return the offset in a NextToken; a token from another query is invalid, as on AWS."""
    if token is None:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
        offset = data["o"]
        valid = isinstance(offset, int) and offset >= 0 and data["f"] == fingerprint
    except (ValueError, KeyError, TypeError):
        valid = False
    if not valid:
        raise EmulatedServiceError("InvalidPaginationTokenException", "Invalid pagination token.")
    return int(offset)


__all__ = ["OPERATIONS", "CustomLabelsEmulator", "S3Reader", "version_name_of"]
