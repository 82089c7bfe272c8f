"""``clp stop``: ask the running controller session to wind down (``stop_requested`` on its lock item)."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from clp import queries
from clp.deployment import ModelTarget, StackContext
from clp.errors import ClpError, NotDoneError
from clp.handling import handle_errors
from clp.options import ModelOption, RegionOption, StackOption
from clp.render import err, out, short_name

WaitOption = Annotated[bool, typer.Option("--wait", help="Wait until the session has ended.")]
TimeoutOption = Annotated[float, typer.Option("--timeout", min=1.0, help="Seconds to --wait at most.")]
_ACTIVE = ("RUNNING", "STARTING")


def wait_for(sfn: Any, execution_arn: str, timeout: float) -> str:
    """The execution's final status, polled every second for at most ``timeout`` seconds."""
    began = time.monotonic()
    with err.status("waiting for the session to stop the model and end…"):
        while True:
            status = queries.execution_status(sfn, execution_arn)
            if status != "RUNNING":
                return status
            if time.monotonic() - began > timeout:
                raise ClpError(f"session still RUNNING after {timeout:.0f} s (the stop request stands)")
            time.sleep(1.0)


def _not_stopped(context: StackContext, target: ModelTarget, lock: dict[str, Any] | None, status: str) -> str:
    """Why a running model without a session is left running: who started it, and what happens next."""
    marker = queries.read_cleanup_marker(context.clients("dynamodb"), context.deployment.control_table, target.name)
    if (lock and lock.get("model_owned")) or (marker and marker.get("model_owned")):
        reason = (
            "a controller session started it and ended without confirming the stop; the next trigger adopts "
            "and stops it (`clp start` adopts it now)"
        )
    else:
        reason = "started outside the controller; not stopped (the controller never stops a model it did not start)"
    return f"{target.name}: no controller session is running, but the model is {status}: {reason}"


def stop_session(context: StackContext, model: str | None, *, wait: bool, timeout: float) -> None:
    (target,) = context.deployment.select(model, one=True)
    sfn, ddb = context.clients("stepfunctions"), context.clients("dynamodb")
    table = context.deployment.control_table
    lock = queries.read_lock(ddb, table, target.name)
    session = queries.running_session(sfn, lock)
    if session is not None and queries.request_stop(ddb, table, target.name, session):
        out.print(
            f"{target.name}: stop requested for session {short_name(session)}; it winds down at its next queue poll",
            highlight=False,
        )
        if wait:
            out.print(f"{target.name}: session ended {wait_for(sfn, session, timeout)}", highlight=False)
        return
    status = queries.model_status(context.clients("rekognition"), sfn, target)["status"]
    if status in _ACTIVE:
        raise NotDoneError(_not_stopped(context, target, lock, status))
    out.print(f"{target.name}: no controller session is running; model {status}: nothing to stop", highlight=False)


@handle_errors
def stop_command(
    model: ModelOption = None,
    wait: WaitOption = False,
    timeout: TimeoutOption = 1800.0,
    stack: StackOption = None,
    region: RegionOption = None,
) -> None:
    """Ask the running controller session to wind down at its next queue poll (mapping off, model stopped, ledger).

    Exit 3 when the model runs without a controller session: it is not stopped (see docs/cli.md).
    """
    stop_session(StackContext(stack, region), model, wait=wait, timeout=timeout)
