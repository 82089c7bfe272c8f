"""The status sequence on the clock, injected lifecycle faults, and the billing meter."""

from __future__ import annotations

from typing import Any

import pytest

from localrun.clock import DEFAULT_EPOCH, ManualClock
from localrun.emulator import CustomLabelsEmulator, EmulatorConfigError, Faults, version_name_of
from tests.support import ids
from tests.support.emulator import PROJECT_ARN, START_DELAY, STOP_DELAY, VERSION_ARN, version_arn
from tests.support.images import image


def _describe(rek: Any) -> dict[str, Any]:
    desc: dict[str, Any]
    (desc,) = rek.describe_project_versions(ProjectArn=PROJECT_ARN, VersionNames=[ids.VERSION_NAME])[
        "ProjectVersionDescriptions"
    ]
    return desc


def test_full_status_sequence_follows_the_clock(rek: Any, clock: ManualClock) -> None:
    seen = [_describe(rek)["Status"]]
    # When started, Then STARTING until the start delay has passed, then RUNNING
    rek.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=1)
    clock.advance(START_DELAY - 1)
    seen.append(_describe(rek)["Status"])
    clock.advance(1)
    running = _describe(rek)
    seen.append(running["Status"])
    # When stopped, Then STOPPING until the stop delay has passed, then STOPPED
    rek.stop_project_version(ProjectVersionArn=VERSION_ARN)
    seen.append(_describe(rek)["Status"])
    clock.advance(STOP_DELAY)
    seen.append(_describe(rek)["Status"])
    assert seen == ["STOPPED", "STARTING", "RUNNING", "STOPPING", "STOPPED"]
    assert running["StatusMessage"] == "The model is running."


def test_starting_twice_or_stopping_a_stopped_model_is_resource_in_use(rek: Any, clock: ManualClock) -> None:
    # Given a stopped model, When stopped, Then ResourceInUseException
    with pytest.raises(rek.exceptions.ResourceInUseException):
        rek.stop_project_version(ProjectVersionArn=VERSION_ARN)
    # Given a starting model, When started again, Then ResourceInUseException
    rek.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=1)
    with pytest.raises(rek.exceptions.ResourceInUseException):
        rek.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=1)
    # Given a stopping model, When started or stopped, Then ResourceInUseException
    clock.advance(START_DELAY)
    rek.stop_project_version(ProjectVersionArn=VERSION_ARN)
    with pytest.raises(rek.exceptions.ResourceInUseException):
        rek.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=1)
    with pytest.raises(rek.exceptions.ResourceInUseException):
        rek.stop_project_version(ProjectVersionArn=VERSION_ARN)


def test_a_starting_model_can_be_stopped(emu: CustomLabelsEmulator, rek: Any, clock: ManualClock) -> None:
    rek.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=1)
    clock.advance(10)
    assert rek.stop_project_version(ProjectVersionArn=VERSION_ARN)["Status"] == "STOPPING"
    clock.advance(STOP_DELAY)
    # Then it never ran, and the session was billed from start request to stop
    assert emu.status(VERSION_ARN) == "STOPPED"
    (session,) = emu.billing(VERSION_ARN).sessions
    assert session.running_at is None
    assert session.inference_unit_seconds == 10 + STOP_DELAY


def test_fail_start_ends_failed_with_a_message_and_can_be_retried(
    emu: CustomLabelsEmulator, rek: Any, clock: ManualClock
) -> None:
    # Given starts fail
    emu.set_faults(Faults(fail_start=True, start_failure_message="no capacity"), VERSION_ARN)
    # When started and the start delay passes
    rek.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=1)
    clock.advance(START_DELAY)
    desc = _describe(rek)
    # Then the model is FAILED with the message, detect is not ready, and the session ended then
    assert (desc["Status"], desc["StatusMessage"]) == ("FAILED", "no capacity")
    with pytest.raises(rek.exceptions.ResourceNotReadyException):
        rek.detect_custom_labels(ProjectVersionArn=VERSION_ARN, Image={"Bytes": image()})
    (session,) = emu.billing(VERSION_ARN).sessions
    assert (session.end_status, session.ended_at) == ("FAILED", DEFAULT_EPOCH + START_DELAY)
    # When the fault is cleared and the start retried, Then it runs
    emu.set_faults(Faults(), VERSION_ARN)
    rek.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=1)
    clock.advance(START_DELAY)
    assert emu.status(VERSION_ARN) == "RUNNING"


def test_hang_start_stays_starting(emu: CustomLabelsEmulator, rek: Any, clock: ManualClock) -> None:
    emu.set_faults(Faults(hang_start=True))
    rek.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=1)
    clock.advance(7 * 24 * 3600)
    assert _describe(rek)["Status"] == "STARTING"


