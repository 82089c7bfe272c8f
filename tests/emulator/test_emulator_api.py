"""API shapes and error codes, validated against botocore's rekognition service model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ParamValidationError

from localrun.clock import ManualClock
from localrun.emulator import CustomLabelsEmulator, EmulatorConfigError, Faults
from tests.support import ids
from tests.support.emulator import PROJECT_ARN, REGION, VERSION_ARN, assert_valid_output, version_arn
from tests.support.images import image

UNKNOWN_VERSION = ids.version_arn(
    ids.MODEL, f"{ids.MODEL}.nope", account=ids.SAMPLE_ACCOUNT, timestamp=str(int(ids.TIMESTAMP) + 1)
)
OTHER_PROJECT = ids.project_arn("other", account=ids.SAMPLE_ACCOUNT, timestamp="1")


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return exc.value.response["Error"]["Code"]


def test_describe_returns_the_modeled_shape(rek: Any) -> None:
    # When the model is described
    response = rek.describe_project_versions(ProjectArn=PROJECT_ARN)
    # Then the response validates against the output shape, with parsed timestamps
    assert_valid_output("DescribeProjectVersions", response)
    (desc,) = response["ProjectVersionDescriptions"]
    assert desc["ProjectVersionArn"] == VERSION_ARN
    assert desc["Status"] == "STOPPED"
    assert desc["StatusMessage"]
    assert desc["CreationTimestamp"] == datetime(2026, 1, 1, tzinfo=UTC)
    assert desc["BillableTrainingTimeInSeconds"] == 3600
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_start_and_stop_return_the_modeled_shape(rek: Any, clock: ManualClock) -> None:
    # When the model is started, and stopped once running
    started = rek.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=2, MaxInferenceUnits=3)
    clock.advance(300)
    stopped = rek.stop_project_version(ProjectVersionArn=VERSION_ARN)
    # Then both validate and report the new status; describe shows the inference units
    assert_valid_output("StartProjectVersion", started)
    assert_valid_output("StopProjectVersion", stopped)
    assert (started["Status"], stopped["Status"]) == ("STARTING", "STOPPING")
    (desc,) = rek.describe_project_versions(ProjectArn=PROJECT_ARN)["ProjectVersionDescriptions"]
    assert (desc["MinInferenceUnits"], desc["MaxInferenceUnits"]) == (2, 3)


@pytest.mark.parametrize(
    ("call", "kwargs"),
    [
        ("start_project_version", {"ProjectVersionArn": UNKNOWN_VERSION, "MinInferenceUnits": 1}),
        ("stop_project_version", {"ProjectVersionArn": UNKNOWN_VERSION}),
        ("detect_custom_labels", {"ProjectVersionArn": UNKNOWN_VERSION, "Image": {"Bytes": b"x"}}),
        ("describe_project_versions", {"ProjectArn": OTHER_PROJECT}),
    ],
)
def test_unknown_resources_are_resource_not_found(rek: Any, call: str, kwargs: dict[str, Any]) -> None:
    # When an unknown project or version is used, Then the modeled exception class is raised
    with pytest.raises(rek.exceptions.ResourceNotFoundException) as info:
        getattr(rek, call)(**kwargs)
    assert _code(info) == "ResourceNotFoundException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_detect_on_a_stopped_model_is_resource_not_ready(rek: Any) -> None:
    with pytest.raises(rek.exceptions.ResourceNotReadyException) as info:
        rek.detect_custom_labels(ProjectVersionArn=VERSION_ARN, Image={"Bytes": image()})
    assert isinstance(info.value, ClientError)
    assert _code(info) == "ResourceNotReadyException"


def test_service_side_constraints_give_validation_exception(rek: Any) -> None:
    # Given parameters botocore lets through (it checks only minimums) but the service rejects
    bad_arn = "arn:aws:rekognition:us-east-1:111122223333:project/produce-quality/version/has space/1"
    # When called, Then ValidationException names the member in the service's camelCase
    with pytest.raises(ClientError) as info:
        rek.start_project_version(ProjectVersionArn=bad_arn, MinInferenceUnits=1)
    assert _code(info) == "ValidationException"
    assert "at 'projectVersionArn'" in info.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as info:
        rek.describe_project_versions(ProjectArn=PROJECT_ARN, MaxResults=101)
    assert _code(info) == "ValidationException"
    assert "less than or equal to 100" in info.value.response["Error"]["Message"]


def test_client_side_validation_applies_even_when_the_client_skips_it(emu: CustomLabelsEmulator) -> None:
    # Given a client with parameter validation off (as moto's Step Functions interpreter uses)
    client = boto3.client("rekognition", region_name=REGION, config=Config(parameter_validation=False))
    # When MinInferenceUnits is below the model's minimum, Then the emulator still rejects it
    with pytest.raises(ParamValidationError, match="MinInferenceUnits"):
        client.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=0)
    # And direct calls are validated too
    with pytest.raises(ParamValidationError, match="ProjectVersionArn"):
        emu.start_project_version(MinInferenceUnits=1)


def test_max_units_below_min_units_is_invalid_parameter(rek: Any) -> None:
    with pytest.raises(rek.exceptions.InvalidParameterException):
        rek.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=3, MaxInferenceUnits=2)


def test_image_needs_exactly_one_source(rek: Any, start_running: Any) -> None:
    start_running()
    with pytest.raises(rek.exceptions.InvalidParameterException):
        rek.detect_custom_labels(ProjectVersionArn=VERSION_ARN, Image={})
    with pytest.raises(rek.exceptions.InvalidParameterException):
        rek.detect_custom_labels(
            ProjectVersionArn=VERSION_ARN, Image={"Bytes": b"x", "S3Object": {"Bucket": "bkt", "Name": "k"}}
        )


def test_server_faults_are_http_500_and_client_faults_400(emu: CustomLabelsEmulator, rek: Any) -> None:
    # Given every DescribeProjectVersions call fails with InternalServerError
    emu.set_faults(
        Faults(
            transient_error_rate=1.0,
            transient_error_codes=("InternalServerError",),
            transient_operations=frozenset({"DescribeProjectVersions"}),
        )
    )
    # When described, Then the modeled InternalServerError comes with HTTP 500
    with pytest.raises(rek.exceptions.InternalServerError) as info:
        rek.describe_project_versions(ProjectArn=PROJECT_ARN)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


def test_pagination_lists_newest_first_across_pages(emu: CustomLabelsEmulator, rek: Any) -> None:
    # Given five versions in the project (plus the fixture's oldest one)
    for n in range(1, 6):
        emu.add_model(project_arn=PROJECT_ARN, project_version_arn=version_arn(n))
    # When paged two at a time
    pages = list(rek.get_paginator("describe_project_versions").paginate(ProjectArn=PROJECT_ARN, MaxResults=2))
    arns = [d["ProjectVersionArn"] for page in pages for d in page["ProjectVersionDescriptions"]]
    # Then three pages cover all six versions, newest first, the last page without a token
    assert len(pages) == 3
    assert arns == [version_arn(n) for n in range(5, 0, -1)] + [VERSION_ARN]
    assert "NextToken" in pages[0]
    assert "NextToken" not in pages[-1]


def test_version_names_filter_the_listing(emu: CustomLabelsEmulator, rek: Any) -> None:
    emu.add_model(project_arn=PROJECT_ARN, project_version_arn=version_arn(1))
    response = rek.describe_project_versions(ProjectArn=PROJECT_ARN, VersionNames=["produce-quality.v1", "absent"])
    assert [d["ProjectVersionArn"] for d in response["ProjectVersionDescriptions"]] == [version_arn(1)]


def test_a_foreign_or_garbage_token_is_invalid_pagination_token(emu: CustomLabelsEmulator, rek: Any) -> None:
    # Given a token from a listing filtered by version names
    emu.add_model(project_arn=PROJECT_ARN, project_version_arn=version_arn(1))
    emu.add_model(project_arn=PROJECT_ARN, project_version_arn=version_arn(2))
    first = rek.describe_project_versions(ProjectArn=PROJECT_ARN, MaxResults=1)
    # When it is reused for a different query, or is garbage, Then the modeled error is raised
    with pytest.raises(rek.exceptions.InvalidPaginationTokenException):
        rek.describe_project_versions(
            ProjectArn=PROJECT_ARN, VersionNames=["produce-quality.v1"], NextToken=first["NextToken"]
        )
    with pytest.raises(rek.exceptions.InvalidPaginationTokenException):
        rek.describe_project_versions(ProjectArn=PROJECT_ARN, NextToken="not-a-token")


def test_direct_calls_behave_like_the_client(emu: CustomLabelsEmulator) -> None:
    # When the emulator is called directly
    response = emu.describe_project_versions(ProjectArn=PROJECT_ARN)
    # Then the answer has the same parsed shape, and errors are ClientErrors with the code
    assert_valid_output("DescribeProjectVersions", response)
    with pytest.raises(ClientError) as info:
        emu.detect_custom_labels(ProjectVersionArn=VERSION_ARN, Image={"Bytes": b"x"})
    assert _code(info) == "ResourceNotReadyException"
    assert emu.errors["ResourceNotReadyException"] == 1
    assert emu.calls["DescribeProjectVersions"] == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {
            "project_arn": OTHER_PROJECT,
            "project_version_arn": VERSION_ARN,
        },
        {"project_arn": PROJECT_ARN, "project_version_arn": "not-an-arn"},
        {"project_arn": "bad", "project_version_arn": VERSION_ARN},
        {"project_arn": PROJECT_ARN, "project_version_arn": VERSION_ARN, "status": "DELETING"},
        {"project_arn": PROJECT_ARN, "project_version_arn": VERSION_ARN, "tps_per_inference_unit": 0},
    ],
)
def test_add_model_rejects_bad_configuration(kwargs: dict[str, Any]) -> None:
    with pytest.raises(EmulatorConfigError):
        CustomLabelsEmulator().add_model(**kwargs)


def test_add_model_rejects_a_duplicate_version(emu: CustomLabelsEmulator) -> None:
    with pytest.raises(EmulatorConfigError, match="already registered"):
        emu.add_model(project_arn=PROJECT_ARN, project_version_arn=VERSION_ARN)


def test_config_methods_reject_unknown_versions(emu: CustomLabelsEmulator) -> None:
    with pytest.raises(EmulatorConfigError, match="unknown model version"):
        emu.set_tps(UNKNOWN_VERSION, 1.0)
    with pytest.raises(EmulatorConfigError, match="> 0"):
        emu.set_tps(VERSION_ARN, 0)
