"""The botocore hook: which clients the emulator answers, fall-through, and (de)activation."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore import handlers as botocore_handlers
from botocore.exceptions import ClientError
from moto import mock_aws

from localrun.clock import ManualClock
from localrun.emulator import CustomLabelsEmulator, hook as emulator_hook
from localrun.emulator.service import decode_request_body, operation_model
from tests.support.emulator import PROJECT_ARN, REGION, VERSION_ARN
from tests.support.images import image

MOTO_CANNED_LABEL = "MyLogo"  # what moto's own DetectCustomLabels always answers


def _our_builtins() -> list[Any]:
    ours = [interception.spec for interception in emulator_hook._INTERCEPTIONS]
    return [spec for spec in botocore_handlers.BUILTIN_HANDLERS if spec in ours]


def _detect_names(client: Any) -> list[str]:
    response = client.detect_custom_labels(ProjectVersionArn=VERSION_ARN, Image={"Bytes": image("PNG")})
    return [label["Name"] for label in response["CustomLabels"]]


def test_operations_it_does_not_emulate_fall_through_to_moto(rek: Any, emu: CustomLabelsEmulator) -> None:
    # When a non-Custom-Labels rekognition operation is called
    response = rek.detect_labels(Image={"Bytes": image("PNG")})
    # Then moto answers it and the emulator never saw it
    assert "Labels" in response
    assert "DetectLabels" not in emu.calls


def test_exit_removes_the_hook_and_calls_fall_through(aws: None, clock: ManualClock) -> None:
    # Given a client created while the emulator was active
    with CustomLabelsEmulator(clock=clock) as emu:
        emu.add_model(project_arn=PROJECT_ARN, project_version_arn=VERSION_ARN, status="RUNNING")
        client = boto3.client("rekognition", region_name=REGION)
        assert len(_our_builtins()) == 2
        assert _detect_names(client) == []
    # When the emulator has exited
    # Then the builtin handlers are gone and the same client reaches moto's canned answer
    assert _our_builtins() == []
    assert _detect_names(client) == [MOTO_CANNED_LABEL]


def test_works_without_moto_and_without_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    # Given no AWS credentials anywhere and no moto
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    # When a plain client calls the emulator
    with CustomLabelsEmulator() as emu:
        emu.add_model(project_arn=PROJECT_ARN, project_version_arn=VERSION_ARN)
        response = boto3.client("rekognition", region_name=REGION).describe_project_versions(ProjectArn=PROJECT_ARN)
    # Then it answered (the call never reached signing or the network)
    assert response["ProjectVersionDescriptions"][0]["Status"] == "STOPPED"


def test_nested_emulators_answer_innermost_first(aws: None, clock: ManualClock) -> None:
    with CustomLabelsEmulator(clock=clock) as outer:
        outer.add_model(project_arn=PROJECT_ARN, project_version_arn=VERSION_ARN, status="RUNNING")
        client = boto3.client("rekognition", region_name=REGION)
        with CustomLabelsEmulator(clock=clock) as inner:
            inner.add_model(project_arn=PROJECT_ARN, project_version_arn=VERSION_ARN)
            # the inner model is STOPPED: the inner emulator answers
            with pytest.raises(client.exceptions.ResourceNotReadyException):
                _detect_names(client)
        # the outer model is RUNNING: the outer emulator answers again
        assert _detect_names(client) == []
        assert len(_our_builtins()) == 2
    assert (outer.calls["DetectCustomLabels"], inner.calls["DetectCustomLabels"]) == (1, 1)


def test_an_existing_default_session_is_hooked(aws: None, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given boto3's default session exists before the emulator starts
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    boto3.setup_default_session(region_name=REGION)
    # When a client is created from it afterwards
    with CustomLabelsEmulator(clock=clock) as emu:
        emu.add_model(project_arn=PROJECT_ARN, project_version_arn=VERSION_ARN, status="RUNNING")
        # BUILTIN_HANDLERS do not reach an existing session: take them away to prove the session hook works
        with monkeypatch.context() as patched:
            patched.setattr(botocore_handlers, "BUILTIN_HANDLERS", [])
            names = _detect_names(boto3.client("rekognition"))
    # Then the emulator answered
    assert names == []
    assert emu.calls["DetectCustomLabels"] == 1


def test_a_client_created_before_activation_needs_attach(aws: None, clock: ManualClock) -> None:
    # Given a client created before the emulator
    early = boto3.session.Session(region_name=REGION).client("rekognition")
    with CustomLabelsEmulator(clock=clock) as emu:
        emu.add_model(project_arn=PROJECT_ARN, project_version_arn=VERSION_ARN, status="RUNNING")
        # When used as is, Then it is not hooked (moto answers)
        assert _detect_names(early) == [MOTO_CANNED_LABEL]
        # When attached, Then the emulator answers it
        emu.attach(early)
        assert _detect_names(early) == []


def test_the_client_helper_needs_nothing_else(clock: ManualClock) -> None:
    # Given an emulator that is not even activated
    emu = CustomLabelsEmulator(clock=clock)
    emu.add_model(project_arn=PROJECT_ARN, project_version_arn=VERSION_ARN)
    emu.activate()
    try:
        client = emu.client()
        # Then its client reaches it, and modeled exceptions are raised
        with pytest.raises(client.exceptions.ResourceNotReadyException):
            _detect_names(client)
    finally:
        emu.deactivate()
    # And once deactivated, the handlers are inert: moto is not running, so nothing answers offline
    assert emulator_hook.active_responder() is None


def test_moto_alone_would_have_answered_with_canned_labels() -> None:
    # A guard on the premise of this emulator: moto's DetectCustomLabels ignores the model state
    with mock_aws():
        client = boto3.client("rekognition", region_name=REGION)
        assert _detect_names(client) == [MOTO_CANNED_LABEL]


def test_request_bodies_decode_back_to_parameters() -> None:
    # Given parameters serialized the way botocore puts them on the wire (blobs as base64)
    from botocore.serialize import create_serializer

    op = operation_model("DetectCustomLabels")
    params = {"ProjectVersionArn": VERSION_ARN, "Image": {"Bytes": b"\x00\x01binary"}, "MaxResults": 3}
    body = create_serializer("json").serialize_to_request(params, op)["body"]
    # When decoded, Then the original parameters come back, bytes included
    assert decode_request_body(op, body) == params
    assert decode_request_body(op, b"") == {}


def test_an_unknown_error_code_is_still_a_client_error(emu: CustomLabelsEmulator, rek: Any) -> None:
    # Given a fault code the rekognition model does not define
    from localrun.emulator import Faults

    emu.set_faults(
        Faults(
            transient_error_rate=1.0,
            transient_error_codes=("SlowDown",),
            transient_operations=frozenset({"StopProjectVersion"}),
        )
    )
    # When hit, Then botocore raises a generic ClientError carrying the code
    with pytest.raises(ClientError) as info:
        rek.stop_project_version(ProjectVersionArn=VERSION_ARN)
    assert type(info.value) is ClientError
    assert info.value.response["Error"]["Code"] == "SlowDown"
