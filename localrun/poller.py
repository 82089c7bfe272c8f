"""A local stand-in for Lambda's SQS event source mapping, driving the real detect handler in-process.

It honours what the mapping record in moto says (enabled state, batch size, maximum concurrency) and what
SQS does with the answer: deleted on success, left invisible for the visibility timeout on an item failure
(scaled like every other wait), redelivered after it, dead-lettered by the queue's redrive policy.

moto's SQS backend is not thread-safe: two concurrent ReceiveMessage calls on one queue can pick the same
message and one of them fails inside moto (``list.remove(x): x not in list``). The poller's own SQS calls
are therefore serialized per queue, while the handler invocations still run concurrently. A failed poll
(any error outside the handler) is recorded and retried: it must never stop the queue being consumed.

Time is scaled, but the handler's own run time is not: at a time scale of 150 the queue's 360 s visibility
timeout is 2.4 real seconds, shorter than a slow batch on a loaded machine, and a message still being
processed would be received again (its receive count climbing towards the DLQ) — something AWS rules out
by keeping the function timeout (60 s) far below the visibility timeout. So messages are received with
at least ``in_flight_visibility_real_seconds`` of visibility, and only the failed ones are then given
the scaled visibility timeout (ChangeMessageVisibility), which keeps redelivery of failures as fast as
the scaled queue.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_sqs import SQSClient

BatchHandler = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class PollerStats:
    batches: int = 0
    messages: int = 0
    item_failures: int = 0
    handler_errors: int = 0
    poll_errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class EventSourcePoller:
    """Polls one queue for one function while its event source mapping is enabled."""

    def __init__(
        self,
        *,
        sqs: SQSClient,
        lambda_client: LambdaClient,
        mapping_uuid: str,
        queue_url: str,
        queue_arn: str,
        region: str,
        handler: BatchHandler,
        visibility_timeout_real_seconds: float,
        idle_sleep_seconds: float = 0.02,
        in_flight_visibility_real_seconds: float = 60.0,
    ) -> None:
        self._sqs = sqs
        self._lambda = lambda_client
        self._uuid = mapping_uuid
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._region = region
        self._handler = handler
        self._visibility = max(0, round(visibility_timeout_real_seconds))
        self._in_flight_visibility = max(self._visibility, round(in_flight_visibility_real_seconds))
        self._idle_sleep = idle_sleep_seconds
        self._stop = threading.Event()
        self._sqs_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.stats = PollerStats()
        self.errors: list[str] = []

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"poller-{self._uuid[:8]}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _mapping(self) -> tuple[bool, int, int]:
        mapping = self._lambda.get_event_source_mapping(UUID=self._uuid)
        enabled = mapping.get("State") == "Enabled"
        batch_size = int(mapping.get("BatchSize") or 10)
        concurrency = int((mapping.get("ScalingConfig") or {}).get("MaximumConcurrency") or 2)
        return enabled, batch_size, concurrency

    def _run(self) -> None:
        executor: ThreadPoolExecutor | None = None
        workers = 0
        try:
            while not self._stop.is_set():
                try:
                    enabled, batch_size, concurrency = self._mapping()
                except Exception as exc:
                    self._poll_failed(exc)
                    continue
                if not enabled:
                    time.sleep(self._idle_sleep)
                    continue
                if executor is None or workers != concurrency:
                    if executor is not None:
                        executor.shutdown(wait=True)
                    executor, workers = ThreadPoolExecutor(concurrency, thread_name_prefix="detect"), concurrency
                # Each concurrent "instance" receives and processes one batch, like Lambda's pollers.
                futures = [executor.submit(self._one_batch, batch_size) for _ in range(concurrency)]
                received = 0
                for future in futures:
                    try:
                        received += future.result()
                    except Exception as exc:
                        self._poll_failed(exc)
                if received == 0:
                    time.sleep(self._idle_sleep)
        finally:
            if executor is not None:
                executor.shutdown(wait=True)

    def _poll_failed(self, exc: Exception) -> None:
        """A poll (not a handler) failed: record it, back off briefly, go on polling."""
        self.errors.append(f"poll: {type(exc).__name__}: {exc}")
        with self.stats.lock:
            self.stats.poll_errors += 1
        time.sleep(self._idle_sleep)

    def _one_batch(self, batch_size: int) -> int:
        with self._sqs_lock:
            response = self._sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=batch_size,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                VisibilityTimeout=self._in_flight_visibility,
            )
        messages = response.get("Messages", [])
        if not messages:
            return 0
        event = {"Records": [self._record(m) for m in messages]}
        try:
            result = self._handler(event)
            failed = {item["itemIdentifier"] for item in result.get("batchItemFailures", [])}
        except Exception as exc:  # a crashed invocation: every message of the batch is retried
            self.errors.append(f"{type(exc).__name__}: {exc}")
            failed = {m["MessageId"] for m in messages}
            with self.stats.lock:
                self.stats.handler_errors += 1
        done = [m for m in messages if m["MessageId"] not in failed]
        retry = [m for m in messages if m["MessageId"] in failed]
        with self._sqs_lock:
            if done:
                self._sqs.delete_message_batch(
                    QueueUrl=self._queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
                )
            if retry and self._visibility < self._in_flight_visibility:
                self._sqs.change_message_visibility_batch(
                    QueueUrl=self._queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": self._visibility}
                        for i, m in enumerate(retry)
                    ],
                )
        with self.stats.lock:
            self.stats.batches += 1
            self.stats.messages += len(messages)
            self.stats.item_failures += len(failed)
        return len(messages)

    def _record(self, message: Mapping[str, Any]) -> dict[str, Any]:
        body = message["Body"]
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": body,
            "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody") or hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": self._queue_arn,
            "awsRegion": self._region,
        }
