"""The service-time model the offline runtime uses: each DetectCustomLabels call takes its share of the
model's capacity in simulated time, so the drain rate is what the model allows, whatever the host."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localrun.clock import DEFAULT_EPOCH, VirtualClock
from localrun.emulator import CustomLabelsEmulator
from tests.support.emulator import PROJECT_ARN, VERSION_ARN
from tests.support.images import image


def _running(clock: VirtualClock, tps: float, units: int = 1) -> CustomLabelsEmulator:
    emulator = CustomLabelsEmulator(clock=clock, start_delay_seconds=0, stop_delay_seconds=0, detect_service_time=True)
    emulator.add_model(project_arn=PROJECT_ARN, project_version_arn=VERSION_ARN, tps_per_inference_unit=tps)
    emulator.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=units)
    return emulator


def _calls_at_once(clock: VirtualClock, emulator: CustomLabelsEmulator, count: int) -> list[tuple[str, float]]:
    """``count`` actors call DetectCustomLabels at the same instant; each outcome with its answer time."""
    outcomes: list[tuple[str, float]] = []
    lock = threading.Lock()
    data = image("PNG")

    def call() -> None:
        try:
            emulator.detect_custom_labels(ProjectVersionArn=VERSION_ARN, Image={"Bytes": data})
            outcome = "ok"
        except ClientError as exc:
            outcome = exc.response["Error"]["Code"]
        with lock:
            outcomes.append((outcome, clock.now() - DEFAULT_EPOCH))

    threads = [threading.Thread(target=clock.spawned(call), daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    clock.sleep(60)
    for thread in threads:
        thread.join(5)
    return sorted(outcomes)


@pytest.mark.parametrize(("tps", "units", "lanes", "seconds"), [(5.0, 1, 5, 1.0), (5.0, 2, 10, 1.0), (0.5, 1, 1, 2.0)])
def test_calls_hold_a_lane_for_their_share_of_the_model_second(
    tps: float, units: int, lanes: int, seconds: float
) -> None:
    # Given a RUNNING model of TPS x IUs capacity, and one more caller than it has lanes, all at one instant
    clock = VirtualClock()
    with clock.acting():
        emulator = _running(clock, tps, units)
        outcomes = _calls_at_once(clock, emulator, lanes + 1)

    # Then `lanes` calls answer after ceil(C)/C simulated seconds, the extra one is throttled at once
    assert outcomes == [*[("ProvisionedThroughputExceededException", 0.0)], *[("ok", seconds)] * lanes]


def test_a_lane_is_free_again_once_its_call_answered() -> None:
    clock = VirtualClock()
    answered: list[float] = []
    data: Any = image("PNG")
    with clock.acting():
        emulator = _running(clock, 1.0)
        for _ in range(3):  # one lane of one second: back to back, never throttled
            emulator.detect_custom_labels(ProjectVersionArn=VERSION_ARN, Image={"Bytes": data})
            answered.append(clock.now() - DEFAULT_EPOCH)
    assert answered == [1.0, 2.0, 3.0]


def test_a_rejected_image_gives_its_lane_back_at_once() -> None:
    # Given a model of one lane (1 TPS) and a call with bytes that are not an image
    clock = VirtualClock()
    with clock.acting():
        emulator = _running(clock, 1.0)
        with pytest.raises(ClientError) as rejected:
            emulator.detect_custom_labels(ProjectVersionArn=VERSION_ARN, Image={"Bytes": b"not an image"})

        # When the next call comes at the same instant
        emulator.detect_custom_labels(ProjectVersionArn=VERSION_ARN, Image={"Bytes": image("PNG")})

    # Then the rejection answered at once and left the lane free: the next call was served, not throttled
    assert rejected.value.response["Error"]["Code"] == "InvalidImageFormatException"
    assert clock.now() - DEFAULT_EPOCH == 1.0
