"""localrun.intercept: before-call handlers that reach every client, are removed cleanly, and build answers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.session
import pytest
from botocore import handlers as botocore_handlers
from botocore.exceptions import ClientError
from moto import mock_aws

from localrun import intercept
from localrun.intercept import Interception, error_response, success_response

REGION = "us-east-1"
EVENT = "before-call.sts.GetCallerIdentity"
MOTO_ACCOUNT = "123456789012"  # what moto's GetCallerIdentity answers


def _identity(account: str) -> intercept.Handler:
    def handler(**_: Any) -> intercept.Answer:
        return success_response({"Account": account, "Arn": f"arn:aws:iam::{account}:root", "UserId": account})

    return handler


def _account(client: Any) -> str:
    return str(client.get_caller_identity()["Account"])


def _sts() -> Any:
    return boto3.session.Session(region_name=REGION).client("sts")


@pytest.fixture(autouse=True)
def _moto_answers_what_is_not_intercepted() -> Iterator[None]:
    with mock_aws():
        yield
    # Every test leaves botocore as it found it
    assert intercept.installed() == []


def test_clients_created_while_installed_are_answered_until_removal() -> None:
    # Given an interception of GetCallerIdentity
    with Interception(EVENT, _identity("111111111111")):
        # When a client created after install calls it
        client = _sts()
        # Then the handler answered, not moto
        assert _account(client) == "111111111111"
    # And once removed, the same client and a new one reach moto again
    assert _account(client) == MOTO_ACCOUNT
    assert _account(_sts()) == MOTO_ACCOUNT


def test_a_fresh_botocore_session_gets_the_handler_from_the_builtins() -> None:
    interception = Interception(EVENT, _identity("222222222222"))
    with interception:
        # Given the handler sits in BUILTIN_HANDLERS while installed
        assert interception.spec in botocore_handlers.BUILTIN_HANDLERS
        # When a brand-new botocore session (as another thread or library would make) creates a client
        client = botocore.session.get_session().create_client("sts", region_name=REGION)
        # Then it is answered
        assert _account(client) == "222222222222"
    assert interception.spec not in botocore_handlers.BUILTIN_HANDLERS
    assert _account(botocore.session.get_session().create_client("sts", region_name=REGION)) == MOTO_ACCOUNT


def test_a_client_created_before_install_is_answered_once_attached() -> None:
    # Given a client that existed before the interception
    early = _sts()
    interception = Interception(EVENT, _identity("333333333333"))
    with interception:
        # When used as is, Then its copied event emitter never saw the handler
        assert _account(early) == MOTO_ACCOUNT
        # When attached (twice: idempotent), Then it is answered
        interception.attach(interception.attach(early))
        assert _account(early) == "333333333333"
    # And after removal the attached copy falls through
    assert _account(early) == MOTO_ACCOUNT


def test_the_existing_default_session_is_hooked_and_unhooked(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given boto3's default session exists before install
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    boto3.setup_default_session(region_name=REGION)
    # BUILTIN_HANDLERS do not reach an existing session: take them away to prove the session hook works
    with Interception(EVENT, _identity("444444444444")), monkeypatch.context() as patched:
        patched.setattr(botocore_handlers, "BUILTIN_HANDLERS", [])
        during = _account(boto3.client("sts"))
    # Then boto3.client was answered while installed, and not after removal
    assert during == "444444444444"
    assert _account(boto3.client("sts")) == MOTO_ACCOUNT


def test_handlers_on_one_event_answer_in_install_order_and_none_falls_through() -> None:
    declining = threading.Event()

    def first(**kwargs: Any) -> intercept.Answer | None:
        return None if declining.is_set() else _identity("555555555555")(**kwargs)

    with Interception(EVENT, first):
        with Interception(EVENT, _identity("666666666666")):
            client = _sts()
            # Given two interceptions of one event, the first installed answers
            assert _account(client) == "555555555555"
            # When it declines, Then the next one answers
            declining.set()
            assert _account(client) == "666666666666"
        # When the inner one is removed, Then the declined call reaches moto
        assert _account(client) == MOTO_ACCOUNT
        # And the outer one still answers when it no longer declines
        declining.clear()
        assert _account(client) == "555555555555"


def test_install_and_remove_are_idempotent_and_reinstall_answers_again() -> None:
    interception = Interception(EVENT, _identity("777777777777"))
    # When installed twice, Then one entry and one answer
    interception.install().install()
    assert intercept.installed() == [interception]
    assert interception.installed
    # When removed twice, Then none is left and nothing fails
    interception.remove()
    interception.remove()
    assert intercept.installed() == []
    assert not interception.installed
    assert _account(_sts()) == MOTO_ACCOUNT
    # When installed again, Then it answers again
    with interception:
        assert _account(_sts()) == "777777777777"


def test_concurrent_installs_leave_one_entry_each() -> None:
    # Given the same interception and a second one, installed and removed from many threads at once
    shared = Interception(EVENT, _identity("888888888888"))
    other = Interception("before-call.sts.GetSessionToken", _identity("999999999999"))
    barrier = threading.Barrier(16)

    def install() -> None:
        barrier.wait()
        shared.install()
        other.install()

    threads = [threading.Thread(target=install) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        # Then each has exactly one entry in BUILTIN_HANDLERS
        assert sorted(i.event for i in intercept.installed()) == sorted([shared.event, other.event])
        assert botocore_handlers.BUILTIN_HANDLERS.count(shared.spec) == 1
    finally:
        removers = [threading.Thread(target=i.remove) for i in (shared, other) * 8]
        for t in removers:
            t.start()
        for t in removers:
            t.join()
    assert intercept.installed() == []


def test_the_handler_receives_the_operation_and_the_serialized_request() -> None:
    seen: list[tuple[str, Any]] = []

    def describe(model: Any, params: dict[str, Any], **_: Any) -> intercept.Answer:
        seen.append((model.name, params["body"]))
        name = params["body"]["StackName"]  # a query-protocol body: a dict of query parameters
        stack = {"StackName": name, "CreationTime": "2026-01-01T00:00:00Z", "StackStatus": "CREATE_COMPLETE"}
        return success_response({"Stacks": [stack]})

    with Interception("before-call.cloudformation.DescribeStacks", describe):
        response = boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName="my-stack")
    # Then the handler saw the call, and the client returned its answer with response metadata
    assert seen[0][0] == "DescribeStacks"
    assert seen[0][1]["StackName"] == "my-stack"
    assert response["Stacks"][0]["StackName"] == "my-stack"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert response["ResponseMetadata"]["RequestId"]


def test_an_error_response_raises_the_modeled_exception() -> None:
    # Given UpdateEventSourceMapping answered with a 404 ResourceNotFoundException
    def gone(**_: Any) -> intercept.Answer:
        return error_response("ResourceNotFoundException", "The resource you requested does not exist.", 404)

    with Interception("before-call.lambda.UpdateEventSourceMapping", gone):
        client = boto3.client("lambda", region_name=REGION)
        # When called, Then botocore raises the service's modeled exception with the code, message and status
        with pytest.raises(client.exceptions.ResourceNotFoundException) as info:
            client.update_event_source_mapping(UUID="a1b2c3d4-0000-0000-0000-000000000000", Enabled=False)
    error = info.value.response
    assert error["Error"] == {
        "Code": "ResourceNotFoundException",
        "Message": "The resource you requested does not exist.",
    }
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_an_unmodeled_error_code_is_a_plain_client_error_with_its_type() -> None:
    def throttled(**_: Any) -> intercept.Answer:
        return error_response("Throttling", "Rate exceeded", 400, error_type="Sender", request_id="req-1")

    with Interception("before-call.cloudformation.DescribeStacks", throttled):
        client = boto3.client("cloudformation", region_name=REGION)
        with pytest.raises(ClientError) as info:
            client.describe_stacks(StackName="s")
    # Then a ClientError carrying the code, the type and the request id
    assert type(info.value) is ClientError
    assert info.value.response["Error"] == {"Code": "Throttling", "Message": "Rate exceeded", "Type": "Sender"}
    assert info.value.response["ResponseMetadata"]["RequestId"] == "req-1"
