"""The deployed triggers of the model controller, offline, on the runtime's virtual clock.

In AWS three things start a controller execution (``infra/constructs/controller.py``); here one actor
thread per model does what each would do, at the simulated instant it would do it, with the input it
would send:

* **window schedules** (EventBridge Scheduler, modes ``scheduled`` / ``both``): the window's cron shifted
  ``lead_minutes`` earlier (:func:`infra.constructs.controller.shift_cron`) in the window's time zone →
  StartExecution ``{"trigger": "schedule", "window_anchor": <aws.scheduler.scheduled-time>,
  "window_seconds": (lead + window) × 60}``.
* **backlog alarm → rule** (modes ``on_demand`` / ``both``): every ``CONTROLLER_BACKLOG_PERIOD_MINUTES`` the
  alarm's metric math ``IF(visible >= threshold OR age >= age_limit, 1, 0)`` is evaluated on the model's
  queue in moto; the alarm's state in moto is set to match (so the controller's ``describeAlarms`` reads
  the same state), and its transition to ``ALARM`` starts ``{"trigger": "backlog"}`` (the EventBridge
  rule on "CloudWatch Alarm State Change").
* **re-check schedule** (every mode): ``rate(CONTROLLER_RECHECK_MINUTES minutes)`` from the moment the
  triggers start → ``{"trigger": "recheck", "require_backlog": true}``.

Approximations against AWS (docs/offline.md, "Triggers"):

* the alarm samples the queue at the end of each period (the SQS metrics CloudWatch gets are per-minute
  samples too; the Maximum over a one-minute period of one sample is that sample) and sees it at once: SQS's
  metric delivery delay (a minute or more in AWS) is not modelled;
* ``ApproximateNumberOfMessagesVisible`` is moto's ``ApproximateNumberOfMessages``; the age of the oldest
  message is the simulated time since the ``SentTimestamp`` of the oldest message moto holds (visible, in
  flight or delayed: the metric counts every message not deleted); AWS's special case for a message received
  three times or more (it moves to the back of the metric) is not modelled;
* deliveries are immediate and never fail (no Scheduler / rule retries, no flexible time window), and the
  execution name is generated here (AWS generates one too); a schedule fires on its minute's first second;
* the rule is not a moto EventBridge rule: the transition starts the execution directly (moto's EventBridge
  has no Step Functions target).
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.sqs import models as sqs_models

from infra import constants
from infra.config import LifecycleMode, ModelConfig
from localrun.clock import VirtualClock
from localrun.cron import Cron, rate_seconds, scheduled_time
from localrun.moto_adapt import moto_request_lock
from localrun.world import ACCOUNT, BacklogRule, ModelResources, has_backlog_alarm

ClientFactory = Callable[[str], Any]
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"  # aws_cdk.aws_scheduler.ContextAttribute.scheduled_time
RECHECK_EXPRESSION = f"rate({constants.CONTROLLER_RECHECK_MINUTES} minutes)"
ALARM_PERIOD_SECONDS = constants.CONTROLLER_BACKLOG_PERIOD_MINUTES * 60.0


@dataclass(frozen=True)
class WindowSchedule:
    """One window's EventBridge Scheduler schedule as the construct deploys it."""

    expression: str  # the window's cron, shifted by the lead time
    timezone: str
    input_template: str  # the target's Input, with the scheduled-time context attribute left in place

    def payload(self, fire: datetime) -> dict[str, Any]:
        """The execution input Scheduler sends for the invocation scheduled at ``fire``."""
        rendered = self.input_template.replace(SCHEDULED_TIME, scheduled_time(fire))
        payload: dict[str, Any] = json.loads(rendered)
        return payload


