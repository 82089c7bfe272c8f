"""A local stand-in for Lambda's SQS event source mapping, driving the real detect handler in-process.

It honours what the mapping record in moto says (enabled state, batch size, maximum concurrency) and what
SQS does with the answer: deleted on success, left invisible for the queue's visibility timeout on an item
failure, redelivered after it, dead-lettered by the queue's redrive policy.

Like Lambda's pollers, each of the mapping's concurrent instances is a loop of its own that receives a
batch, invokes the handler and deletes what succeeded; an instance beyond the mapping's maximum
concurrency, or of a disabled mapping, waits. Every instance is an actor of the runtime's
:class:`~localrun.clock.VirtualClock`: the handler's host work takes no simulated time (only what the
handler waits for does: the model's service time, back-off). An instance that found the queue empty
long-polls: it waits until a message is sent to the queue, or ``long_poll_seconds`` (messages that become
visible again after a visibility timeout or a delay are seen then) — or, when no message is in flight or
delayed either (nothing can become visible without a send), ``disabled_recheck_seconds``; one of a disabled
mapping waits for the mapping's next update (or ``disabled_recheck_seconds``). The mapping is read again only
after it was updated (each update notifies the clock). Neither changes what is simulated: only how often an
idle instance looks.

moto's SQS backend is not thread-safe: two concurrent ReceiveMessage calls on one queue can pick the same
message and one of them fails inside moto (``list.remove(x): x not in list``). The poller's own SQS calls
are therefore serialized per queue, while the handler invocations still run concurrently. A failed poll
(any error outside the handler) is recorded and retried: it must never stop the queue being consumed.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from localrun.clock import ClockHalted, VirtualClock
from localrun.moto_time import mapping_channel, queue_channel

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
        clock: VirtualClock,
        long_poll_seconds: float = 20.0,
        disabled_recheck_seconds: float = 300.0,
    ) -> None:
        self._sqs = sqs
        self._lambda = lambda_client
        self._uuid = mapping_uuid
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._region = region
        self._handler = handler
        self._clock = clock
        self._long_poll = long_poll_seconds
        self._disabled_recheck = disabled_recheck_seconds
        self._queue_channel = queue_channel(queue_url.rsplit("/", 1)[-1])
        self._mapping_channel = mapping_channel(mapping_uuid)
        self._stop = threading.Event()
        self._sqs_lock = threading.Lock()
        self._mapping_lock = threading.Lock()
        self._mapping_read: tuple[int, tuple[bool, int, int]] | None = None
        self._threads: list[threading.Thread] = []
        self.stats = PollerStats()
        self.errors: list[str] = []

    def start(self) -> None:
        """Start one instance per unit of the mapping's maximum concurrency (call as an actor of the clock)."""
        _, _, concurrency = self._mapping()
        for index in range(concurrency):
            thread = threading.Thread(
                target=self._clock.spawned(lambda index=index: self._run(index)),  # type: ignore[misc]
                name=f"poller-{self._uuid[:8]}-{index}",
                daemon=True,
            )
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        """Stop the instances (they end at their next wake-up: halt the clock first, or let it run)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _mapping(self) -> tuple[bool, int, int]:
        """The mapping's enabled state, batch size and maximum concurrency, read again only after an update.

        Every UpdateEventSourceMapping notifies the mapping's clock channel (``localrun.moto_time``), after moto
        applied it: a reading taken after the count was read is at least as new as that count, so it stays
        good until the count moves (one GetEventSourceMapping per update, not one per poll)."""
        updates = self._clock.notifications(self._mapping_channel)
        # One instance reads for all: the others wait for its reading (the lock is held only by the instances,
        # never inside a moto request, so waiting on it cannot stall moto or the clock).
        with self._mapping_lock:
            if self._mapping_read is not None and self._mapping_read[0] >= updates:
                return self._mapping_read[1]
            mapping = self._lambda.get_event_source_mapping(UUID=self._uuid)
            enabled = mapping.get("State") == "Enabled"
            batch_size = int(mapping.get("BatchSize") or 10)
            concurrency = int((mapping.get("ScalingConfig") or {}).get("MaximumConcurrency") or 2)
            self._mapping_read = (updates, (enabled, batch_size, concurrency))
        return enabled, batch_size, concurrency

    def _run(self, index: int) -> None:
        try:
            while not self._stop.is_set():
                seconds, channel = self._step(index)
                if seconds:
                    self._clock.wait(seconds, channel)
        except ClockHalted:
            return

    def _step(self, index: int) -> tuple[float, Hashable | None]:
        """One look at the mapping and, if this instance may poll, one batch; returns how long to wait and
        what ends the wait early (a mapping update, a message sent to the queue)."""
        try:
            enabled, batch_size, concurrency = self._mapping()
            if not enabled or index >= concurrency:
                return self._disabled_recheck, self._mapping_channel
            if self._one_batch(batch_size):
                return 0.0, None
            if self._nothing_in_flight():
                # Only a send can put a message in this queue now, and a send ends the wait.
                return self._disabled_recheck, self._queue_channel
            return self._long_poll, self._queue_channel
        except Exception as exc:  # a poll (not a handler) failed: record it, back off, go on polling
            self.errors.append(f"poll: {type(exc).__name__}: {exc}")
            with self.stats.lock:
                self.stats.poll_errors += 1
            return 1.0, None

    def _nothing_in_flight(self) -> bool:
        """No message in flight or delayed: none can become visible before the next send."""
        with self._sqs_lock:
            attributes = self._sqs.get_queue_attributes(
                QueueUrl=self._queue_url,
                AttributeNames=["ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"],
            )["Attributes"]
        return all(int(value) == 0 for value in attributes.values())

    def _one_batch(self, batch_size: int) -> int:
        with self._sqs_lock:
            response = self._sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=batch_size,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
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
        if done:
            with self._sqs_lock:
                self._sqs.delete_message_batch(
                    QueueUrl=self._queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
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
