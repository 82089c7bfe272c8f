"""localrun/moto_linear.py: moto's answers unchanged, its work proportional to what a request touches."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from unittest.mock import patch

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.sqs.models import sqs_backends

from lambdas.detect.adapters import DynamoResultsRepository
from lambdas.detect.mapping import event_detail, object_pk, result_sk
from lambdas.detect.models import DetectionResult, ImageRef, Label
from lambdas.detect.ports import PublishClaim
from localrun import moto_linear
from localrun.moto_linear import installed, linear_moto, moto_original
from localrun.resources import create_results_table
from tests.support import ids

TABLE = ids.TABLE
QUEUE = "clp-linear-test"


@dataclass
class World:
    ddb: Any
    sqs: Any
    queue_url: str

    @property
    def ddb_backend(self) -> Any:
        return dynamodb_backends[ids.ACCOUNT][ids.REGION]

    def put(self, pk: str, sk: str, **attributes: Any) -> None:
        self.ddb.put_item(TableName=TABLE, Item={"pk": {"S": pk}, "sk": {"S": sk}, **attributes})

    def items(self) -> list[dict[str, Any]]:
        return sorted(self.ddb.scan(TableName=TABLE)["Items"], key=lambda i: (i["pk"]["S"], i["sk"]["S"]))

    def attributes(self, *names: str) -> dict[str, int]:
        found = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=list(names))["Attributes"]
        return {name: int(value) for name, value in found.items() if name.startswith("Approximate")}


@pytest.fixture
def world() -> Iterator[World]:
    with linear_moto(), mock_aws():
        ddb = boto3.client("dynamodb", region_name=ids.REGION)
        create_results_table(ddb, TABLE)  # the real shape: pk + sk, two label GSIs
        sqs = boto3.client("sqs", region_name=ids.REGION)
        url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
        yield World(ddb, sqs, url)


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _cancelled(world: World, actions: list[dict[str, Any]]) -> ClientError:
    with pytest.raises(ClientError) as raised:
        world.ddb.transact_write_items(TransactItems=actions)
    return raised.value


# -- DynamoDB: TransactWriteItems --------------------------------------------------------------------------------


def test_a_transaction_whose_condition_fails_leaves_every_item_as_it_was(world: World) -> None:
    # Given a result, a label item, an item to delete and one a condition will check
    world.put("obj", "result", status={"S": "DETECTED"})
    world.put("obj", "label#ripe", confidence={"N": "97.1"})
    world.put("old", "result", status={"S": "FAILED"})
    world.put("checked", "result", version={"N": "1"})
    before = world.items()
    partitions = set(world.ddb_backend.get_table(TABLE).items)

    # When one transaction creates an item, updates one, deletes one, puts the result again on the condition
    # that it does not exist, and checks a version that is not there
    error = _cancelled(
        world,
        [
            {"Put": {"TableName": TABLE, "Item": {**_key("new", "result"), "status": {"S": "DETECTED"}}}},
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": _key("obj", "label#ripe"),
                    "UpdateExpression": "SET confidence = :c",
                    "ExpressionAttributeValues": {":c": {"N": "12.5"}},
                }
            },
            {"Delete": {"TableName": TABLE, "Key": _key("old", "result")}},
            {
                "Put": {
                    "TableName": TABLE,
                    "Item": {**_key("obj", "result"), "status": {"S": "FAILED"}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "ConditionCheck": {
                    "TableName": TABLE,
                    "Key": _key("checked", "result"),
                    "ConditionExpression": "version = :v",
                    "ExpressionAttributeValues": {":v": {"N": "2"}},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
        ],
    )

    # Then the transaction is cancelled with one reason per action, in order, the checked item returned
    assert error.response["Error"]["Code"] == "TransactionCanceledException"
    failed = {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}
    assert error.response["CancellationReasons"] == [
        {"Code": "None"},
        {"Code": "None"},
        {"Code": "None"},
        failed,
        {**failed, "Item": {**_key("checked", "result"), "version": {"N": "1"}}},
    ]
    # ... and every item is as it was: none created, none changed, none deleted, no partition left behind
    assert world.items() == before
    assert set(world.ddb_backend.get_table(TABLE).items) == partitions


def test_a_transaction_whose_conditions_hold_writes_every_action(world: World) -> None:
    # Given a label item, an item to delete and one a condition checks
    world.put("obj", "label#ripe", confidence={"N": "97.1"})
    world.put("old", "result")
    world.put("checked", "result", version={"N": "1"})

    # When a transaction puts a new result on condition, updates, deletes and checks, all conditions holding
    world.ddb.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": TABLE,
                    "Item": {**_key("obj", "result"), "status": {"S": "DETECTED"}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": _key("obj", "label#ripe"),
                    "UpdateExpression": "SET confidence = :c",
                    "ExpressionAttributeValues": {":c": {"N": "12.5"}},
                }
            },
            {"Delete": {"TableName": TABLE, "Key": _key("old", "result")}},
            {
                "ConditionCheck": {
                    "TableName": TABLE,
                    "Key": _key("checked", "result"),
                    "ConditionExpression": "version = :v",
                    "ExpressionAttributeValues": {":v": {"N": "1"}},
                }
            },
        ]
    )

    # Then every write landed
    assert world.items() == [
        {**_key("checked", "result"), "version": {"N": "1"}},
        {**_key("obj", "label#ripe"), "confidence": {"N": "12.5"}},
        {**_key("obj", "result"), "status": {"S": "DETECTED"}},
    ]


def test_a_transaction_naming_an_item_twice_is_rejected_without_writing_the_actions_before(world: World) -> None:
    # Given an empty table
    # When a transaction writes one item, then puts and checks another one twice
    error = _cancelled(
        world,
        [
            {"Put": {"TableName": TABLE, "Item": _key("first", "result")}},
            {"Put": {"TableName": TABLE, "Item": _key("twice", "result")}},
            {
                "ConditionCheck": {
                    "TableName": TABLE,
                    "Key": _key("twice", "result"),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
        ],
    )

    # Then it is a validation error, and the first two puts were rolled back
    assert error.response["Error"]["Code"] == "ValidationException"
    assert "multiple operations on one item" in error.response["Error"]["Message"]
    assert world.items() == []


def test_a_cancelled_transaction_leaves_no_stream_record(world: World) -> None:
    # Given a table with a stream, holding one item
    world.ddb.create_table(
        TableName="streamed",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    world.ddb.put_item(TableName="streamed", Item={"pk": {"S": "kept"}})

    # When a transaction writes a new item, then fails a condition, and another one succeeds
    _cancelled(
        world,
        [
            {"Put": {"TableName": "streamed", "Item": {"pk": {"S": "rolled-back"}}}},
            {
                "ConditionCheck": {
                    "TableName": "streamed",
                    "Key": {"pk": {"S": "kept"}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ],
    )
    world.ddb.transact_write_items(TransactItems=[{"Put": {"TableName": "streamed", "Item": {"pk": {"S": "new"}}}}])

    # Then the stream holds the two writes that happened, not the cancelled one
    records = world.ddb_backend.get_table("streamed").stream_shard.items
    assert [(r.record["eventName"], r.record["dynamodb"]["Keys"]["pk"]["S"]) for r in records] == [
        ("INSERT", "kept"),
        ("INSERT", "new"),
    ]


def _result(key: str) -> DetectionResult:
    image = ImageRef(bucket=ids.BUCKET, key=key, version_id="v1", uploaded_at=datetime(2026, 1, 1, tzinfo=UTC))
    labels = (Label(name="ripe", confidence=97.1), Label(name="apple", confidence=88.4))
    return DetectionResult(
        image=image,
        model_name=ids.MODEL,
        project_version_arn=ids.version_arn(),
        status="DETECTED",
        labels=labels,
        detected_at=datetime(2026, 1, 1, 0, 1, tzinfo=UTC),
    )


def test_the_detect_repository_writes_a_result_once_and_finds_the_second_write_already_stored(world: World) -> None:
    # Given the detect function's results repository and a result with two labels
    repository = DynamoResultsRepository(world.ddb, TABLE)
    result = _result("produce/a.jpg")

    # When it is written twice (the second time by a duplicate delivery with another claim)
    detail = event_detail(result)
    first = repository.put(result, detail, PublishClaim(token="one", expires_at_ms=1))
    stored = world.items()
    second = repository.put(result, detail, PublishClaim(token="two", expires_at_ms=2))

    # Then the first wrote the result and its two label items, the second was refused and changed nothing
    assert (first, second) == (True, False)
    assert len(stored) == 3
    result_item = next(i for i in stored if i["sk"]["S"] == result_sk(ids.version_arn(), "v1"))
    assert result_item["pk"]["S"] == object_pk(ids.BUCKET, "produce/a.jpg")
    assert result_item["publish_claim"] == {"S": "one"}
    assert world.items() == stored


def _deepcopies_of_one_transaction(world: World, rows: int, transact: Callable[[Any, list[Any]], None]) -> int:
    """Calls of copy.deepcopy (each object copied is one) while ``transact`` writes one result to a table of
    ``rows`` items."""
    backend = world.ddb_backend
    for n in range(rows):
        backend.put_item(TABLE, {**_key(f"filler-{n}", "result"), "status": {"S": "DETECTED"}})
    actions = [
        {
            "Put": {
                "TableName": TABLE,
                "Item": {**_key("obj", "result"), "status": {"S": "DETECTED"}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
        {"Put": {"TableName": TABLE, "Item": {**_key("obj", "label#ripe"), "confidence": {"N": "97.1"}}}},
    ]
    calls = 0
    deepcopy = copy.deepcopy

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return deepcopy(*args, **kwargs)

    with patch.object(copy, "deepcopy", counted):  # copy's own recursion goes through the module name too
        transact(backend, actions)
    for item in world.items():  # the next measurement starts from an empty table
        backend.delete_item(TABLE, _key(item["pk"]["S"], item["sk"]["S"]))
    return calls


def test_a_transaction_copies_the_items_it_touches_not_the_table(world: World) -> None:
    # Given moto's own TransactWriteItems and the adapted one
    original = moto_original(DynamoDBBackend, "transact_write_items")
    assert DynamoDBBackend.transact_write_items is moto_linear.transact_write_items

    # When each writes a result and its label to a table of 10 items, then to one of 300
    adapted = [_deepcopies_of_one_transaction(world, rows, moto_linear.transact_write_items) for rows in (10, 300)]
    moto = [_deepcopies_of_one_transaction(world, rows, original) for rows in (10, 300)]

    # Then moto's copies grow with the table (the instrument sees a table copy) and the adapted ones do not
    assert moto[1] - moto[0] >= 290
    assert adapted[0] == adapted[1]
    assert 0 < adapted[0] < 100


# -- SQS ---------------------------------------------------------------------------------------------------------


def test_queue_attributes_count_visible_in_flight_and_delayed_messages(world: World) -> None:
    # Given 5 messages sent, 2 more delayed by a minute, and 3 received (in flight for a minute)
    for n in range(5):
        world.sqs.send_message(QueueUrl=world.queue_url, MessageBody=f"m{n}")
    world.sqs.send_message_batch(
        QueueUrl=world.queue_url,
        Entries=[{"Id": f"d{n}", "MessageBody": f"d{n}", "DelaySeconds": 60} for n in range(2)],
    )
    received = world.sqs.receive_message(QueueUrl=world.queue_url, MaxNumberOfMessages=3, VisibilityTimeout=60)

    # When the counts are asked for, by name and with All
    named = world.attributes(
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"
    )
    everything = world.attributes("All")

    # Then both say 2 visible, 3 in flight, 2 delayed
    assert [m["Body"] for m in received["Messages"]] == ["m0", "m1", "m2"]
    expected = {
        "ApproximateNumberOfMessages": 2,
        "ApproximateNumberOfMessagesNotVisible": 3,
        "ApproximateNumberOfMessagesDelayed": 2,
    }
    assert named == expected
    assert everything == expected
    # ... and only the names asked for are answered
    assert world.attributes("ApproximateNumberOfMessagesDelayed") == {"ApproximateNumberOfMessagesDelayed": 2}


def test_receive_delete_and_visibility_behave_as_moto_does(world: World) -> None:
    # Given 25 messages
    world.sqs.send_message_batch(
        QueueUrl=world.queue_url, Entries=[{"Id": f"a{n}", "MessageBody": f"m{n:02d}"} for n in range(10)]
    )
    for n in range(10, 25):
        world.sqs.send_message(QueueUrl=world.queue_url, MessageBody=f"m{n:02d}")

    # When 10 are received, the last 9 deleted with one unknown handle among them, the first made visible again
    first = world.sqs.receive_message(QueueUrl=world.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60)
    messages = first["Messages"]
    entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages[1:])]
    deleted = world.sqs.delete_message_batch(
        QueueUrl=world.queue_url, Entries=[*entries, {"Id": "unknown", "ReceiptHandle": "not-a-handle"}]
    )
    again = world.sqs.delete_message_batch(QueueUrl=world.queue_url, Entries=entries[:1])
    world.sqs.change_message_visibility(
        QueueUrl=world.queue_url, ReceiptHandle=messages[0]["ReceiptHandle"], VisibilityTimeout=0
    )
    rest = []
    while batch := world.sqs.receive_message(QueueUrl=world.queue_url, MaxNumberOfMessages=10).get("Messages"):
        rest += batch

    # Then the first receive took the oldest 10; the unknown handle failed alone; a deleted handle is accepted
    # again; and what is left is the first message and the 15 never received, each once
    assert [m["Body"] for m in messages] == [f"m{n:02d}" for n in range(10)]
    assert sorted(s["Id"] for s in deleted["Successful"]) == sorted(e["Id"] for e in entries)
    assert [(f["Id"], f["Code"]) for f in deleted["Failed"]] == [("unknown", "ReceiptHandleIsInvalid")]
    assert [s["Id"] for s in again["Successful"]] == ["0"]
    assert sorted(m["Body"] for m in rest) == ["m00", *(f"m{n:02d}" for n in range(10, 25))]


class _CountingList(list[Any]):
    """A queue's message list that counts the messages any walk over it visits."""

    visits = 0

    def __iter__(self) -> Iterator[Any]:
        for message in super().__iter__():
            _CountingList.visits += 1
            yield message