def window_schedules(model: ModelConfig) -> list[WindowSchedule]:
    """The window schedules of ``model`` (none outside modes ``scheduled`` / ``both``)."""
    lifecycle = model.lifecycle
    if lifecycle.mode not in (LifecycleMode.SCHEDULED, LifecycleMode.BOTH):
        return []
    # The construct's own shift (the source of truth); lazy, because its module loads the CDK (seconds).
    from infra.constructs.controller import shift_cron  # noqa: PLC0415

    return [
        WindowSchedule(
            expression=shift_cron(window.cron, window.lead_minutes),
            timezone=window.timezone,
            input_template=json.dumps(
                {
                    "trigger": "schedule",
                    "window_anchor": SCHEDULED_TIME,
                    "window_seconds": (window.lead_minutes + window.window_minutes) * 60,
                }
            ),
        )
        for window in lifecycle.schedules
    ]


RECHECK_INPUT: dict[str, Any] = {"trigger": "recheck", "require_backlog": True}
BACKLOG_INPUT: dict[str, Any] = {"trigger": "backlog"}


@dataclass(frozen=True)
class Firing:
    """One execution a trigger started (simulated epoch seconds)."""

    at: float
    trigger: str
    payload: dict[str, Any]
    execution_arn: str


@dataclass
class _Timer:
    """The next instant one trigger is due and what it does then."""

    due: float
    fire: Callable[[float], float]  # does the trigger's work at the instant; returns the next due instant


class ModelTriggers:
    """The triggers of one model: one actor thread on ``clock`` (:meth:`start`), ended by :meth:`stop` or by the
    clock's halt. ``client`` makes boto3 clients against the runtime's moto."""

    def __init__(self, clock: VirtualClock, client: ClientFactory, resources: ModelResources, region: str) -> None:
        self.clock = clock
        self.resources = resources
        self.model = resources.model
        self.region = region
        self.firings: list[Firing] = []
        self.alarm_evaluations = 0
        self.backlog_rule = BacklogRule.of(self.model)
        self._sfn = client("stepfunctions")
        self._sqs = client("sqs")
        self._cloudwatch = client("cloudwatch")
        self._stop = threading.Event()
        self._alarm_state = "OK"  # moto creates alarms in OK (AWS: INSUFFICIENT_DATA, then OK when not breaching)
        self._names = itertools.count()

    # -- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the trigger thread (call as an actor of the clock, so no time passes before it runs)."""
        timers = self._timers(self.clock.now())
        thread = threading.Thread(
            target=self.clock.spawned(lambda: self._run(timers)), name=f"triggers-{self.model.name}", daemon=True
        )
        thread.start()

    def stop(self) -> None:
        """Stop firing; the thread ends at its next wake-up (at once when the clock is halted)."""
        self._stop.set()

    def _timers(self, now: float) -> list[_Timer]:
        """In the order triggers due at one instant act: windows, the alarm, the re-check."""
        timers: list[_Timer] = []
        for schedule in window_schedules(self.model):
            cron = Cron.parse(schedule.expression)
            first = cron.next_after(datetime.fromtimestamp(now, UTC) - timedelta(microseconds=1), schedule.timezone)
            timers.append(_Timer(first.timestamp(), self._window_firer(schedule, cron)))
        if has_backlog_alarm(self.model) and self.resources.backlog_alarm_name:
            timers.append(_Timer(now + ALARM_PERIOD_SECONDS, self._evaluate_alarm))
        # rate(): the first invocation when the schedule is created, then every interval.
        timers.append(_Timer(now, self._recheck))
        return timers

    def _run(self, timers: list[_Timer]) -> None:
        while not self._stop.is_set():
            now = self.clock.now()
            for timer in timers:
                if timer.due <= now:
                    timer.due = timer.fire(timer.due)
            self.clock.sleep_until(min(timer.due for timer in timers))

    # -- the triggers -----------------------------------------------------------------------------------

    def _window_firer(self, schedule: WindowSchedule, cron: Cron) -> Callable[[float], float]:
        def fire(due: float) -> float:
            instant = datetime.fromtimestamp(due, UTC)
            self._start_execution("schedule", schedule.payload(instant))
            return cron.next_after(instant, schedule.timezone).timestamp()

        return fire

    def _recheck(self, due: float) -> float:
        self._start_execution("recheck", RECHECK_INPUT)
        return due + rate_seconds(RECHECK_EXPRESSION)

    def _evaluate_alarm(self, due: float) -> float:
        self.alarm_evaluations += 1
        visible, age = self.queue_sample()
        state = "ALARM" if self.backlog_rule.breaching(visible, age) else "OK"
        if state != self._alarm_state:
            self._cloudwatch.set_alarm_state(
                AlarmName=self.resources.backlog_alarm_name,
                StateValue=state,
                StateReason=f"offline evaluation: visible {visible}, oldest {age:.0f} s",
            )
            if state == "ALARM":  # the rule matches the transition to ALARM only
                self._start_execution("backlog", BACKLOG_INPUT)
            self._alarm_state = state
        return due + ALARM_PERIOD_SECONDS

    def queue_sample(self) -> tuple[int, float]:
        """(ApproximateNumberOfMessagesVisible, ApproximateAgeOfOldestMessage in seconds) of the model's queue."""
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self.resources.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        age = oldest_message_age(self.region, self.resources.queue_url, self.clock.now())
        return int(attributes["ApproximateNumberOfMessages"]), age

    def _start_execution(self, trigger: str, payload: dict[str, Any]) -> None:
        now = self.clock.now()
        name = f"{trigger}-{datetime.fromtimestamp(now, UTC):%Y%m%dT%H%M%S}-{next(self._names)}"
        arn = self._sfn.start_execution(
            stateMachineArn=self.resources.state_machine_arn, name=name, input=json.dumps(payload)
        )["executionArn"]
        self.firings.append(Firing(now, trigger, payload, str(arn)))


