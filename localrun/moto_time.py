"""Put moto, botocore's retries and JSONata on the offline runtime's :class:`~localrun.clock.VirtualClock`.

Offline only (the deployed definitions and code never change). Every place where the rehearsal's
simulated time is read or waited for outside the project's own code, and what it becomes inside
:func:`virtual_time`:

* moto's Step Functions interpreter
  - ``Wait`` states (``Seconds``) block on a real ``threading.Event``: they sleep on the virtual clock.
    (``Timestamp`` waits are left alone: the definitions here use ``Seconds`` only.)
  - ``Retry`` intervals ``time.sleep``: they sleep on the virtual clock.
  - each execution runs in a thread of its own: that thread is an actor of the clock from the moment
    ``StartExecution`` returns until the execution ends, so time cannot move while it works.
  - the program and every Task state run in a further thread that the parent joins with a real timeout
    (``TimeoutSeconds``); waiting on another thread would stall the clock, so they run inline in the
    execution's thread instead. Offline, state and execution ``TimeoutSeconds`` are therefore not enforced
    (the controller sets none on its tasks; its execution timeout is the lock TTL, longer than any session).
  - the execution's start time (``$states.context.Execution.StartTime``) is simulated time.
* JSONata: ``$millis()`` / ``$now()`` read jsonata-python's ``Timebox``: simulated time.
* moto's SQS: visibility timeouts, message delays and timestamps read ``unix_time``: simulated time.
* moto's S3: the ``time`` of the EventBridge event an upload sends (the detect result's ``uploaded_at``):
  simulated time.
* long polling: sending a message to a queue and updating an event source mapping notify the clock, so
  an event source poller waiting for either wakes at that instant (:func:`queue_channel`,
  :func:`mapping_channel`).
* botocore's retry back-off (``endpoint.py`` sleeps what the retry handler answers): simulated time,
  and the standard mode's full jitter is replaced by its mean (half the cap) so that a rehearsal is
  deterministic: the same inputs give the same timings.

Installed for the length of the ``with`` block only; not re-entrant (one rehearsal per process at a time).
"""

from __future__ import annotations

import copy
import datetime as _datetime
import threading
import time as _time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from types import SimpleNamespace
from typing import Any
from unittest.mock import patch

from botocore import endpoint
from botocore.retries import standard
from jsonata import timebox  # type: ignore[import-untyped]  # jsonata-python ships no type information
from moto.awslambda import models as lambda_models
from moto.s3 import notifications as s3_notifications
from moto.sqs import models as sqs_models
from moto.stepfunctions.parser import models as sfn_models
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.component.program.program import Program
from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

from localrun.clock import VirtualClock

_active = threading.Lock()
# The mean of botocore's full jitter rand(0, 1): deterministic back-off of half the exponential cap.
JITTER = 0.5


@contextmanager
def virtual_time(clock: VirtualClock) -> Iterator[VirtualClock]:
    """Run moto, botocore's retries and JSONata on ``clock`` while the block runs."""
    if not _active.acquire(blocking=False):
        raise RuntimeError("virtual_time is already active in this process")
    try:
        with ExitStack() as stack:
            for target, name, replacement in _patches(clock):
                stack.enter_context(patch.object(target, name, replacement))
            yield clock
    finally:
        _active.release()


_Patch = tuple[Any, str, Any]


def _patches(clock: VirtualClock) -> list[_Patch]:
    return [
        *_step_functions_patches(clock),
        *_clock_reader_patches(clock),
        *_botocore_patches(clock),
        *_notification_patches(clock),
    ]


def queue_channel(queue_name: str) -> tuple[str, str]:
    """The clock channel notified when a message is sent to ``queue_name`` (a long poll waits on it)."""
    return ("sqs", queue_name)


def mapping_channel(uuid: str) -> tuple[str, str]:
    """The clock channel notified when event source mapping ``uuid`` is updated."""
    return ("esm", uuid)


