"""Adaptations that keep the offline runtime's cost linear in the number of images (offline and tests only).

moto answers some requests by walking a whole table or queue, so a rehearsal of ``n`` images cost ``O(n²)``:
every result written copied the results table, every message sent, received or deleted walked the queue.
:func:`install_linear_moto` (process-wide, what the offline runtime installs) or :func:`linear_moto` (for the
length of a ``with`` block) replaces those paths of moto 5.2 by ones whose work is proportional to the items
and messages the request touches. What moto answers is unchanged; nothing deployed is affected. Each
adaptation, why, and what is preserved:

DynamoDB
* ``TransactWriteItems`` — moto deep-copies every table the transaction names (the ``Table``, all its items)
  before the first write, to swap the copy back in if the transaction is cancelled: ``O(table)`` per call,
  and the detect function writes each result with one transaction (result item + one item per label).
  :func:`transact_write_items` keeps a journal instead: just before an action's item is read and written,
  a copy of that item as it stands (``O(item)``; or "absent") is saved, and a cancelled transaction puts
  the saved items back, newest first, deleting the ones it created. Preserved, in moto's order: at most 100
  actions, one operation per action, each item named once (``ValidationException``), every action's
  ``ConditionExpression`` evaluated on its item as it was (``ReturnValuesOnConditionCheckFailure``
  ``ALL_OLD`` included), the writes made by moto's own Put / Update / Delete, all or nothing, and
  ``TransactionCanceledException`` with one ``CancellationReasons`` entry per action in request order
  (``"None"`` for those that passed); a validation error rolls back and is raised as is. Stream records of a
  cancelled transaction are dropped, as moto's restored copy drops them. Differences nobody reads: the
  table object stays (moto swaps in its copy); an action with two operations rolls back the actions before
  it (moto leaves them written; AWS rejects the whole request); an item a cancelled Delete had removed goes
  back at the end of its partition's dict (moto sorts what Scan and Query return).

SQS (standard queues; the FIFO de-duplication walk in ``add_message`` is left as it is: no queue here is FIFO)
* ``SendMessage`` (and ``SendMessageBatch``, the EventBridge and S3 targets, which all call it) reads
  ``queue.attributes`` for ``ContentBasedDeduplication`` alone, and that property counts the queue's
  messages three times (``ApproximateNumberOf*``): ``O(queue)`` per message sent. Inside ``send_message``
  the three counts read 0 (nothing there reads them); ``GetQueueAttributes`` still counts.
* ``ReceiveMessage`` checks each received message's retention through ``get_queue_attributes``, which builds
  ``queue.attributes`` three times: nine walks of the queue per message received. The check reads the
  queue's ``MessageRetentionPeriod`` directly (same comparison, same clock).
* ``ReceiveMessage`` takes its batch from ``Queue.messages``, the list of deliverable (visible, not
  delayed) messages, built over the whole queue with two clock reads per message on every call.
  ``Queue.messages`` is now a lazy view (:class:`DeliverableMessages`): iterating it walks the queue from
  the head and stops when the receive has its batch; its truth (the long-poll wait) stops at the first
  deliverable message; ``len`` still counts them all (``ApproximateNumberOfMessages``); one clock read per
  access. A receive costs the messages ahead of its batch (in flight or delayed), not the queue.
* ``DeleteMessage`` / ``DeleteMessageBatch`` look for the receipt handle in every message and then rebuild
  the whole list without it: two walks of the queue per message deleted. Now a walk from the head to the
  message (a consumer deletes what it received, near the head) and a removal in place; an unknown handle
  is ``ReceiptHandleIsInvalid`` and a handle already deleted is accepted again, as before.
* ``GetQueueAttributes`` built ``queue.attributes`` (three counts over the queue) three times per attribute
  name asked for; now once per call. Each count reads the clock once instead of once per message.
* ``ChangeMessageVisibility`` already stops at the message it changes: unchanged.

Thread safety: installing and removing are guarded by a lock; the replacements do no more to moto's
shared state than moto's own code did (serializing requests is :func:`localrun.moto_adapt.serialize_moto_requests`).
Every clock read goes through ``moto.sqs.models.unix_time`` / ``unix_time_millis``, so a runtime that puts
moto on a virtual clock by patching those names (``localrun/moto_time.py``) still governs these paths.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from moto.dynamodb import models as ddb
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table
from moto.sqs import models as sqs
from moto.sqs.exceptions import InvalidAttributeName, ReceiptHandleIsInvalid

_TRANSACTION_OPERATIONS = frozenset({"ConditionCheck", "Put", "Delete", "Update"})
_MAX_TRANSACTION_ACTIONS = 100

# -- DynamoDB: TransactWriteItems with a journal of the items it touches --------------------------------------


@dataclass
class _SavedItem:
    table: Table
    hash_key: DynamoType
    range_key: DynamoType | None
    partition_existed: bool  # moto's get_item leaves an empty partition dict behind for an absent key
    item: Item | None  # a copy of the item before the transaction touched it; None: it did not exist


@dataclass
class _SavedStream:
    shard: Any  # moto.dynamodb.models.table.StreamShard
    records: list[Any]
    length: int


@dataclass
class TransactionJournal:
    """The items a TransactWriteItems call touched, as they were before it: what a rollback restores."""

    items: list[_SavedItem] = field(default_factory=list)
    streams: dict[int, _SavedStream] = field(default_factory=dict)

    def remember(self, backend: Any, table_name: str, key: dict[str, Any]) -> None:
        """Save the item ``key`` of ``table_name`` before the transaction reads or writes it (``O(item)``).

        A table or key moto cannot resolve is not saved: moto's ``get_item`` then fails the same way before
        anything is written for this action.
        """
        try:
            table: Table = backend.get_table(table_name)
            hash_key, range_key = backend.get_keys_value(table, key)
        except Exception:
            return
        items: Any = table.items  # {hash: Item}, or {hash: {range: Item}} with a range key
        partition_existed = hash_key in items
        if range_key is None:
            current = items.get(hash_key)
        else:
            current = items[hash_key].get(range_key) if partition_existed else None
        self.items.append(_SavedItem(table, hash_key, range_key, partition_existed, copy.deepcopy(current)))
        shard = table.stream_shard
        if shard is not None and id(table) not in self.streams:
            self.streams[id(table)] = _SavedStream(shard, shard.items, len(shard.items))

    def rollback(self) -> None:
        """Put every saved item back as it was, newest first, and drop the stream records written since."""
        for saved in reversed(self.items):
            items: Any = saved.table.items
            if saved.range_key is None:
                if saved.item is None:
                    items.pop(saved.hash_key, None)
                else:
                    items[saved.hash_key] = saved.item
                continue
            if saved.item is not None:
                items[saved.hash_key][saved.range_key] = saved.item
                continue
            partition = items.get(saved.hash_key)
            if partition is not None:
                partition.pop(saved.range_key, None)
                if not partition and not saved.partition_existed:
                    del items[saved.hash_key]
        for stream in self.streams.values():
            del stream.records[stream.length :]
            stream.shard.items = stream.records
        self.items.clear()
        self.streams.clear()


def _action_key(backend: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return dict(op["Key"])
    attrs = op["Item"]
    table = backend.get_table(op["TableName"])
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def _condition_failure(op: dict[str, Any], current: Item | None) -> ConditionalCheckFailed | None:
    """moto's ConditionalCheckFailed when the action's ConditionExpression fails on ``current``, else None."""
    condition = op.get("ConditionExpression")
    if condition is None:
        return None
    condition_op = get_filter_expression(
        condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
    )
    if condition_op.expr(current):
        return None
    old = None
    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
        old = current.to_json()["Attributes"]
    failure = ConditionalCheckFailed(item=old)
    failure.clp_item = old  # type: ignore[attr-defined]  # the reason's Item, as moto's loop keeps it
    return failure


def _write(backend: Any, op_type: str, op: dict[str, Any], key: dict[str, Any]) -> None:
    table_name = op["TableName"]
    condition = op.get("ConditionExpression")
    names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
    if op_type == "Put":
        backend.put_item(
            table_name,
            op["Item"],
            condition_expression=condition,
            expression_attribute_names=names,
            expression_attribute_values=values,
        )
    elif op_type == "Delete":
        backend.delete_item(
            table_name,
            key,
            condition_expression=condition,
            expression_attribute_names=names,
            expression_attribute_values=values,
        )
    elif op_type == "Update":
        backend.update_item(
            table_name,
            key,
            update_expression=op["UpdateExpression"],
            condition_expression=condition,
            expression_attribute_names=names,
            expression_attribute_values=values,
        )


_Reason = tuple[str, str, Any] | tuple[None, None, None]


def _apply_action(
    backend: Any, action: dict[str, Any], seen: set[tuple[str, str]], journal: TransactionJournal
) -> _Reason:
    """One action of the transaction, as moto's loop does it; its cancellation reason (``None`` codes: passed)."""
    if len(action) > 1:
        raise TransactWriteSingleOpException
    try:
        op_type, op = next(iter(action.items()))
        if op_type not in _TRANSACTION_OPERATIONS:
            raise ValueError("Unsupported transaction operation")
        table_name = op["TableName"]
        key = _action_key(backend, op_type, op)
        target = (str(table_name), str(dict(sorted(key.items()))))
        if target in seen:
            raise MultipleTransactionsException()
        seen.add(target)
        journal.remember(backend, table_name, key)
        failure = _condition_failure(op, backend.get_item(table_name, key))
        if failure is not None:
            raise failure
        _write(backend, op_type, op, key)
        return (None, None, None)
    except (MultipleTransactionsException, MockValidationException):
        raise
    except ConditionalCheckFailed as exc:
        # A failure of the check above carries the ALL_OLD item; one raised by the write itself has none.
        return ("ConditionalCheckFailed", str(exc.message), getattr(exc, "clp_item", None))
    except Exception as exc:
        return (type(exc).__name__, str(exc), None)