def oldest_message_age(region: str, queue_url: str, now: float) -> float:
    """Seconds since the oldest message moto holds in the queue was sent (0 for an empty queue).

    Read from moto's queue directly: SQS has no API for it (CloudWatch's ``ApproximateAgeOfOldestMessage``).
    moto appends messages in the order they are sent, so the head of its list is the oldest."""
    with moto_request_lock():  # no request changes the queue meanwhile
        queue = sqs_models.sqs_backends[ACCOUNT][region].get_queue(queue_url.rsplit("/", 1)[-1])
        if not queue._messages:
            return 0.0
        head = queue._messages[0]
    sent_ms = head.sent_timestamp
    return max(0.0, now - sent_ms / 1000.0) if sent_ms is not None else 0.0


class Triggers:
    """Every model's triggers in an offline runtime, as a context manager (started on entry, stopped on exit).

    Use inside ``with OfflineRuntime(...)``: the runtime's clock halt on exit ends the threads."""

    def __init__(
        self, clock: VirtualClock, client: ClientFactory, models: dict[str, ModelResources], region: str
    ) -> None:
        self.models = {name: ModelTriggers(clock, client, resources, region) for name, resources in models.items()}

    @classmethod
    def of(cls, runtime: Any) -> Triggers:
        """The triggers of an :class:`~localrun.runtime.OfflineRuntime` (entered)."""
        return cls(runtime.clock, runtime.client, runtime.models, runtime.region)

    def start(self) -> Triggers:
        for triggers in self.models.values():
            triggers.start()
        return self

    def stop(self) -> None:
        for triggers in self.models.values():
            triggers.stop()

    @contextmanager
    def running(self) -> Iterator[Triggers]:
        self.start()
        try:
            yield self
        finally:
            self.stop()


__all__ = [
    "BACKLOG_INPUT",
    "RECHECK_INPUT",
    "SCHEDULED_TIME",
    "BacklogRule",
    "Firing",
    "ModelTriggers",
    "Triggers",
    "WindowSchedule",
    "has_backlog_alarm",
    "oldest_message_age",
    "window_schedules",
]
