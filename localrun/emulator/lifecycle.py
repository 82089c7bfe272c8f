"""Model-version state: the status sequence, injectable faults and the billing meter.

Transitions are evaluated lazily from the clock on every call (no threads): a start accepted at
``t`` becomes RUNNING (or FAILED) at ``t + start_delay``; a stop requested at ``t`` becomes STOPPED
at ``t + stop_delay``. The transition time is the scheduled one, not the time of the call that
noticed it, so billing does not depend on how often someone polls.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from localrun.emulator.errors import EmulatedServiceError, EmulatorConfigError
from localrun.emulator.manifest import Manifest

STARTING = "STARTING"
RUNNING = "RUNNING"
STOPPING = "STOPPING"
STOPPED = "STOPPED"
FAILED = "FAILED"
TRAINING_COMPLETED = "TRAINING_COMPLETED"

# Statuses a model can be registered in; training states other than completed are out of scope.
INITIAL_STATUSES = frozenset({STOPPED, TRAINING_COMPLETED, RUNNING, FAILED})
# StartProjectVersion is accepted from these (FAILED: a failed start can be retried).
STARTABLE = frozenset({STOPPED, TRAINING_COMPLETED, FAILED})
# StopProjectVersion is accepted from these (assumption: a model still starting can be stopped).
STOPPABLE = frozenset({RUNNING, STARTING})

DEFAULT_TRANSIENT_OPERATIONS = frozenset({"DetectCustomLabels"})
DEFAULT_START_FAILURE_MESSAGE = "The model failed to start: the service could not provision inference units."

_STATUS_MESSAGES = {
    TRAINING_COMPLETED: "The model is ready to run.",
    STARTING: "The model is starting.",
    RUNNING: "The model is running.",
    STOPPING: "The model is stopping.",
    STOPPED: "The model is stopped.",
    FAILED: "The model failed to start.",
}


@dataclass(frozen=True)
class Faults:
    """Faults to inject. ``transient_*`` errors hit a seeded-random fraction of calls."""

    fail_start: bool = False
    """Every start ends FAILED after the start delay, with ``start_failure_message``."""
    start_failure_message: str = DEFAULT_START_FAILURE_MESSAGE
    hang_start: bool = False
    """Every start stays STARTING for ever (until stopped)."""
    transient_error_rate: float = 0.0
    """Fraction (0..1) of calls to ``transient_operations`` answered with a transient error."""
    transient_error_codes: tuple[str, ...] = ("ThrottlingException", "InternalServerError")
    transient_operations: frozenset[str] = DEFAULT_TRANSIENT_OPERATIONS
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.transient_error_rate <= 1.0:
            raise EmulatorConfigError(f"transient_error_rate must be in [0, 1], got {self.transient_error_rate}")
        if self.transient_error_rate and not self.transient_error_codes:
            raise EmulatorConfigError("transient_error_codes must not be empty when transient_error_rate > 0")
        if self.fail_start and self.hang_start:
            raise EmulatorConfigError("fail_start and hang_start are mutually exclusive")


@dataclass(frozen=True)
class BillingSession:
    """One billed session: StartProjectVersion accepted -> STOPPED (or FAILED), in clock time."""

    project_version_arn: str
    inference_units: int
    start_requested_at: float
    running_at: float | None
    stop_requested_at: float | None
    ended_at: float | None
    end_status: str | None
    """STOPPED or FAILED once the session is over; None while it is open."""
    inference_unit_seconds: float
    """``inference_units * (ended_at or now - start_requested_at)``."""

    @property
    def is_open(self) -> bool:
        """Whether the model is still billed (not yet STOPPED/FAILED)."""
        return self.ended_at is None


@dataclass(frozen=True)
class BillingReport:
    """Billing sessions and their total, computed at ``as_of``."""

    sessions: tuple[BillingSession, ...]
    total_inference_unit_seconds: float
    as_of: float

    @property
    def total_inference_unit_hours(self) -> float:
        """The total in inference-unit-hours (the unit AWS prices in)."""
        return self.total_inference_unit_seconds / 3600.0


@dataclass
class _Session:
    units: int
    start_requested_at: float
    running_at: float | None = None
    stop_requested_at: float | None = None
    ended_at: float | None = None
    end_status: str | None = None

    def snapshot(self, version_arn: str, now: float) -> BillingSession:
        end = self.ended_at if self.ended_at is not None else now
        return BillingSession(
            project_version_arn=version_arn,
            inference_units=self.units,
            start_requested_at=self.start_requested_at,
            running_at=self.running_at,
            stop_requested_at=self.stop_requested_at,
            ended_at=self.ended_at,
            end_status=self.end_status,
            inference_unit_seconds=self.units * max(0.0, end - self.start_requested_at),
        )


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


@dataclass
class ModelVersion:
    """Mutable state of one emulated model version (guarded by the emulator's lock)."""

    project_arn: str
    version_arn: str
    version_name: str
    created_at: float
    tps_per_inference_unit: float
    manifest: Manifest | None
    start_delay_seconds: float
    stop_delay_seconds: float
    assumed_threshold: float
    billable_training_seconds: int
    f1_score: float | None = None
    faults: Faults | None = None
    rng: random.Random | None = None
    status: str = STOPPED
    status_message: str = _STATUS_MESSAGES[STOPPED]
    min_inference_units: int | None = None
    max_inference_units: int | None = None
    transition_at: float | None = None
    start_will_fail: bool = False
    failure_message: str = ""
    sessions: list[_Session] = field(default_factory=list)
    accepted_detects: deque[float] = field(default_factory=deque)
    lane_busy_until: list[float] = field(default_factory=list)

    def set_status(self, status: str, message: str | None = None) -> None:
        self.status = status
        self.status_message = message or _STATUS_MESSAGES.get(status, "")

    def advance(self, now: float) -> None:
        """Apply a transition whose scheduled time has passed."""
        due = self.transition_at
        if due is None or now < due:
            return
        session = self.sessions[-1] if self.sessions else None
        if self.status == STARTING:
            self.transition_at = None
            if self.start_will_fail:
                self.set_status(FAILED, self.failure_message)
                if session is not None:
                    session.ended_at, session.end_status = due, FAILED
            else:
                self.set_status(RUNNING)
                if session is not None:
                    session.running_at = due
        elif self.status == STOPPING:
            self.transition_at = None
            self.set_status(STOPPED)
            self.accepted_detects.clear()
            self.lane_busy_until.clear()
            if session is not None:
                session.ended_at, session.end_status = due, STOPPED

    def start(self, now: float, min_units: int, max_units: int | None, faults: Faults) -> None:
        """Accept StartProjectVersion or raise ResourceInUseException."""
        self.advance(now)
        if self.status not in STARTABLE:
            raise EmulatedServiceError(
                "ResourceInUseException",
                f"The model version cannot be started while its status is {self.status}.",
            )
        self.min_inference_units, self.max_inference_units = min_units, max_units
        self.set_status(STARTING)
        self.start_will_fail = faults.fail_start
        self.failure_message = faults.start_failure_message
        self.transition_at = None if faults.hang_start else now + self.start_delay_seconds
        self.sessions.append(_Session(units=min_units, start_requested_at=now))

    def stop(self, now: float) -> None:
        """Accept StopProjectVersion or raise ResourceInUseException."""
        self.advance(now)
        if self.status not in STOPPABLE:
            raise EmulatedServiceError(
                "ResourceInUseException",
                f"The model version cannot be stopped while its status is {self.status}.",
            )
        self.set_status(STOPPING)
        self.transition_at = now + self.stop_delay_seconds
        if self.sessions and self.sessions[-1].ended_at is None:
            self.sessions[-1].stop_requested_at = now

    def mark_running_since(self, now: float, units: int) -> None:
        """Register a model that was already RUNNING (started by someone else) at ``now``."""
        self.min_inference_units = units
        self.set_status(RUNNING)
        self.sessions.append(_Session(units=units, start_requested_at=now, running_at=now))

    def admit_detect(self, now: float) -> None:
        """Apply the TPS limit over the sliding one-second window of the clock."""
        window = self.accepted_detects
        while window and window[0] <= now - 1.0:
            window.popleft()
        limit = self.tps_per_inference_unit * (self.min_inference_units or 1)
        # A fractional limit rounds up: at least one call per window is admitted.
        if len(window) >= limit:
            raise EmulatedServiceError("ProvisionedThroughputExceededException", "Provisioned Rate exceeded.")
        window.append(now)

    def occupy_lane(self, now: float) -> float:
        """Admit a call under the service-time model and return how long it takes (simulated seconds).

        The model serves ``C = TPS per IU x IUs`` calls per second as ``ceil(C)`` lanes; a call holds one lane
        for ``ceil(C) / C`` seconds (one second at an integral TPS), i.e. it uses ``1 / C`` of the model's
        second. A call that finds every lane busy is throttled.
        """
        capacity = self.tps_per_inference_unit * (self.min_inference_units or 1)
        lanes = max(1, math.ceil(capacity))
        busy = [until for until in self.lane_busy_until if until > now]
        if len(busy) >= lanes:
            raise EmulatedServiceError("ProvisionedThroughputExceededException", "Provisioned Rate exceeded.")
        service = lanes / capacity
        self.lane_busy_until = [*busy, now + service]
        return service

    def release_lane(self, busy_until: float) -> None:
        """Give back a lane :meth:`occupy_lane` took (the call ended at once: a rejected image)."""
        if busy_until in self.lane_busy_until:
            self.lane_busy_until.remove(busy_until)

    def description(self) -> dict[str, Any]:
        """The ``ProjectVersionDescription`` shape."""
        desc: dict[str, Any] = {
            "ProjectVersionArn": self.version_arn,
            "CreationTimestamp": _utc(self.created_at),
            "Status": self.status,
            "StatusMessage": self.status_message,
            "BillableTrainingTimeInSeconds": self.billable_training_seconds,
            "TrainingEndTimestamp": _utc(self.created_at + self.billable_training_seconds),
            "Feature": "CUSTOM_LABELS",
        }
        if self.min_inference_units is not None:
            desc["MinInferenceUnits"] = self.min_inference_units
        if self.max_inference_units is not None:
            desc["MaxInferenceUnits"] = self.max_inference_units
        if self.f1_score is not None:
            desc["EvaluationResult"] = {"F1Score": self.f1_score}
        return desc

    def billing(self, now: float) -> list[BillingSession]:
        """Snapshots of every session, open ones counted up to ``now``."""
        return [s.snapshot(self.version_arn, now) for s in self.sessions]


__all__ = [
    "FAILED",
    "RUNNING",
    "STARTING",
    "STOPPED",
    "STOPPING",
    "TRAINING_COMPLETED",
    "BillingReport",
    "BillingSession",
    "Faults",
    "ModelVersion",
]