def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    """moto's ``DynamoDBBackend.transact_write_items`` with a journal of the touched items instead of table copies."""
    if len(transact_items) > _MAX_TRANSACTION_ACTIONS:
        raise TooManyTransactionsException()
    journal = TransactionJournal()
    seen: set[tuple[str, str]] = set()
    try:
        reasons = [_apply_action(self, action, seen, journal) for action in transact_items]
    except BaseException:
        journal.rollback()
        raise
    if any(code is not None for code, _, _ in reasons):
        journal.rollback()
        raise TransactionCanceledException(reasons)


# -- SQS: no walk of the whole queue per message ----------------------------------------------------------------

_sending = threading.local()  # depth of send_message calls on this thread: the counts are not read there


def _now() -> float:
    clock: Any = sqs  # looked up per call: localrun/moto_time.py puts these names on its virtual clock
    return float(clock.unix_time())


def _now_millis() -> float:
    clock: Any = sqs
    return float(clock.unix_time_millis())


def _counting() -> bool:
    return not getattr(_sending, "depth", 0)


class DeliverableMessages:
    """``Queue.messages``: the queue's visible, undelayed messages, found lazily from the head.

    moto builds this list over the whole queue (two clock reads per message) each time it is read, and
    ReceiveMessage then keeps the first few. Iterating the view walks the live list only as far as the reader
    goes; truth stops at the first deliverable message; ``len`` counts them all. The clock is read once.
    """

    __slots__ = ("_messages", "_now")

    def __init__(self, messages: list[Any], now: float) -> None:
        self._messages = messages
        self._now = now

    def __iter__(self) -> Iterator[Any]:
        now = self._now
        return (m for m in self._messages if now > m.visible_at and not now < m.delayed_until)

    def __bool__(self) -> bool:
        return next(iter(self), None) is not None

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _deliverable(queue: Any) -> DeliverableMessages:
    return DeliverableMessages(queue._messages, _now_millis())


