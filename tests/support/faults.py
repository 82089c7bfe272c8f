"""Fault injection at the detect handler's clients and adapters (the AWS code under test stays untouched).

Each ``…(rate)`` factory returns a ``wrap_dependencies`` hook for :class:`localrun.runtime.RuntimeOptions`
(or :func:`tests.support.scenarios.run_scenario`'s ``wrap``).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

import boto3
from botocore.exceptions import ClientError

from infra.config import ModelConfig
from lambdas.detect.adapters import DynamoResultsRepository, EventBridgePublisher
from lambdas.detect.logic import Dependencies
from localrun.runtime import LOCAL_BUS, LOCAL_TABLE
from tests.support import ids

WrapDependencies = Callable[[ModelConfig, Dependencies], Dependencies]


class FlakyClient:
    """A boto3 client proxy that fails a seeded fraction of one operation's calls."""

    def __init__(
        self,
        client: Any,
        operation: str,
        rate: float,
        *,
        code: str = "ProvisionedThroughputExceededException",
        partial_failure: bool = False,
        seed: int = 7,
    ) -> None:
        self._client = client
        self._operation = operation
        self._rate = rate
        self._code = code
        self._partial = partial_failure
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.injected = 0

    def _hit(self) -> bool:
        with self._lock:
            hit = self._rng.random() < self._rate
            self.injected += hit
            return hit

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name != self._operation:
            return attribute

        def call(**kwargs: Any) -> Any:
            if self._hit():
                if self._partial:  # PutEvents answers 200 with the entry failed; nothing was delivered
                    return {
                        "FailedEntryCount": len(kwargs["Entries"]),
                        "Entries": [
                            {"ErrorCode": "InternalFailure", "ErrorMessage": "injected"} for _ in kwargs["Entries"]
                        ],
                    }
                raise ClientError({"Error": {"Code": self._code, "Message": "injected"}}, name)
            return attribute(**kwargs)

        return call


def local_client(service: str) -> Any:
    return boto3.client(service, region_name=ids.REGION)  # type: ignore[call-overload]


def dynamodb_throttling(rate: float) -> WrapDependencies:
    """A ``rate`` of the result writes (TransactWriteItems) throttled."""

    def wrap(_: ModelConfig, deps: Dependencies) -> Dependencies:
        client = FlakyClient(local_client("dynamodb"), "transact_write_items", rate)
        deps.repository = DynamoResultsRepository(client, LOCAL_TABLE)  # type: ignore[arg-type]
        return deps

    return wrap


def put_events_partial_failure(rate: float) -> WrapDependencies:
    """A ``rate`` of PutEvents calls answered 200 with every entry failed (nothing delivered)."""

    def wrap(_: ModelConfig, deps: Dependencies) -> Dependencies:
        client = FlakyClient(local_client("events"), "put_events", rate, partial_failure=True)
        deps.publisher = EventBridgePublisher(client, LOCAL_BUS, sleep=lambda _: None)  # type: ignore[arg-type]
        return deps

    return wrap


class CrashingRepository:
    """The handler 'crashes' after DetectCustomLabels, before the result write, on the first try of each key."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._crashed: set[str] = set()
        self._lock = threading.Lock()
        self.crashes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def put(self, result: Any, detail: dict[str, Any], claim: Any, review_detail: Any = None) -> bool:
        with self._lock:
            first = result.image.key not in self._crashed
            self._crashed.add(result.image.key)
            self.crashes += first
        if first:
            raise RuntimeError("injected crash between DetectCustomLabels and the result write")
        return bool(self._inner.put(result, detail, claim, review_detail))
