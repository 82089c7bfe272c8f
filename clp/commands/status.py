"""``clp status``: per model, model status, queues, lock, cleanup marker, last session, recent executions."""

from __future__ import annotations

from typing import Any

from clp import queries
from clp.deployment import ModelTarget, StackContext
from clp.handling import handle_errors
from clp.options import JsonOption, ModelOption, RegionOption, StackOption
from clp.render import out, print_json, short_name
from infra import constants

_COLOURS = {"RUNNING": "yellow", "STARTING": "yellow", "STOPPING": "yellow", "STOPPED": "green"}


def model_report(context: StackContext, model: ModelTarget) -> dict[str, Any]:
    """Everything ``status`` shows about one model (also its ``--json`` document)."""
    sfn, sqs, ddb = context.clients("stepfunctions"), context.clients("sqs"), context.clients("dynamodb")
    table = context.deployment.control_table
    main, dlq = queries.queue_depth(sqs, model.queue_url), queries.queue_depth(sqs, model.dead_letter_queue_url)
    return {
        "model": model.name,
        "project_version_arn": model.project_version_arn,
        "model_status": queries.model_status(context.clients("rekognition"), sfn, model),
        "queue": {
            "visible": main.visible,
            "in_flight": main.in_flight,
            "delayed": main.delayed,
            "dead_letters": dlq.undelivered,
        },
        "lock": queries.read_lock(ddb, table, model.name),
        "cleanup": queries.read_cleanup_marker(ddb, table, model.name),
        "last_session": queries.last_session(ddb, table, model.name),
        "executions": queries.recent_executions(sfn, model),
    }


def _line(text: str) -> None:
    out.print(text, highlight=False)


def _lock_line(lock: dict[str, Any] | None) -> str:
    if lock and lock["held"]:
        stop = "; stop requested" if lock.get("stop_requested") else ""
        return (
            f"  lock: held by {short_name(lock.get('owner'))} (trigger {lock.get('trigger')}, "
            f"since {lock.get('acquired_at')}, last poll {lock.get('polled_at', '-')}){stop}"
        )
    return "  lock: expired" if lock else "  lock: free"


def _cleanup_line(marker: dict[str, Any]) -> str:
    left = [
        what
        for what, flag in (("a model it started", "model_owned"), ("the mapping enabled", "mapping_enabled"))
        if marker.get(flag)
    ]
    return (
        f"  cleanup pending: {short_name(marker.get('owner'))} left {' and '.join(left) or 'work'}"
        f" (since {marker.get('marked_at')}); the next controller execution (re-check every "
        f"{constants.CONTROLLER_RECHECK_MINUTES} min) undoes it"
    )


def _session_line(session: dict[str, Any] | None) -> str:
    if not session:
        return "  last session: none"
    return (
        f"  last session: {session.get('outcome')} ({session.get('trigger')}), running {session.get('running_at')}"
        f" → stopped {session.get('stopped_at')}, {session.get('inference_unit_seconds', 0)} IU-s, "
        f"${session.get('estimated_cost_usd', 0)}"
    )


def render_report(report: dict[str, Any]) -> None:
    status = report["model_status"]
    colour = _COLOURS.get(str(status["status"]), "red")
    units = f" ({status['inference_units']} IU)" if status.get("inference_units") else ""
    _line(f"[bold]{report['model']}[/]  model [{colour}]{status['status']}[/]{units}")
    q = report["queue"]
    _line(
        f"  queue: {q['visible']} visible, {q['in_flight']} in flight, {q['delayed']} delayed; "
        f"dead letters: {q['dead_letters']}"
    )
    lock = report["lock"]
    _line(_lock_line(lock))
    marker = report.get("cleanup")
    if marker and not (lock and lock["held"]):  # a session holding the lock is still doing its own cleanup
        _line(_cleanup_line(marker))
    _line(_session_line(report["last_session"]))
    for e in report["executions"]:
        _line(f"  execution {e['name']}  {e['status']}  {e['start']} → {e['stop'] or '…'}")


@handle_errors
def status_command(
    model: ModelOption = None,
    as_json: JsonOption = False,
    stack: StackOption = None,
    region: RegionOption = None,
) -> None:
    """Per model: model status, queue and DLQ depth, lock, last session, recent controller executions."""
    context = StackContext(stack, region)
    reports = [model_report(context, m) for m in context.deployment.select(model)]
    if as_json:
        print_json({"stack": context.deployment.stack, "models": reports})
        return
    for report in reports:
        render_report(report)
