"""Template assertions for the ingest path: uploads bucket → EventBridge (default bus) → one rule per model →
that model's detect queue. No S3 event notification to SQS exists, so no s3:TestEvent can reach a queue."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnElement
from constructs import IConstruct

from lambdas.common import ingest
from tests.support.stack import Synthesized


def _id(synthesized: Synthesized, construct: IConstruct) -> str:
    child = construct.node.default_child
    assert isinstance(child, CfnElement)
    return synthesized.stack.get_logical_id(child)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _queue_policy_statements(synthesized: Synthesized, queue_id: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for policy in synthesized.resources("AWS::SQS::QueuePolicy").values():
        if {"Ref": queue_id} in policy["Properties"]["Queues"]:
            statements += _as_list(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def _from_events(statement: dict[str, Any]) -> bool:
    return statement.get("Principal") == {"Service": "events.amazonaws.com"}


def _ingest_rules(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    rules = synthesized.resources("AWS::Events::Rule")
    return {k: v for k, v in rules.items() if v["Properties"].get("EventPattern", {}).get("source") == ["aws.s3"]}


def test_uploads_bucket_sends_eventbridge_events_and_has_no_queue_topic_or_function_notification(
    synthesized: Synthesized,
) -> None:
    # Given the synthesized stack
    [notifications] = synthesized.resources("Custom::S3BucketNotifications").values()
    props = notifications["Properties"]

    # Then the uploads bucket's only notification setting is "send events to EventBridge"
    assert props["BucketName"] == {"Ref": _id(synthesized, synthesized.stack.pipeline.storage.bucket)}
    assert props["NotificationConfiguration"] == {"EventBridgeConfiguration": {}}
    # ... and the configuration is the stack's alone (nothing else's destinations survive in it)
    assert props["Managed"] is True


def test_one_rule_per_model_matches_its_prefix_on_the_default_bus_and_targets_its_queue_with_a_dlq(
    synthesized: Synthesized,
) -> None:
    # Given one detection path per configured model
    bucket = {"Ref": _id(synthesized, synthesized.stack.pipeline.storage.bucket)}
    rules = _ingest_rules(synthesized)
    assert len(rules) == len(synthesized.config.models)

    for model in synthesized.config.models:
        detection = synthesized.stack.pipeline.detections[model.name]
        rule_id = _id(synthesized, detection.ingest_rule)
        props = rules[rule_id]["Properties"]
        # Then its rule matches exactly: source aws.s3, "Object Created", this bucket, this model's prefix
        assert props["EventPattern"] == ingest.object_created_pattern(bucket, model.prefix)  # type: ignore[arg-type]
        assert props["EventPattern"]["detail"]["object"]["key"] == [{"prefix": model.prefix}]
        # ... on the default bus (S3 sends its events nowhere else), enabled
        assert "EventBusName" not in props
        assert props["State"] == "ENABLED"
        # ... with one target: this model's queue, this model's DLQ, the longest retry EventBridge allows
        [target] = props["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [_id(synthesized, detection.queue), "Arn"]}
        assert target["DeadLetterConfig"] == {
            "Arn": {"Fn::GetAtt": [_id(synthesized, detection.dead_letter_queue), "Arn"]}
        }
        assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}
        # ... and no input transformer or role: the SQS body is the event, authorised by the queue policy
        assert not {"Input", "InputPath", "InputTransformer", "RoleArn"} & set(target)


def test_queues_accept_eventbridge_only_from_their_own_rule_and_no_longer_grant_s3(synthesized: Synthesized) -> None:
    for model in synthesized.config.models:
        # Given one model's queue and dead-letter queue policies
        detection = synthesized.stack.pipeline.detections[model.name]
        rule_arn = {"Fn::GetAtt": [_id(synthesized, detection.ingest_rule), "Arn"]}
        for queue in (detection.queue, detection.dead_letter_queue):
            statements = _queue_policy_statements(synthesized, _id(synthesized, queue))
            grants = [s for s in statements if _from_events(s)]
            # Then EventBridge may send only on behalf of this model's rule (a rule ARN names the account)
            assert len(grants) == 1, grants
            [grant] = grants
            assert grant["Effect"] == "Allow"
            # ... to send, plus the two reads CDK's grantSendMessages adds: never receive, delete or purge
            actions = set(_as_list(grant["Action"]))
            assert "sqs:SendMessage" in actions
            assert actions <= {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}
            assert grant["Condition"] == {"ArnEquals": {"aws:SourceArn": rule_arn}}
            assert grant["Resource"] == {"Fn::GetAtt": [_id(synthesized, queue), "Arn"]}
            # ... and S3 has no grant (nor a leftover deny) on it any more
            assert not [s for s in statements if s.get("Principal") == {"Service": "s3.amazonaws.com"}]


def test_queues_stay_sse_sqs_so_eventbridge_needs_no_key_grant(synthesized: Synthesized) -> None:
    for detection in synthesized.stack.pipeline.detections.values():
        props = synthesized.json["Resources"][_id(synthesized, detection.queue)]["Properties"]
        assert props["SqsManagedSseEnabled"] is True
        assert "KmsMasterKeyId" not in props