def test_external_stop_mid_run(emu: CustomLabelsEmulator, rek: Any, clock: ManualClock, start_running: Any) -> None:
    # Given a running model
    start_running()
    # When someone else stops it
    assert emu.stop_externally(VERSION_ARN) == "STOPPING"
    # Then detection is refused at once, and the model reaches STOPPED after the stop delay
    with pytest.raises(rek.exceptions.ResourceNotReadyException):
        rek.detect_custom_labels(ProjectVersionArn=VERSION_ARN, Image={"Bytes": image()})
    clock.advance(STOP_DELAY)
    assert emu.status(VERSION_ARN) == "STOPPED"
    # And stopping a stopped model externally is a no-op
    assert emu.stop_externally(VERSION_ARN) == "STOPPED"


def test_a_model_registered_running_is_usable_and_billed_from_registration(clock: ManualClock) -> None:
    emu = CustomLabelsEmulator(clock=clock)
    emu.add_model(project_arn=PROJECT_ARN, project_version_arn=VERSION_ARN, status="RUNNING", inference_units=3)
    clock.advance(100)
    response = emu.detect_custom_labels(ProjectVersionArn=VERSION_ARN, Image={"Bytes": image()})
    assert response["CustomLabels"] == []
    report = emu.billing(VERSION_ARN)
    (session,) = report.sessions
    assert session.is_open
    assert session.inference_unit_seconds == 300
    assert report.total_inference_unit_seconds == 300


def test_billing_counts_units_times_session_length_in_clock_time(
    emu: CustomLabelsEmulator, rek: Any, clock: ManualClock
) -> None:
    # Given two sessions: 2 IUs for start + 700 s running + stop delay, then 1 IU still open
    rek.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=2)
    clock.advance(START_DELAY + 700)
    rek.stop_project_version(ProjectVersionArn=VERSION_ARN)
    clock.advance(STOP_DELAY + 1000)  # stopped models are not billed
    rek.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=1)
    clock.advance(50)
    # When the meter is read
    report = emu.billing(VERSION_ARN)
    first, second = report.sessions
    # Then the closed session has its four timestamps and 2 x 1060 IU-seconds
    assert first.start_requested_at == DEFAULT_EPOCH
    assert first.running_at == DEFAULT_EPOCH + START_DELAY
    assert first.stop_requested_at == DEFAULT_EPOCH + START_DELAY + 700
    assert first.ended_at == DEFAULT_EPOCH + START_DELAY + 700 + STOP_DELAY
    assert (first.end_status, first.inference_units) == ("STOPPED", 2)
    assert first.inference_unit_seconds == 2 * (START_DELAY + 700 + STOP_DELAY)
    # And the open one counts up to now; the total adds both
    assert second.is_open and second.inference_unit_seconds == 50
    assert report.total_inference_unit_seconds == 2 * 1060 + 50
    assert report.total_inference_unit_hours == pytest.approx((2 * 1060 + 50) / 3600)


def test_billing_without_an_arn_covers_every_version(emu: CustomLabelsEmulator, clock: ManualClock) -> None:
    emu.add_model(project_arn=PROJECT_ARN, project_version_arn=version_arn(1), status="RUNNING", inference_units=2)
    emu.add_model(project_arn=PROJECT_ARN, project_version_arn=version_arn(2), status="RUNNING")
    clock.advance(10)
    report = emu.billing()
    assert {s.project_version_arn for s in report.sessions} == {version_arn(1), version_arn(2)}
    assert report.total_inference_unit_seconds == 30


def test_per_version_delays_override_the_emulator_defaults(emu: CustomLabelsEmulator, clock: ManualClock) -> None:
    emu.add_model(project_arn=PROJECT_ARN, project_version_arn=version_arn(1), start_delay_seconds=5)
    emu.start_project_version(ProjectVersionArn=version_arn(1), MinInferenceUnits=1)
    emu.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=1)
    clock.advance(5)
    assert (emu.status(version_arn(1)), emu.status(VERSION_ARN)) == ("RUNNING", "STARTING")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"transient_error_rate": 1.5}, "transient_error_rate"),
        ({"transient_error_rate": 0.1, "transient_error_codes": ()}, "transient_error_codes"),
        ({"fail_start": True, "hang_start": True}, "mutually exclusive"),
    ],
)
def test_inconsistent_faults_are_rejected(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(EmulatorConfigError, match=message):
        Faults(**kwargs)


def test_version_name_is_the_segment_after_version() -> None:
    assert version_name_of(VERSION_ARN) == "produce-quality.2026-01-01T00.00.00"
    with pytest.raises(EmulatorConfigError):
        version_name_of(PROJECT_ARN)
