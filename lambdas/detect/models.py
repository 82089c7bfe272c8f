"""Typed views of the inputs (S3 events inside SQS bodies) and outputs (results, events).

Two input shapes reach a detect queue: EventBridge "Object Created" events (every upload) and S3 event
notification ``Records`` (the backfill state machine, redriven older messages, the benchmarks).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lambdas.common.ingest import DETAIL_TYPE_OBJECT_CREATED, S3_EVENT_SOURCE

# Hand-written instead of Powertools' S3Model: that model requires fields (userIdentity,
# requestParameters, responseElements) the pipeline never reads and some senders (moto, replays,
# backfill) omit. These models accept any S3 notification that carries what detection needs.


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class S3Bucket(_Lenient):
    name: str


class S3Object(_Lenient):
    key: str
    size: int | None = None
    e_tag: str | None = Field(default=None, alias="eTag")
    version_id: str | None = Field(default=None, alias="versionId")
    sequencer: str | None = None

    @field_validator("key")
    @classmethod
    def _decode(cls, value: str) -> str:
        # S3 notifications URL-encode keys with '+' for spaces.
        return unquote_plus(value)


class S3Entity(_Lenient):
    bucket: S3Bucket
    object: S3Object


class S3EventRecord(_Lenient):
    event_name: str = Field(alias="eventName")
    event_time: datetime = Field(alias="eventTime")
    aws_region: str | None = Field(default=None, alias="awsRegion")
    s3: S3Entity

    @property
    def is_object_created(self) -> bool:
        return self.event_name.startswith("ObjectCreated:")


class S3Notification(_Lenient):
    records: tuple[S3EventRecord, ...] = Field(alias="Records")


class ObjectCreatedObject(_Lenient):
    # The key as S3 stored it: EventBridge events do not URL-encode keys (unlike notifications).
    key: str
    size: int | None = None
    # "etag" in AWS's documented event; moto sends "eTag". AWS's spelling is read first.
    etag: str | None = None
    e_tag: str | None = Field(default=None, alias="eTag")
    version_id: str | None = Field(default=None, alias="version-id")
    sequencer: str | None = None

    @property
    def any_etag(self) -> str | None:
        return self.etag or self.e_tag


class ObjectCreatedDetail(_Lenient):
    bucket: S3Bucket
    object: ObjectCreatedObject
    reason: str | None = None


class S3EventBridgeEvent(_Lenient):
    """An S3 event as EventBridge delivers it to an SQS target (the body is the event itself)."""

    source: Literal["aws.s3"]
    detail_type: str = Field(alias="detail-type")
    time: datetime
    region: str | None = None
    detail: ObjectCreatedDetail

    @property
    def event_name(self) -> str:
        return f"{self.detail_type}:{self.detail.reason}" if self.detail.reason else self.detail_type

    @property
    def is_object_created(self) -> bool:
        return self.source == S3_EVENT_SOURCE and self.detail_type == DETAIL_TYPE_OBJECT_CREATED


S3Event = S3EventRecord | S3EventBridgeEvent


class ImageRef(_Lenient):
    """One object version to label."""

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None
    uploaded_at: datetime

    @property
    def object_version(self) -> str:
        """Version id when the bucket is versioned, else the ETag: what makes a result unique."""
        return self.version_id or self.etag or "unversioned"


class BoundingBox(_Lenient):
    width: float
    height: float
    left: float
    top: float


class Point(_Lenient):
    x: float
    y: float


class Label(_Lenient):
    name: str
    confidence: float
    bounding_box: BoundingBox | None = None
    polygon: tuple[Point, ...] | None = None


Status = Literal["DETECTED", "FAILED"]


class DetectionResult(_Lenient):
    """The terminal outcome of one object version × model version."""

    image: ImageRef
    model_name: str
    project_version_arn: str
    status: Status
    labels: tuple[Label, ...] = ()
    reason: str | None = None
    message: str | None = None
    detected_at: datetime

    @property
    def result_id(self) -> str:
        """Stable id consumers can de-duplicate events on."""
        raw = "\n".join((self.image.bucket, self.image.key, self.image.object_version, self.project_version_arn))
        return hashlib.sha256(raw.encode()).hexdigest()[:32]