def _number_of_messages(queue: Any) -> int:
    return len(queue.messages) if _counting() else 0


def _number_of_messages_delayed(queue: Any) -> int:
    if not _counting():
        return 0
    now = _now_millis()
    return sum(1 for m in queue._messages if now < m.delayed_until)


def _number_of_messages_not_visible(queue: Any) -> int:
    if not _counting():
        return 0
    now = _now_millis()
    return sum(1 for m in queue._messages if not now > m.visible_at)


def _send_without_counting(send_message: Callable[..., Any]) -> Callable[..., Any]:
    def send(self: Any, *args: Any, **kwargs: Any) -> Any:
        # send_message reads queue.attributes for ContentBasedDeduplication alone: skip the three counts.
        _sending.depth = getattr(_sending, "depth", 0) + 1
        try:
            return send_message(self, *args, **kwargs)
        finally:
            _sending.depth -= 1

    return send


def _retention_check(self: Any, queue_name: str, message: Any) -> bool:
    retention_period = int(self.get_queue(queue_name).message_retention_period)
    return bool(retention_period + message.sent_timestamp / 1000 > _now())


def _delete_message(self: Any, receipt_handle: str) -> None:
    """``Queue.delete_message``: walk from the head to the message, remove it in place."""
    if receipt_handle in self.deleted_messages:
        return  # already deleted: accepted again, as SQS does
    messages = self._messages
    index = next((i for i, m in enumerate(messages) if m.had_receipt_handle(receipt_handle)), None)
    if index is None:
        raise ReceiptHandleIsInvalid()
    message = messages[index]
    # Receipt handles are unique (moto draws each at random), so this is the one message moto would drop.
    self.pending_messages.discard(message)
    self.deleted_messages.update(message.all_receipt_handles)
    del messages[index]


