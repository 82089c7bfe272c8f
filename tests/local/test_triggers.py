"""The deployed triggers, offline (localrun/triggers.py): they fire in virtual time at the instants AWS would fire
them, with the input the deployed schedule / rule sends, and the offline definitions match the synthesized ones."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from infra.config import Lifecycle, LifecycleMode, ModelConfig, PipelineConfig, Schedule
from localrun.clock import DEFAULT_EPOCH
from localrun.runtime import LOCAL_BUCKET, OfflineRuntime, RuntimeOptions
from localrun.triggers import (
    BACKLOG_INPUT,
    RECHECK_EXPRESSION,
    RECHECK_INPUT,
    SCHEDULED_TIME,
    BacklogRule,
    ModelTriggers,
    Triggers,
    window_schedules,
)
from tests.support.images import jpeg

PROJECT_ARN = "arn:aws:rekognition:us-east-1:111122223333:project/triggers/1767225600000"
VERSION_ARN = "arn:aws:rekognition:us-east-1:111122223333:project/triggers/version/triggers.1/1767225600000"
MINUTE = 60.0


def _config(lifecycle: Lifecycle) -> PipelineConfig:
    model = ModelConfig(
        name="triggers", project_arn=PROJECT_ARN, project_version_arn=VERSION_ARN, prefix="t/", lifecycle=lifecycle
    )
    return PipelineConfig(models=(model,))


@dataclass
class Run:
    runtime: OfflineRuntime
    triggers: ModelTriggers

    def at(self, seconds: float) -> None:
        """Let simulated time run until ``seconds`` after the triggers started."""
        self.runtime.clock.sleep_until(DEFAULT_EPOCH + seconds)

    def upload(self, count: int, tag: str) -> None:
        s3 = self.runtime.client("s3")
        for n in range(count):
            s3.put_object(Bucket=LOCAL_BUCKET, Key=f"t/{tag}-{n}.jpg", Body=jpeg(n))

    def fired(self, trigger: str) -> list[float]:
        return [f.at - DEFAULT_EPOCH for f in self.triggers.firings if f.trigger == trigger]

    def alarm_state(self) -> str:
        alarms = self.runtime.client("cloudwatch").describe_alarms(
            AlarmNames=[self.triggers.resources.backlog_alarm_name]
        )
        return str(alarms["MetricAlarms"][0]["StateValue"])

    def execution(self, trigger: str, index: int = 0) -> dict[str, Any]:
        arn = [f.execution_arn for f in self.triggers.firings if f.trigger == trigger][index]
        described: dict[str, Any] = self.runtime.client("stepfunctions").describe_execution(executionArn=arn)
        return described


@contextmanager
def running(lifecycle: Lifecycle, *, start_delay: float = 300.0) -> Iterator[Run]:
    options = RuntimeOptions(start_delay_seconds=start_delay, stop_delay_seconds=60.0)
    with OfflineRuntime(_config(lifecycle), options) as runtime:
        assert runtime.clock.now() == DEFAULT_EPOCH  # 2026-01-01T00:00:00Z
        triggers = Triggers.of(runtime)
        with triggers.running():
            yield Run(runtime, triggers.models["triggers"])


def test_window_schedule_fires_at_the_shifted_cron_with_the_deployed_input():
    # Given a 02:00 UTC window of 120 min with a 10-min lead (the schedule fires at 01:50)
    window = Schedule(cron="cron(0 2 * * ? *)", timezone="UTC", window_minutes=120, lead_minutes=10)
    lifecycle = Lifecycle(mode=LifecycleMode.SCHEDULED, schedules=(window,), idle_grace_seconds=0)

    with running(lifecycle) as run:
        # When simulated time runs to 01:49:59, then past 01:50:00
        run.at(109 * MINUTE + 59)
        before = run.fired("schedule")
        run.at(110 * MINUTE + 1)

        # Then nothing fired before 01:50 and one execution started at 01:50:00 sharp
        assert before == []
        assert run.fired("schedule") == [110 * MINUTE]
        # ... with the input the deployed schedule sends: the scheduled time as Scheduler renders it
        execution = run.execution("schedule")
        assert json.loads(execution["input"]) == {
            "trigger": "schedule",
            "window_anchor": "2026-01-01T01:50:00Z",
            "window_seconds": 130 * 60,
        }
        # ... which the real controller accepted: it started the model at once
        emulator = run.runtime.emulator
        assert emulator is not None
        sessions = emulator.billing(VERSION_ARN).sessions
        assert [s.start_requested_at - DEFAULT_EPOCH for s in sessions] == [110 * MINUTE]


def test_window_schedule_in_a_time_zone_fires_at_local_time_across_midnight():
    # Given a 00:05 Atlantic/Azores window (UTC-1 in January) with a 10-min lead: 23:55 local the day before,
    # 00:55 UTC
    window = Schedule(cron="cron(5 0 * * ? *)", timezone="Atlantic/Azores", window_minutes=60, lead_minutes=10)
    lifecycle = Lifecycle(mode=LifecycleMode.SCHEDULED, schedules=(window,))
    schedule = window_schedules(_config(lifecycle).models[0])[0]
    assert schedule.expression == "cron(55 23 * * ? *)"

    with running(lifecycle) as run:
        run.at(3600.0)

        assert run.fired("schedule") == [55 * MINUTE]
        assert json.loads(run.execution("schedule")["input"])["window_anchor"] == "2026-01-01T00:55:00Z"


def test_recheck_fires_every_ten_simulated_minutes_and_finds_no_backlog():
    # Given an on-demand model (its alarm exists and stays OK: nothing is uploaded)
    with running(Lifecycle(mode=LifecycleMode.ON_DEMAND)) as run:
        # When 35 simulated minutes pass
        run.at(35 * MINUTE)

        # Then the re-check fired when the triggers started and every 10 minutes after, with the deployed input
        assert run.fired("recheck") == [0.0, 600.0, 1200.0, 1800.0]
        assert all(f.payload == RECHECK_INPUT for f in run.triggers.firings)
        assert run.triggers.alarm_evaluations == 35
        # ... and the real controller read the alarm (OK) and ended without starting the model
        execution = run.execution("recheck", 3)
        assert execution["status"] == "SUCCEEDED"
        assert json.loads(execution["output"])["outcome"] == "NoBacklog"
        emulator = run.runtime.emulator
        assert emulator is not None
        assert len(emulator.billing(VERSION_ARN).sessions) == 0


def test_alarm_goes_to_alarm_on_depth_and_starts_one_execution_per_transition():
    # Given an on-demand model with a backlog threshold of 5 (age limit 45 min) and a 60-s start
    lifecycle = Lifecycle(mode=LifecycleMode.ON_DEMAND, backlog_threshold=5, latency_target_minutes=60)
    with running(lifecycle, start_delay=60.0) as run:
        # When 4 images arrive, then a fifth
        run.at(10.0)
        run.upload(4, "a")
        run.at(MINUTE + 10)
        state_at_four = run.alarm_state()
        run.upload(1, "b")
        # ... and the backlog stays while the model starts (evaluations at 2, 3 min)
        run.at(2 * MINUTE + 30)
        state_at_five = run.alarm_state()
        run.at(3 * MINUTE + 30)

        # Then the alarm stayed OK at 4 visible, went to ALARM at the evaluation after the fifth, and started
        # exactly one execution on that transition, with the rule's input
        assert state_at_four == "OK"
        assert state_at_five == "ALARM"
        assert run.fired("backlog") == [2 * MINUTE]
        assert json.loads(run.execution("backlog")["input"]) == BACKLOG_INPUT

        # When the session drains the queue (the alarm goes back to OK) and 5 more images arrive
        run.at(12 * MINUTE)
        drained = run.alarm_state()
        run.upload(5, "c")
        run.at(14 * MINUTE)

        # Then a second transition started a second execution, and only then
        assert drained == "OK"
        assert run.fired("backlog") == [2 * MINUTE, 13 * MINUTE]


def test_alarm_goes_to_alarm_on_the_age_of_the_oldest_message():
    # Given a latency target of 20 min: age limit 20 - 15 = 5 min; a threshold no upload reaches
    lifecycle = Lifecycle(mode=LifecycleMode.ON_DEMAND, backlog_threshold=100, latency_target_minutes=20)
    assert BacklogRule.of(_config(lifecycle).models[0]).age_limit_seconds == 300
    with running(lifecycle) as run:
        # When one image arrives at 5 s and waits
        run.at(5.0)
        run.upload(1, "old")
        run.at(5 * MINUTE + 30)
        at_five_minutes = run.alarm_state()
        run.at(6 * MINUTE + 30)

        # Then the evaluation at 5:00 saw it 295 s old (OK), the one at 6:00 saw 355 s (ALARM) and started one
        # execution
        assert at_five_minutes == "OK"
        assert run.alarm_state() == "ALARM"
        assert run.fired("backlog") == [6 * MINUTE]
        visible, age = run.triggers.queue_sample()
        assert (visible, age) == (1, 6 * MINUTE + 30 - 5)


def test_offline_triggers_are_the_synthesized_ones(synthesized: Any):
    # Given cdk.json's model (mode both: a window schedule, the backlog alarm and rule, the re-check)
    model = synthesized.config.models[0]
    resources = synthesized.json["Resources"]
    schedules = {
        key: value["Properties"] for key, value in resources.items() if value["Type"] == "AWS::Scheduler::Schedule"
    }
    window = next(p for p in schedules.values() if p["Description"].startswith("Start "))
    recheck = next(p for p in schedules.values() if p["Description"].startswith("Re-check "))

    # Then the window schedule fires on the same expression, in the same zone, with the same input template
    offline = window_schedules(model)
    assert len(offline) == 1
    assert offline[0].expression == window["ScheduleExpression"]
    assert offline[0].timezone == window["ScheduleExpressionTimezone"]
    assert json.loads(offline[0].input_template) == json.loads(window["Target"]["Input"])
    assert SCHEDULED_TIME in window["Target"]["Input"]
    # ... the re-check on the same rate with the same input
    assert recheck["ScheduleExpression"] == RECHECK_EXPRESSION
    assert json.loads(recheck["Target"]["Input"]) == RECHECK_INPUT
    # ... the backlog rule sends the same input, on the alarm's transition to ALARM
    rule = next(
        value["Properties"]
        for value in resources.values()
        if value["Type"] == "AWS::Events::Rule" and "aws.cloudwatch" in json.dumps(value["Properties"])
    )
    assert rule["EventPattern"]["detail"] == {"state": {"value": ["ALARM"]}}
    assert json.loads(rule["Targets"][0]["Input"]) == BACKLOG_INPUT
    # ... and the alarm evaluates the same metric math
    alarm = next(
        value["Properties"]
        for value in resources.values()
        if value["Type"] == "AWS::CloudWatch::Alarm" and "IF(visible" in json.dumps(value["Properties"])
    )
    expression = next(m["Expression"] for m in alarm["Metrics"] if "Expression" in m)
    assert expression == BacklogRule.of(model).expression


@pytest.mark.parametrize(
    ("expression", "timezone", "after", "expected"),
    [
        ("cron(55 1 * * ? *)", "UTC", "2026-01-01T01:55:00+00:00", "2026-01-02T01:55:00+00:00"),
        ("cron(0/15 9-17 ? * MON-FRI *)", "UTC", "2026-01-02T17:50:00+00:00", "2026-01-05T09:00:00+00:00"),
        # London springs forward at 01:00 UTC on 29 March 2026: 01:30 local does not exist that day
        ("cron(30 1 * * ? *)", "Europe/London", "2026-03-28T02:00:00+00:00", "2026-03-30T00:30:00+00:00"),
        # ... and falls back on 25 October: 01:30 local happens twice and fires once, the first time
        ("cron(30 1 * * ? *)", "Europe/London", "2026-10-25T00:00:00+00:00", "2026-10-25T00:30:00+00:00"),
        ("cron(30 1 * * ? *)", "Europe/London", "2026-10-25T00:30:00+00:00", "2026-10-26T01:30:00+00:00"),
    ],
)
def test_cron_next_fire_time(expression: str, timezone: str, after: str, expected: str):
    from localrun.cron import Cron

    fire = Cron.parse(expression).next_after(datetime.fromisoformat(after), timezone)

    assert fire == datetime.fromisoformat(expected).astimezone(UTC)
