"""The offline runtime's moto adaptations that are not about the controller definition."""

from __future__ import annotations

import json
import os
import threading
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core.responses import BaseResponse
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from localrun import moto_adapt
from localrun.moto_adapt import (
    MOTO_CONFIG,
    asl_cache_dir,
    cache_parsed_definitions,
    seed_moto_ids,
    serialize_moto_requests,
)
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


def _echo_definition() -> str:
    return json.dumps(
        {
            "Comment": f"disk-cache-{uuid.uuid4()}",
            "StartAt": "Echo",
            "States": {"Echo": {"Type": "Pass", "Parameters": {"n.$": "$.n"}, "End": True}},
        }
    )


def _run_echo(definition: str, n: int) -> Any:
    with mock_aws(config=MOTO_CONFIG):
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        arn = sfn.create_state_machine(name="m", definition=definition, roleArn="arn:aws:iam::123456789012:role/r")[
            "stateMachineArn"
        ]
        execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"n": n}))["executionArn"]
        return json.loads(wait_for_execution(sfn, execution, 10)["output"])


def test_a_parsed_definition_is_kept_on_disk_for_the_next_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given the parse cache with its directory under a fresh XDG cache home, and a definition parsed once
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache_parsed_definitions()
    definition = _echo_definition()
    parsed = _counting_parses(monkeypatch)
    assert _run_echo(definition, 1) == {"n": 1}
    assert parsed == [definition]
    [kept] = list(asl_cache_dir().glob("*.pickle"))
    assert asl_cache_dir() == tmp_path / "custom-labels-pipeline" / "asl"

    # When the process's own memory of it is gone (as in a new process) and the definition runs again
    moto_adapt._parsed_program.cache_clear()
    # Then it is not parsed again, and the execution still computes from its own input
    assert _run_echo(definition, 7) == {"n": 7}
    assert parsed == [definition]

    # And a damaged cache file is parsed again and replaced
    kept.write_bytes(b"not a pickle")
    moto_adapt._parsed_program.cache_clear()
    assert _run_echo(definition, 3) == {"n": 3}
    assert parsed == [definition, definition]
    assert kept.read_bytes() != b"not a pickle"


def test_an_unwritable_cache_directory_only_costs_the_parse(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Given a cache home that is a file, so nothing can be written under it
    blocker = tmp_path / "cache"
    blocker.write_text("a file, not a directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    cache_parsed_definitions()
    definition = _echo_definition()
    parsed = _counting_parses(monkeypatch)

    # When a definition runs twice in this process
    outputs = [_run_echo(definition, n) for n in (1, 2)]

    # Then both executions ran, the definition was parsed once (kept in memory) and nothing was written
    assert outputs == [{"n": 1}, {"n": 2}]
    assert parsed == [definition]
    assert blocker.read_text() == "a file, not a directory"


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


def _run_jsonata(definition: dict[str, Any], inputs: list[Any]) -> list[Any]:
    install_moto_jsonata()
    with mock_aws(config=MOTO_CONFIG):
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        arn = sfn.create_state_machine(
            name="j", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/r"
        )["stateMachineArn"]
        described = [
            wait_for_execution(
                sfn, sfn.start_execution(stateMachineArn=arn, name=f"e{n}", input=json.dumps(i))["executionArn"], 10
            )
            for n, i in enumerate(inputs)
        ]
    return [json.loads(d["output"]) if d["status"] == "SUCCEEDED" else d["error"] for d in described]


def test_jsonata_expressions_are_parsed_once_whatever_the_values(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a JSONata state machine reading its input and a variable (moto would write both into the text)
    import jsonata

    parsed: list[str] = []
    init = jsonata.Jsonata.__init__

    def counting(self: Any, expression: str, *args: Any, **kwargs: Any) -> None:
        parsed.append(expression)
        init(self, expression, *args, **kwargs)

    monkeypatch.setattr(jsonata.Jsonata, "__init__", counting)
    marker = uuid.uuid4().hex  # a text no earlier test parsed on this thread
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Keep",
        "States": {
            "Keep": {"Type": "Pass", "Assign": {"seen": "{% $states.input.n %}"}, "Next": "Echo"},
            "Echo": {"Type": "Pass", "Output": f"{{% {{'{marker}': $seen * 2}} %}}", "End": True},
        },
    }

    # When it runs with five different inputs
    outputs = _run_jsonata(definition, [{"n": n} for n in range(5)])

    # Then each execution computed from its own values, and the expression was parsed once (one thread per
    # execution: once per execution thread at most, never once per value)
    assert outputs == [{marker: 2 * n} for n in range(5)]
    assert 1 <= sum(marker in text for text in parsed) <= 5
    assert not any(f"{marker}" in text and ":=" in text for text in parsed)  # no values written into the text


def test_jsonata_bindings_keep_values_moto_text_could_not(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given values moto would have written into the expression text: a string with a quote and a backslash,
    # a null variable, a nested null
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Keep",
        "States": {
            "Keep": {
                "Type": "Pass",
                "Assign": {"text": "{% $states.input.text %}", "none": None, "account": "{% $states.input.account %}"},
                "Next": "Echo",
            },
            "Echo": {
                "Type": "Pass",
                "Output": "{% {'text': $text, 'none': $none, 'none_type': $type($none), 'error': $account.error} %}",
                "End": True,
            },
        },
    }

    # When the state machine runs
    [output] = _run_jsonata(definition, [{"text": 'say "hi" \\ bye', "account": {"error": None}}])

    # Then every value arrives as it was (JSON null stays null, not undefined: its key is kept), as AWS's
    # reference engine evaluates it (tests/jsonata/test_engines_agree.py replays the controller's evaluations)
    assert output == {"text": 'say "hi" \\ bye', "none": None, "none_type": "null", "error": None}


def test_the_disk_cache_keeps_the_most_recently_used_definitions(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given a disk cache of at most three definitions, and three definitions kept in it, the first used again
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(moto_adapt, "ASL_CACHE_ENTRIES", 3)
    cache_parsed_definitions()
    first, second, third, fourth = (_echo_definition() for _ in range(4))
    for definition in (first, second, third):
        _run_echo(definition, 1)
    moto_adapt._parsed_program.cache_clear()
    for age, definition in enumerate((first, second, third)):  # the first the oldest, whatever the clock's resolution
        os.utime(moto_adapt._cache_file(definition), (1_000_000 + age, 1_000_000 + age))
    _run_echo(first, 1)  # read from disk: now the most recently used

    # When a fourth definition is parsed
    _run_echo(fourth, 1)

    # Then three files remain: the first (used again), the third and the fourth; the second was the oldest
    remaining = {path.name for path in asl_cache_dir().glob("*.pickle")}
    assert len(remaining) == 3
    assert moto_adapt._cache_file(first).name in remaining
    assert moto_adapt._cache_file(fourth).name in remaining
    assert moto_adapt._cache_file(second).name not in remaining
