"""The offline runtime's moto adaptations that are not about the controller definition."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core.responses import BaseResponse
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from localrun.moto_adapt import MOTO_CONFIG, cache_parsed_definitions, seed_moto_ids, serialize_moto_requests
from localrun.moto_jsonata import install_moto_jsonata
from localrun.world import placeholder_zip, trust_policy
from tests.support.backfill import wait_for_execution


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


def _counting_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    parse = AmazonStateLanguageParser.parse
    parsed: list[str] = []

    def counting(definition: str) -> Any:
        parsed.append(definition)
        return parse(definition)

    monkeypatch.setattr(AmazonStateLanguageParser, "parse", staticmethod(counting))
    return parsed


def test_a_definition_is_parsed_once_per_process_and_every_execution_runs_its_own_copy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the parse cache, and a definition text this process has not parsed yet
    cache_parsed_definitions()
    cache_parsed_definitions()  # idempotent
    parsed = _counting_parses(monkeypatch)
    definition = json.dumps(
        {
            "Comment": f"parse-cache-{uuid.uuid4()}",
            "QueryLanguage": "JSONata",
            "StartAt": "Echo",
            "States": {"Echo": {"Type": "Pass", "Output": "{% {'n': $states.input.n + 1} %}", "End": True}},
        }
    )
    install_moto_jsonata()
    with mock_aws(config=MOTO_CONFIG):
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        role = "arn:aws:iam::123456789012:role/r"
        # When two state machines are created with it and each runs twice
        arns = [
            sfn.create_state_machine(name=f"m{i}", definition=definition, roleArn=role)["stateMachineArn"]
            for i in (1, 2)
        ]
        outputs = [
            json.loads(
                wait_for_execution(
                    sfn,
                    sfn.start_execution(stateMachineArn=arn, name=f"n{n}", input=json.dumps({"n": n}))["executionArn"],
                    10,
                )["output"]
            )
            for arn in arns
            for n in (1, 10)
        ]

        # Then it was parsed once, and each execution computed from its own input
        assert parsed == [definition]
        assert outputs == [{"n": 2}, {"n": 11}, {"n": 2}, {"n": 11}]

        # And a definition that does not parse is still refused the way moto refuses it
        with pytest.raises(ClientError) as refused:
            sfn.create_state_machine(name="bad", definition='{"StartAt": "X", "States": {', roleArn=role)
        # (moto 5.2 sends its InvalidDefinition with an empty code and the parser's message)
        assert refused.value.response["Error"]["Message"].startswith("ASLParserException")


def test_seeded_moto_ids_repeat_in_every_world() -> None:
    # Given two worlds built one after the other, each after seeding moto's ids
    uuids = []
    for _ in range(2):
        seed_moto_ids()
        with mock_aws(config=MOTO_CONFIG):
            sqs = boto3.client("sqs", region_name="us-east-1")
            lam = boto3.client("lambda", region_name="us-east-1")
            queue_arn = sqs.get_queue_attributes(
                QueueUrl=sqs.create_queue(QueueName="q")["QueueUrl"], AttributeNames=["QueueArn"]
            )["Attributes"]["QueueArn"]
            role = boto3.client("iam", region_name="us-east-1").create_role(
                RoleName="r", AssumeRolePolicyDocument=trust_policy("lambda.amazonaws.com")
            )["Role"]["Arn"]
            lam.create_function(
                FunctionName="f",
                Runtime="python3.13",
                Role=role,
                Handler="index.handler",
                Code={"ZipFile": placeholder_zip()},
            )
            # When each creates an event source mapping
            uuids.append(lam.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName="f")["UUID"])

    # Then both got the same UUID (so a controller definition naming it is the same text)
    assert uuids[0] == uuids[1]