def _get_queue_attributes(self: Any, queue_name: str, attribute_names: list[str]) -> dict[str, Any]:
    """``SQSBackend.get_queue_attributes`` building ``queue.attributes`` once per call."""
    queue = self.get_queue(queue_name)
    if not attribute_names:
        return {}
    valid_names = ["All", *queue.BASE_ATTRIBUTES, *queue.FIFO_ATTRIBUTES, *queue.KMS_ATTRIBUTES]
    invalid_name = next((name for name in attribute_names if name not in valid_names), None)
    if invalid_name is not None:
        raise InvalidAttributeName(invalid_name)
    attributes: dict[str, Any] = queue.attributes
    if "All" in attribute_names:
        return attributes
    return {name: attributes[name] for name in attribute_names if attributes.get(name) is not None}


# -- installation ------------------------------------------------------------------------------------------------

_Patch = tuple[Any, str, Any]  # (owner, attribute, replacement)


def _patches() -> list[_Patch]:
    return [
        (ddb.DynamoDBBackend, "transact_write_items", transact_write_items),
        (sqs.Queue, "messages", property(_deliverable)),
        (sqs.Queue, "approximate_number_of_messages", property(_number_of_messages)),
        (sqs.Queue, "approximate_number_of_messages_delayed", property(_number_of_messages_delayed)),
        (sqs.Queue, "approximate_number_of_messages_not_visible", property(_number_of_messages_not_visible)),
        (sqs.Queue, "delete_message", _delete_message),
        (sqs.SQSBackend, "send_message", _send_without_counting(sqs.SQSBackend.__dict__["send_message"])),
        (sqs.SQSBackend, "is_message_valid_based_on_retention_period", _retention_check),
        (sqs.SQSBackend, "get_queue_attributes", _get_queue_attributes),
    ]


_lock = threading.Lock()
_originals: list[_Patch] = []  # what the installed patches replaced; empty while not installed
_state = {"blocks": 0, "global": False}


def _install_locked() -> None:
    if _originals:
        return
    for owner, name, replacement in _patches():
        _originals.append((owner, name, owner.__dict__[name]))
        setattr(owner, name, replacement)


def _remove_locked() -> None:
    while _originals:
        owner, name, original = _originals.pop()
        setattr(owner, name, original)


def install_linear_moto() -> None:
    """Install the adaptations for the rest of the process (idempotent, thread-safe; offline only)."""
    with _lock:
        _install_locked()
        _state["global"] = True


@contextmanager
def linear_moto() -> Iterator[None]:
    """The adaptations for the length of the block (nests; a process-wide install outlives it)."""
    with _lock:
        _install_locked()
        _state["blocks"] += 1
    try:
        yield
    finally:
        with _lock:
            _state["blocks"] -= 1
            if not _state["blocks"] and not _state["global"]:
                _remove_locked()


def installed() -> bool:
    """Whether the adaptations are in place."""
    with _lock:
        return bool(_originals)


def moto_original(owner: Any, name: str) -> Any:
    """moto's own ``owner.name`` (a function or property), installed or not: for comparisons and benchmarks."""
    with _lock:
        for patched_owner, patched_name, original in _originals:
            if patched_owner is owner and patched_name == name:
                return original
    return owner.__dict__[name]


__all__ = [
    "DeliverableMessages",
    "TransactionJournal",
    "install_linear_moto",
    "installed",
    "linear_moto",
    "moto_original",
    "transact_write_items",
]