def _notification_patches(clock: VirtualClock) -> list[_Patch]:
    """Long polling: an event source poller waiting on an empty queue or a disabled mapping is woken by the
    message or the update it waits for, instead of looking again every simulated second."""
    send_message = sqs_models.SQSBackend.send_message
    update_mapping = lambda_models.LambdaBackend.update_event_source_mapping

    def sent(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        message = send_message(self, queue_name, *args, **kwargs)
        clock.notify(queue_channel(queue_name))
        return message

    def updated(self: Any, uuid: str, spec: dict[str, Any]) -> Any:
        mapping = update_mapping(self, uuid, spec)
        clock.notify(mapping_channel(uuid))
        return mapping

    return [
        (sqs_models.SQSBackend, "send_message", sent),
        (lambda_models.LambdaBackend, "update_event_source_mapping", updated),
    ]


def _time_module(clock: VirtualClock) -> SimpleNamespace:
    """A stand-in for the ``time`` module whose ``sleep`` / ``time`` are the clock's."""
    return SimpleNamespace(sleep=clock.sleep, time=clock.now, monotonic=clock.now, perf_counter=_time.perf_counter)


def _datetime_module(clock: VirtualClock) -> SimpleNamespace:
    """A stand-in for the ``datetime`` module whose ``datetime.now()`` is the clock's."""

    class VirtualDatetime(_datetime.datetime):
        @classmethod
        def now(cls, tz: _datetime.tzinfo | None = None) -> VirtualDatetime:
            return cls.fromtimestamp(clock.now(), tz)

    return SimpleNamespace(
        datetime=VirtualDatetime, timezone=_datetime.timezone, timedelta=_datetime.timedelta, date=_datetime.date
    )


def _step_functions_patches(clock: VirtualClock) -> list[_Patch]:

    def wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
        del self, env
        clock.sleep(wait_seconds)

    def program_eval(self: Any, env: Any) -> None:
        env.next_state_name = self.start_at.start_at_name
        EvalComponent.eval(self, env)

    def execute_inline(self: Any, env: Any) -> None:
        # ExecutionState._evaluate_with_timeout without its thread: same frame handling, same outputs.
        self.timeout.eval(env=env)
        env.stack.pop()  # the timeout: not enforced offline (module docstring)
        frame = env.open_frame()
        frame.states.reset(input_value=env.states.get_input())
        frame.stack = copy.deepcopy(env.stack)
        try:
            self._eval_execution(frame)
            output = frame.stack[-1]
        finally:
            frame.set_ended()
            env.close_frame(frame)
        env.stack.append(output)
        # The rest of moto's method, unchanged: the result, Assign, ResultSelector, ResultPath.
        if not self._is_language_query_jsonpath():
            env.states.set_result(output)
        if self.assign_decl:
            self.assign_decl.eval(env=env)
        if self.result_selector:
            self.result_selector.eval(env=env)
        if self.result_path:
            self.result_path.eval(env)
        else:
            env.states.reset(input_value=env.stack.pop())

    def start_worker(self: Any) -> None:
        threading.Thread(target=clock.spawned(self._execution_logic), daemon=True).start()

    return [
        (WaitFunction, "_wait_interval", wait_interval),
        (retrier_decl, "time", _time_module(clock)),
        (Program, "eval", program_eval),
        (ExecutionState, "_evaluate_with_timeout", execute_inline),
        (ExecutionWorker, "start", start_worker),
        (sfn_models, "datetime", _datetime_module(clock)),
    ]


def _clock_reader_patches(clock: VirtualClock) -> list[_Patch]:

    def millis() -> int:
        return round(clock.now() * 1000)

    return [
        (timebox.Timebox, "current_milli_time", staticmethod(millis)),
        # The "time" of the EventBridge event S3 sends for an upload: the result's uploaded_at.
        (s3_notifications, "unix_time", lambda *_: clock.now()),
        (sqs_models, "unix_time", lambda *_: clock.now()),
        (sqs_models, "unix_time_millis", lambda *_: clock.now() * 1000),
    ]


def _botocore_patches(clock: VirtualClock) -> list[_Patch]:

    original_init: Callable[..., None] = standard.ExponentialBackoff.__init__

    def deterministic_backoff(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self._random = lambda: JITTER

    return [
        (endpoint, "time", _time_module(clock)),
        (standard.ExponentialBackoff, "__init__", deterministic_backoff),
    ]


__all__ = ["JITTER", "mapping_channel", "queue_channel", "virtual_time"]
