"""Every argument key and result field of the controller and backfill Tasks is a name AWS accepts.

moto matched ``UUID`` where AWS wants ``Uuid`` and every moto test passed; this check compares the
definitions with botocore's service models under Step Functions' naming rules (sources in
tests/infra/sdk_field_names.py), so the class of bug cannot come back silently.
"""

from __future__ import annotations

import json

import pytest

from infra.statemachines import backfill_definition, controller_definition
from tests.infra.sdk_field_names import (
    UnknownIntegrationError,
    check_definition,
    expression_skeletons,
    integration_for,
    sfn_optimized_name,
    sfn_sdk_name,
)


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        ("UUID", "Uuid"),
        ("SNSTopicArn", "SnsTopicArn"),
        ("NULL", "Nul"),
        ("BOOL", "Bool"),
        ("SS", "Ss"),
        ("ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesNotVisible"),
        ("ProjectVersionArn", "ProjectVersionArn"),
        ("stateMachineArn", "StateMachineArn"),
        ("Equals", "EqualsValue"),
        ("ETag", "ETag"),
    ],
)
def test_aws_sdk_names_follow_the_java_sdk_v2(member: str, expected: str) -> None:
    # Given a botocore member name / When it is spelled for an aws-sdk task / Then it is Java v2's name
    assert sfn_sdk_name(member) == expected


@pytest.mark.parametrize(
    ("member", "expected"), [("BOOL", "BOOL"), ("NULL", "NULL"), ("TableName", "TableName"), ("input", "Input")]
)
def test_optimized_integrations_keep_the_api_names(member: str, expected: str) -> None:
    # Given an API member / When an optimized integration names it / Then only the first letter may change
    assert sfn_optimized_name(member) == expected


def test_resources_map_to_botocore_operations_including_service_aliases() -> None:
    # Given aws-sdk and optimized resource ARNs / When mapped / Then each names the botocore operation
    sdk = integration_for("arn:aws:states:::aws-sdk:sfn:startExecution")
    optimized = integration_for("arn:aws:states:::dynamodb:putItem")
    reader = integration_for("arn:aws:states:::s3:listObjectsV2")

    assert (sdk.kind, sdk.operation.service_model.service_name, sdk.operation.name) == (
        "aws-sdk",
        "stepfunctions",
        "StartExecution",
    )
    assert (optimized.kind, optimized.operation.name) == ("optimized", "PutItem")
    assert reader.operation.name == "ListObjectsV2"
    with pytest.raises(UnknownIntegrationError, match="no operation"):
        integration_for("arn:aws:states:::aws-sdk:lambda:updateEventSourceMappings")


@pytest.mark.parametrize(
    "definition",
    [
        pytest.param(lambda: controller_definition(3600), id="controller"),
        pytest.param(backfill_definition, id="backfill"),
    ],
)
def test_definitions_use_only_names_aws_accepts(definition: object) -> None:
    # Given the real definition file (whatever states it has today)
    text = definition()  # type: ignore[operator]

    # When every Task, ItemReader and ResultWriter is checked against botocore
    checker = check_definition(text)

    # Then nothing is misnamed, and the check really looked at keys and result reads
    assert not checker.findings, "\n".join(str(finding) for finding in checker.findings)
    assert checker.checked_keys >= 10
    assert checker.checked_reads >= 5


def test_uuid_in_update_event_source_mapping_is_reported_with_the_expected_spelling() -> None:
    # Given the controller with the bug that moto accepted (UUID instead of Uuid)
    text = controller_definition(3600)
    assert '"Uuid"' in text
    buggy = text.replace('"Uuid"', '"UUID"')

    # When it is checked
    messages = [str(finding) for finding in check_definition(buggy).findings]

    # Then both mapping updates are reported, naming the state, the key and the expected spelling
    assert messages == [
        "state 'EnableMapping': Arguments key 'UUID' is not a member of UpdateEventSourceMappingRequest "
        "(expected 'Uuid')",
        "state 'DisableMapping': Arguments key 'UUID' is not a member of UpdateEventSourceMappingRequest "
        "(expected 'Uuid')",
    ]


def test_keys_built_by_a_whole_jsonata_arguments_expression_are_checked() -> None:
    # Given StartModel's Arguments, a $merge of object literals, with one key in the API's camelCase
    text = controller_definition(3600)
    assert "'MaxInferenceUnits'" in text
    buggy = text.replace("'MaxInferenceUnits'", "'maxInferenceUnits'")

    # When checked / Then the key inside the expression is reported
    findings = check_definition(buggy).findings
    assert [(f.state, f.key, f.expected) for f in findings] == [
        ("StartModel", "maxInferenceUnits", "MaxInferenceUnits")
    ]


def test_skeleton_follows_merge_conditions_map_and_ignores_strings() -> None:
    # Given an expression with merged literals, a condition, a $map and a $string payload
    expression = (
        "$merge([{'A': 1}, $x ? {'B': [$map($l, function($v) { {'C': $string({'NotAKey': 1})} })]} : {'D': 2}])"
    )

    # When reduced to the JSON shapes it can produce
    skeletons = expression_skeletons(expression)

    # Then keys of every branch are there, list items are the lambda's object, the $string payload is not
    assert skeletons == [{"A": [None], "B": [("list", [{"C": [None]}])], "D": [None]}]


def _one_task(resource: str, **fields: object) -> str:
    return json.dumps(
        {
            "QueryLanguage": "JSONata",
            "StartAt": "T",
            "States": {"T": {"Type": "Task", "Resource": resource, **fields, "End": True}},
        }
    )


def test_attribute_values_are_bool_and_nul_for_aws_sdk_but_bool_caps_for_optimized() -> None:
    # Given DynamoDB tasks spelling AttributeValue members the wrong way for their integration type
    sdk_get = _one_task(
        "arn:aws:states:::aws-sdk:dynamodb:getItem",
        Arguments={"TableName": "t", "Key": {"pk": {"S": "x"}}},
        Output="{% $states.result.Item.flag.BOOL or $states.result.Item.gone.NULL %}",
    )
    optimized_put = _one_task(
        "arn:aws:states:::dynamodb:putItem", Arguments={"TableName": "t", "Item": {"flag": {"Bool": True}}}
    )

    # When checked
    sdk_findings = [(f.key, f.expected) for f in check_definition(sdk_get).findings]
    optimized_findings = [(f.key, f.expected) for f in check_definition(optimized_put).findings]

    # Then aws-sdk results are Java v2 names (Bool, Nul) and the optimized request keeps the API's BOOL
    assert sdk_findings == [("BOOL", "Bool"), ("NULL", "Nul")]
    assert optimized_findings == [("Bool", "BOOL")]


def test_unknown_queue_attribute_read_and_result_writer_key_are_reported() -> None:
    # Given a read of a queue attribute SQS does not have, and a ResultWriter with a PutObject-only key
    read = _one_task(
        "arn:aws:states:::aws-sdk:sqs:getQueueAttributes",
        Arguments={"QueueUrl": "q", "AttributeNames": ["ApproximateNumberOfMessages"]},
        Output="{% $states.result.Attributes.ApproximateNumberOfMessagesInFlight %}",
    )
    writer = json.loads(backfill_definition())
    writer["States"]["Backfill"]["ResultWriter"]["Arguments"]["Key"] = "results.json"

    # When checked / Then both are findings
    assert [f.key for f in check_definition(read).findings] == ["ApproximateNumberOfMessagesInFlight"]
    assert [(f.state, f.key) for f in check_definition(json.dumps(writer)).findings] == [
        ("Backfill.ResultWriter", "Key")
    ]
