"""AWS resources of the pipeline, created in moto from the same typed config the CDK app reads.

Keep in step with ``infra/constructs`` (tests/infra compares the key schemas with the template).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infra import constants

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def results_table_definition(name: str) -> dict[str, Any]:
    """CreateTable arguments equivalent to ``infra.constructs.results.ResultsTable``."""
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": constants.RESULTS_PK, "AttributeType": "S"},
            {"AttributeName": constants.RESULTS_SK, "AttributeType": "S"},
            {"AttributeName": constants.GSI_LABEL_PK, "AttributeType": "S"},
            {"AttributeName": constants.GSI_CONFIDENCE_SK, "AttributeType": "N"},
            {"AttributeName": constants.GSI_TIME_SK, "AttributeType": "S"},
            {"AttributeName": constants.REVIEW_PK, "AttributeType": "S"},
            {"AttributeName": constants.REVIEW_SK, "AttributeType": "S"},
        ],
        "KeySchema": [
            {"AttributeName": constants.RESULTS_PK, "KeyType": "HASH"},
            {"AttributeName": constants.RESULTS_SK, "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": constants.GSI_LABEL_BY_CONFIDENCE,
                "KeySchema": [
                    {"AttributeName": constants.GSI_LABEL_PK, "KeyType": "HASH"},
                    {"AttributeName": constants.GSI_CONFIDENCE_SK, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": constants.GSI_LABEL_BY_TIME,
                "KeySchema": [
                    {"AttributeName": constants.GSI_LABEL_PK, "KeyType": "HASH"},
                    {"AttributeName": constants.GSI_TIME_SK, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": constants.BY_REVIEW_INDEX,
                "KeySchema": [
                    {"AttributeName": constants.REVIEW_PK, "KeyType": "HASH"},
                    {"AttributeName": constants.REVIEW_SK, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
        ],
    }


def create_results_table(client: DynamoDBClient, name: str) -> None:
    """Create the results table (for moto) and wait until it is active."""
    client.create_table(**results_table_definition(name))
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0, "MaxAttempts": 5})


def create_control_table(client: DynamoDBClient, name: str) -> None:
    """Create the controller's lock and session-ledger table (``infra.constructs.control_table``)."""
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0, "MaxAttempts": 5})
