"""``clp start``: a manual session of the model's controller (a StartExecution; the controller does the rest)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from clp import queries
from clp.deployment import StackContext
from clp.handling import handle_errors
from clp.options import ModelOption, RegionOption, StackOption
from clp.render import out, short_name

WindowOption = Annotated[
    int | None,
    typer.Option("--window-minutes", min=1, help="End the session this many minutes from now (default: drain)."),
]


@dataclass(frozen=True)
class Started:
    model: str
    name: str | None  # None: a session was already running, nothing started
    arn: str


def start_session(context: StackContext, model: str | None, window_minutes: int | None) -> Started:
    (target,) = context.deployment.select(model, one=True)
    sfn = context.clients("stepfunctions")
    lock = queries.read_lock(context.clients("dynamodb"), context.deployment.control_table, target.name)
    session = queries.running_session(sfn, lock)
    if session is not None:  # a second execution would only end with LockHeld
        return Started(target.name, None, session)
    payload: dict[str, Any] = {"trigger": "manual"}
    if window_minutes is not None:
        payload["window_seconds"] = window_minutes * 60
    name = f"manual-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    arn = sfn.start_execution(stateMachineArn=target.controller_arn, name=name, input=json.dumps(payload))
    return Started(target.name, name, str(arn["executionArn"]))


@handle_errors
def start_command(
    model: ModelOption = None,
    window_minutes: WindowOption = None,
    stack: StackOption = None,
    region: RegionOption = None,
) -> None:
    """Start a session of the model's controller (trigger "manual"): start the model, drain the queue, stop.

    Does nothing when a session is already running (it would end with LockHeld anyway).
    """
    started = start_session(StackContext(stack, region), model, window_minutes)
    if started.name is None:
        out.print(f"{started.model}: a session is already running ({short_name(started.arn)}); nothing started")
        return
    window = f", window {window_minutes} min" if window_minutes else ""
    out.print(f"{started.model}: started controller session {started.name}{window}", highlight=False)
    out.print(f"  {started.arn}", highlight=False)
