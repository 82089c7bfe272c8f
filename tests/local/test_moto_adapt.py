"""The offline runtime's moto adaptations that are not about the controller definition."""

from __future__ import annotations

import threading

import boto3
from moto import mock_aws
from moto.core.responses import BaseResponse

from localrun.moto_adapt import serialize_moto_requests


def test_serialized_moto_survives_concurrent_transactions_on_one_table() -> None:
    # Given moto's request dispatch serialized (without it, this run fails about 14 of 160 transactions
    # with "dictionary changed size during iteration": TransactWriteItems deep-copies the whole table)
    serialize_moto_requests()
    serialize_moto_requests()  # idempotent: wrapped once
    assert getattr(BaseResponse._dispatch, "_clp_serialized", False)
    assert getattr(BaseResponse._dispatch.__wrapped__, "_clp_serialized", False) is False  # type: ignore[attr-defined]

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for index in range(300):
            ddb.put_item(TableName="t", Item={"pk": {"S": f"seed-{index}"}})
        errors: list[str] = []
        clients = [boto3.client("dynamodb", region_name="us-east-1") for _ in range(4)]

        def write(worker: int) -> None:
            for index in range(40):
                try:
                    clients[worker].transact_write_items(
                        TransactItems=[{"Put": {"TableName": "t", "Item": {"pk": {"S": f"{worker}-{index}"}}}}]
                    )
                except Exception as exc:  # any failure is the finding
                    errors.append(f"{type(exc).__name__}: {exc}")

        # When four threads write transactions at once
        threads = [threading.Thread(target=write, args=(worker,)) for worker in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        # Then every transaction lands
        assert errors == []
        assert ddb.scan(TableName="t", Select="COUNT")["Count"] == 300 + 160