def _visits_to_send_receive_and_delete(world: World, waiting: int) -> int:
    """Messages visited while one message is sent and 10 are received and deleted, ``waiting`` on the queue."""
    name = f"{QUEUE}-{waiting}"
    url = world.sqs.create_queue(QueueName=name)["QueueUrl"]
    backend = sqs_backends[ids.ACCOUNT][ids.REGION]
    for n in range(waiting):
        backend.send_message(name, f"waiting-{n}")
    queue = backend.queues[name]
    queue._messages = _CountingList(queue._messages)
    _CountingList.visits = 0
    world.sqs.send_message(QueueUrl=url, MessageBody="one more")
    received = world.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60)
    world.sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received["Messages"])],
    )
    assert len(received["Messages"]) == 10
    return _CountingList.visits


def test_sending_receiving_and_deleting_visit_the_messages_they_touch_not_the_queue(world: World) -> None:
    # Given a queue holding 20 messages, then one holding 2,000
    # When one message is sent and 10 are received and deleted on each
    visits = [_visits_to_send_receive_and_delete(world, waiting) for waiting in (20, 2000)]

    # Then the messages visited do not grow with the queue (moto's own code visits every message several
    # times per message sent, received or deleted)
    assert visits[0] == visits[1]
    assert 0 < visits[0] <= 10 + 10 * 10


# -- installation ------------------------------------------------------------------------------------------------


def test_blocks_nest_and_restore_moto_whatever_the_threads() -> None:
    # Given the adaptations' state before (another test may have installed them for the whole process)
    before = installed()
    transact_before = DynamoDBBackend.__dict__["transact_write_items"]

    # When 8 threads each enter and leave nested blocks 50 times
    def enter_and_leave() -> None:
        for _ in range(50):
            with linear_moto(), linear_moto():
                assert DynamoDBBackend.transact_write_items is moto_linear.transact_write_items

    threads = [threading.Thread(target=enter_and_leave) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then moto is as it was: installed or not, with the same functions
    assert installed() is before
    assert DynamoDBBackend.__dict__["transact_write_items"] is transact_before
    with linear_moto():
        assert installed()
        assert moto_original(DynamoDBBackend, "transact_write_items") is not moto_linear.transact_write_items
