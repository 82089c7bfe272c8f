"""Operator commands against a deployed stack: ``clp status``, ``start``, ``stop``, ``results``, ``cost``,
``redrive``.

Everything is found from the stack's ``PipelineManifest`` CloudFormation output (infra/stack.py). Start
and stop go through the model's controller state machine, so the lock and the session ledger stay true:
``start`` is a StartExecution (trigger ``manual``); ``stop`` sets ``stop_requested`` on the running
session's lock item, which the controller reads at every queue poll (docs/controller.md).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

import boto3
import typer
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from clp.ops_errors import OpsError, StackNotFoundError
from infra import constants
from infra.config import DEFAULT_CDK_JSON

MANIFEST_OUTPUT = "PipelineManifest"
FALLBACK_STACK_NAME = "CustomLabelsPipeline"
EXIT_ERROR = 1
EXIT_NOT_DONE = 3
RECENT_EXECUTIONS = 5

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
_deserializer = TypeDeserializer()


def default_stack_name() -> str:
    """``pipeline.stack_name`` of cdk.json (the stack ``make deploy`` creates)."""
    try:
        context = json.loads(DEFAULT_CDK_JSON.read_text(encoding="utf-8"))["context"]
        return str(context["pipeline"].get("stack_name", FALLBACK_STACK_NAME))
    except (OSError, KeyError, TypeError, json.JSONDecodeError):
        return FALLBACK_STACK_NAME


StackOption = Annotated[
    str | None, typer.Option("--stack", help="CloudFormation stack name (default: cdk.json's pipeline.stack_name).")
]
RegionOption = Annotated[str | None, typer.Option("--region", help="AWS region (default: your AWS configuration).")]
ModelOption = Annotated[str | None, typer.Option("--model", help="Model name (default: all models, or the only one).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout (for scripts).")]


# -- the deployment ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelTarget:
    """One model of the deployed stack (an entry of the manifest's ``models``)."""

    name: str
    prefix: str
    project_version_arn: str
    queue_url: str
    dead_letter_queue_url: str
    function: str
    event_source_mapping_id: str
    controller_arn: str
    # In the manifest since the backfill release; None for a stack deployed before (read from the controller).
    project_arn: str | None = None


@dataclass(frozen=True)
class Deployment:
    stack: str
    bucket: str
    results_table: str
    control_table: str
    models: dict[str, ModelTarget]

    def select(self, name: str | None, *, one: bool = False) -> list[ModelTarget]:
        """The named model, or every model; ``one`` requires a single model (``--model`` when several)."""
        known = ", ".join(sorted(self.models)) or "none"
        if name is not None:
            if name not in self.models:
                raise OpsError(f"unknown model {name!r} in stack {self.stack} (known: {known})")
            return [self.models[name]]
        if one and len(self.models) != 1:
            raise OpsError(f"stack {self.stack} has several models: choose one with --model (known: {known})")
        return [self.models[key] for key in sorted(self.models)]


def read_deployment(cloudformation: Any, stack: str) -> Deployment:
    """The stack's ``PipelineManifest`` output, parsed."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        error = exc.response["Error"]
        if error.get("Code") == "ValidationError" and "does not exist" in error.get("Message", ""):
            raise StackNotFoundError(f"stack {stack!r} does not exist (check --stack and --region)") from exc
        raise
    outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in stacks[0].get("Outputs", [])}
    if MANIFEST_OUTPUT not in outputs:
        raise OpsError(f"stack {stack!r} has no {MANIFEST_OUTPUT} output: not a Custom Labels Pipeline stack?")
    try:
        manifest = json.loads(outputs[MANIFEST_OUTPUT])
        models = {
            name: ModelTarget(
                name=name,
                prefix=m["prefix"],
                project_version_arn=m["project_version_arn"],
                queue_url=m["queue_url"],
                dead_letter_queue_url=m["dead_letter_queue_url"],
                function=m["function"],
                event_source_mapping_id=m["event_source_mapping_id"],
                controller_arn=m["controller_state_machine_arn"],
                project_arn=m.get("project_arn"),
            )
            for name, m in manifest["models"].items()
        }
        return Deployment(
            stack=stack,
            bucket=manifest["bucket"],
            results_table=manifest["results_table"],
            control_table=manifest["control_table"],
            models=models,
        )
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise OpsError(f"stack {stack!r}: {MANIFEST_OUTPUT} output is malformed ({exc!r})") from exc


@contextmanager
def handled() -> Iterator[None]:
    """One-line errors with a non-zero exit, for the errors an operator can act on."""
    try:
        yield
    except OpsError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(EXIT_ERROR) from exc
    except ClientError as exc:
        error = exc.response.get("Error", {})
        operation = getattr(exc, "operation_name", "call")
        err.print(
            f"[bold red]error:[/] AWS {operation} failed: {error.get('Code', 'Unknown')}: {error.get('Message', '')}",
            highlight=False,
        )
        raise typer.Exit(EXIT_ERROR) from exc
    except BotoCoreError as exc:  # no credentials, no region, endpoint unreachable
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(EXIT_ERROR) from exc


class Clients:
    """boto3 clients, created once per command (lazily: a command only builds the ones it uses)."""

    def __init__(self, region: str | None) -> None:
        self._session = boto3.session.Session(region_name=region) if region else boto3.session.Session()
        self._clients: dict[str, Any] = {}

    def __call__(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._session.client(service)  # type: ignore[call-overload]
        return self._clients[service]


def _deployment(clients: Clients, stack: str | None) -> Deployment:
    return read_deployment(clients("cloudformation"), stack or default_stack_name())


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as JSON-friendly Python values (numbers as int or float)."""

    def convert(value: Any) -> Any:
        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else float(value)
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, list | set | tuple):
            return [convert(v) for v in value]
        return value

    return {k: convert(_deserializer.deserialize(v)) for k, v in item.items()}


def _table(*columns: str, title: str | None = None) -> Table:
    """A table whose cells fold rather than truncate (keys and ARNs must stay readable and greppable)."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _print_json(document: Any) -> None:
    print(json.dumps(document, default=str, ensure_ascii=False))


# -- model status (Rekognition), lock, ledger, executions ---------------------------------------------

_VERSION_ARN = re.compile(r"^arn:[^:]+:rekognition:[^:]*:\d*:project/[^/]+/version/(?P<version>[^/]+)/\d+$")


def project_arn_of(sfn: Any, model: ModelTarget) -> str:
    """The project ARN (not derivable from the version ARN: the project has its own timestamp): from the
    manifest, or, for a stack deployed before the manifest carried it, from the controller's definition,
    where DescribeProjectVersions names it."""
    if model.project_arn:
        return model.project_arn
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=model.controller_arn)["definition"])
    for state in definition.get("States", {}).values():
        if str(state.get("Resource", "")).endswith(":rekognition:describeProjectVersions"):
            return str(state["Arguments"]["ProjectArn"])
    raise OpsError(f"model {model.name}: cannot find the project ARN in its controller definition")


def model_status(rekognition: Any, sfn: Any, model: ModelTarget) -> dict[str, Any]:
    """Status of the model version (DescribeProjectVersions), with its inference units."""
    match = _VERSION_ARN.match(model.project_version_arn)
    if match is None:
        raise OpsError(f"model {model.name}: not a project version ARN: {model.project_version_arn}")
    response = rekognition.describe_project_versions(
        ProjectArn=project_arn_of(sfn, model), VersionNames=[match["version"]]
    )
    descriptions = response.get("ProjectVersionDescriptions", [])
    if not descriptions:
        return {"status": "NOT_FOUND", "message": None, "inference_units": None}
    d = descriptions[0]
    return {
        "status": d.get("Status"),
        "message": d.get("StatusMessage"),
        "inference_units": d.get("MinInferenceUnits"),
        "max_inference_units": d.get("MaxInferenceUnits"),
    }


def queue_depth(sqs: Any, model: ModelTarget) -> dict[str, int]:
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    main = sqs.get_queue_attributes(QueueUrl=model.queue_url, AttributeNames=names)["Attributes"]
    dlq = sqs.get_queue_attributes(QueueUrl=model.dead_letter_queue_url, AttributeNames=names)["Attributes"]
    return {
        "visible": int(main.get("ApproximateNumberOfMessages", 0)),
        "in_flight": int(main.get("ApproximateNumberOfMessagesNotVisible", 0)),
        "delayed": int(main.get("ApproximateNumberOfMessagesDelayed", 0)),
        "dead_letters": int(dlq.get("ApproximateNumberOfMessages", 0))
        + int(dlq.get("ApproximateNumberOfMessagesNotVisible", 0)),
    }


def lock_key(model: str) -> dict[str, Any]:
    return {"pk": {"S": f"MODEL#{model}"}, "sk": {"S": constants.CONTROL_TABLE_LOCK_SK}}


def read_cleanup_marker(ddb: Any, table: str, model: str) -> dict[str, Any] | None:
    """The controller's cleanup marker: what a session left to undo (``model_owned``, ``mapping_enabled``)."""
    key = {"pk": {"S": f"MODEL#{model}"}, "sk": {"S": constants.CONTROL_TABLE_CLEANUP_SK}}
    item = ddb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    if not item:
        return None
    marker = _plain(item)
    marker.pop("pk", None)
    marker.pop("sk", None)
    return marker


def read_lock(ddb: Any, table: str, model: str, now: float | None = None) -> dict[str, Any] | None:
    """The lock item, with ``held`` (present and not expired)."""
    item = ddb.get_item(TableName=table, Key=lock_key(model), ConsistentRead=True).get("Item")
    if not item:
        return None
    lock = _plain(item)
    lock.pop("pk", None)
    lock.pop("sk", None)
    lock["held"] = int(lock.get("expires_at", 0)) >= int(now if now is not None else time.time())
    return lock


def last_session(ddb: Any, table: str, model: str) -> dict[str, Any] | None:
    items = ddb.query(
        TableName=table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :s)",
        ExpressionAttributeValues={":pk": {"S": f"MODEL#{model}"}, ":s": {"S": "SESSION#"}},
        ScanIndexForward=False,
        Limit=1,
    )["Items"]
    return _plain(items[0]) if items else None


def recent_executions(sfn: Any, model: ModelTarget, count: int = RECENT_EXECUTIONS) -> list[dict[str, Any]]:
    executions = sfn.list_executions(stateMachineArn=model.controller_arn, maxResults=count)["executions"]
    executions.sort(key=lambda e: e["startDate"], reverse=True)
    return [
        {
            "name": e["name"],
            "status": e["status"],
            "start": e["startDate"].isoformat(),
            "stop": e["stopDate"].isoformat() if e.get("stopDate") else None,
        }
        for e in executions[:count]
    ]


def model_report(clients: Clients, deployment: Deployment, model: ModelTarget) -> dict[str, Any]:
    sfn = clients("stepfunctions")
    return {
        "model": model.name,
        "project_version_arn": model.project_version_arn,
        "model_status": model_status(clients("rekognition"), sfn, model),
        "queue": queue_depth(clients("sqs"), model),
        "lock": read_lock(clients("dynamodb"), deployment.control_table, model.name),
        "cleanup": read_cleanup_marker(clients("dynamodb"), deployment.control_table, model.name),
        "last_session": last_session(clients("dynamodb"), deployment.control_table, model.name),
        "executions": recent_executions(sfn, model),
    }


def _render_status(report: dict[str, Any]) -> None:
    status = report["model_status"]
    colour = {"RUNNING": "yellow", "STARTING": "yellow", "STOPPING": "yellow", "STOPPED": "green"}.get(
        str(status["status"]), "red"
    )
    units = f" ({status['inference_units']} IU)" if status.get("inference_units") else ""
    out.print(f"[bold]{report['model']}[/]  model [{colour}]{status['status']}[/]{units}", highlight=False)
    q = report["queue"]
    out.print(
        f"  queue: {q['visible']} visible, {q['in_flight']} in flight, {q['delayed']} delayed; "
        f"dead letters: {q['dead_letters']}",
        highlight=False,
    )
    lock = report["lock"]
    if lock and lock["held"]:
        stop = "; stop requested" if lock.get("stop_requested") else ""
        out.print(
            f"  lock: held by {str(lock.get('owner', '?')).rsplit(':', 1)[-1]} (trigger {lock.get('trigger')}, "
            f"since {lock.get('acquired_at')}, last poll {lock.get('polled_at', '-')}){stop}",
            highlight=False,
        )
    elif lock:
        out.print("  lock: expired", highlight=False)
    else:
        out.print("  lock: free", highlight=False)
    marker = report.get("cleanup")
    if marker and not (lock and lock["held"]):
        left = [
            what
            for what, flag in (("a model it started", "model_owned"), ("the mapping enabled", "mapping_enabled"))
            if marker.get(flag)
        ]
        out.print(
            f"  cleanup pending: {str(marker.get('owner', '?')).rsplit(':', 1)[-1]} left {' and '.join(left) or 'work'}"
            f" (since {marker.get('marked_at')}); the next controller execution (re-check every "
            f"{constants.CONTROLLER_RECHECK_MINUTES} min) undoes it",
            highlight=False,
        )
    session = report["last_session"]
    if session:
        out.print(
            f"  last session: {session.get('outcome')} ({session.get('trigger')}), running {session.get('running_at')}"
            f" → stopped {session.get('stopped_at')}, {session.get('inference_unit_seconds', 0)} IU-s, "
            f"${session.get('estimated_cost_usd', 0)}",
            highlight=False,
        )
    else:
        out.print("  last session: none", highlight=False)
    for e in report["executions"]:
        out.print(f"  execution {e['name']}  {e['status']}  {e['start']} → {e['stop'] or '…'}", highlight=False)


def status_command(
    model: ModelOption = None,
    as_json: JsonOption = False,
    stack: StackOption = None,
    region: RegionOption = None,
) -> None:
    """Per model: model status, queue and DLQ depth, lock, last session, recent controller executions."""
    with handled():
        clients = Clients(region)
        deployment = _deployment(clients, stack)
        reports = [model_report(clients, deployment, m) for m in deployment.select(model)]
    if as_json:
        _print_json({"stack": deployment.stack, "models": reports})
        return
    for report in reports:
        _render_status(report)


# -- start / stop -----------------------------------------------------------------------------------


def running_session(sfn: Any, lock: dict[str, Any] | None) -> str | None:
    """The execution ARN of the session holding the lock, if it is still running."""
    if not lock or not lock["held"] or not lock.get("owner"):
        return None
    try:
        described = sfn.describe_execution(executionArn=lock["owner"])
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ExecutionDoesNotExist":
            return None
        raise
    return str(lock["owner"]) if described["status"] == "RUNNING" else None


def start_command(
    model: ModelOption = None,
    window_minutes: Annotated[
        int | None,
        typer.Option("--window-minutes", min=1, help="End the session this many minutes from now (default: drain)."),
    ] = None,
    stack: StackOption = None,
    region: RegionOption = None,
) -> None:
    """Start a session of the model's controller (trigger "manual"): start the model, drain the queue, stop.

    Does nothing when a session is already running (it would end with LockHeld anyway).
    """
    with handled():
        clients = Clients(region)
        deployment = _deployment(clients, stack)
        (target,) = deployment.select(model, one=True)
        sfn = clients("stepfunctions")
        lock = read_lock(clients("dynamodb"), deployment.control_table, target.name)
        session = running_session(sfn, lock)
        if session is not None:
            out.print(f"{target.name}: a session is already running ({session.rsplit(':', 1)[-1]}); nothing started")
            return
        payload: dict[str, Any] = {"trigger": "manual"}
        if window_minutes is not None:
            payload["window_seconds"] = window_minutes * 60
        name = f"manual-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        arn = sfn.start_execution(stateMachineArn=target.controller_arn, name=name, input=json.dumps(payload))[
            "executionArn"
        ]
    window = f", window {window_minutes} min" if window_minutes else ""
    out.print(f"{target.name}: started controller session {name}{window}", highlight=False)
    out.print(f"  {arn}", highlight=False)


def request_stop(ddb: Any, table: str, model: str, owner: str) -> bool:
    """Set ``stop_requested`` on the lock of session ``owner``; ``False`` if that session no longer holds it."""
    try:
        ddb.update_item(
            TableName=table,
            Key=lock_key(model),
            UpdateExpression="SET stop_requested = :true, operator_stop_at = :at",
            ConditionExpression="#owner = :owner AND expires_at >= :now",
            ExpressionAttributeNames={"#owner": "owner"},
            ExpressionAttributeValues={
                ":true": {"BOOL": True},
                ":at": {"S": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")},
                ":owner": {"S": owner},
                ":now": {"N": str(int(time.time()))},
            },
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _wait_for(sfn: Any, execution_arn: str, timeout: float) -> str:
    began = time.monotonic()
    with err.status("waiting for the session to stop the model and end…"):
        while True:
            status = str(sfn.describe_execution(executionArn=execution_arn)["status"])
            if status != "RUNNING":
                return status
            if time.monotonic() - began > timeout:
                raise OpsError(f"session still RUNNING after {timeout:.0f} s (the stop request stands)")
            time.sleep(1.0)


def stop_command(
    model: ModelOption = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the session has ended.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", min=1.0, help="Seconds to --wait at most.")] = 1800.0,
    stack: StackOption = None,
    region: RegionOption = None,
) -> None:
    """Ask the running controller session to wind down at its next queue poll (mapping off, model stopped, ledger).

    Exit 3 when the model runs without a controller session: it is not stopped (see docs/cli.md).
    """
    with handled():
        clients = Clients(region)
        deployment = _deployment(clients, stack)
        (target,) = deployment.select(model, one=True)
        sfn, ddb = clients("stepfunctions"), clients("dynamodb")
        lock = read_lock(ddb, deployment.control_table, target.name)
        session = running_session(sfn, lock)
        if session is not None and request_stop(ddb, deployment.control_table, target.name, session):
            out.print(
                f"{target.name}: stop requested for session {session.rsplit(':', 1)[-1]}; it winds down at its next "
                "queue poll",
                highlight=False,
            )
            if wait:
                final = _wait_for(sfn, session, timeout)
                out.print(f"{target.name}: session ended {final}", highlight=False)
            return
        status = model_status(clients("rekognition"), sfn, target)["status"]
    if status in ("RUNNING", "STARTING"):
        marker = read_cleanup_marker(ddb, deployment.control_table, target.name)
        if (lock and lock.get("model_owned")) or (marker and marker.get("model_owned")):
            reason = (
                "a controller session started it and ended without confirming the stop; the next trigger adopts "
                "and stops it (`clp start` adopts it now)"
            )
        else:
            reason = "started outside the controller; not stopped (the controller never stops a model it did not start)"
        err.print(f"{target.name}: no controller session is running, but the model is {status}: {reason}")
        raise typer.Exit(EXIT_NOT_DONE)
    out.print(f"{target.name}: no controller session is running; model {status}: nothing to stop", highlight=False)


# -- results ----------------------------------------------------------------------------------------


def results_by_key(ddb: Any, table: str, bucket: str, key: str, model: ModelTarget | None) -> list[dict[str, Any]]:
    """Every result of one image (all versions; one model or all), by partition key."""
    prefix = f"RESULT#{model.project_version_arn}#" if model else "RESULT#"
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :s)",
        "ExpressionAttributeValues": {":pk": {"S": f"OBJ#{bucket}/{key}"}, ":s": {"S": prefix}},
    }
    while True:
        page = ddb.query(**kwargs)
        items += [_plain(i) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def results_by_label(
    ddb: Any, table: str, model: str, label: str, *, min_confidence: float | None, limit: int, by: str
) -> list[dict[str, Any]]:
    """Images with ``label``: best first (by_label_confidence) or newest first (by_label_time)."""
    values: dict[str, Any] = {":lk": {"S": f"{model}#{label}"}}
    condition = "label_key = :lk"
    kwargs: dict[str, Any] = {"TableName": table, "ScanIndexForward": False}
    if by == "confidence":
        kwargs["IndexName"] = "by_label_confidence"
        if min_confidence is not None:
            condition += " AND confidence_sort >= :c"
            values[":c"] = {"N": str(min_confidence)}
    else:
        kwargs["IndexName"] = "by_label_time"
        if min_confidence is not None:  # not a key on this index
            kwargs["FilterExpression"] = "confidence_sort >= :c"
            values[":c"] = {"N": str(min_confidence)}
    kwargs["KeyConditionExpression"] = condition
    kwargs["ExpressionAttributeValues"] = values
    items: list[dict[str, Any]] = []
    while len(items) < limit:
        kwargs["Limit"] = limit - len(items)
        page = ddb.query(**kwargs)
        items += [_plain(i) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return items[:limit]


def _result_row(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": item.get("key"),
        "model": item.get("model_name"),
        "status": item.get("status"),
        "reason": item.get("reason"),
        "labels": [{"name": lb.get("name"), "confidence": lb.get("confidence")} for lb in item.get("labels", [])],
        "object_version": item.get("object_version"),
        "detected_at": item.get("detected_at"),
        "result_id": item.get("result_id"),
    }


def _label_row(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": item.get("key"),
        "model": item.get("model_name"),
        "label": item.get("label"),
        "confidence": item.get("confidence"),
        "object_version": item.get("object_version"),
        "detected_at": item.get("detected_at"),
    }


def results_command(
    key: Annotated[
        str | None, typer.Option("--key", help="Object key in the uploads bucket: every result of it.")
    ] = None,
    label: Annotated[str | None, typer.Option("--label", help="Label name: the images that have it.")] = None,
    model: ModelOption = None,
    min_confidence: Annotated[
        float | None,
        typer.Option("--min-confidence", min=0.0, max=100.0, help="With --label: at least this confidence."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=1000, help="With --label: at most this many images.")
    ] = 50,
    by: Annotated[
        str, typer.Option("--by", help="With --label: 'confidence' (best first) or 'time' (newest first).")
    ] = "confidence",
    as_json: JsonOption = False,
    stack: StackOption = None,
    region: RegionOption = None,
) -> None:
    """Query the results table by image (--key) or by label (--label), without a scan."""
    if (key is None) == (label is None):
        err.print("[bold red]error:[/] give exactly one of --key or --label", highlight=False)
        raise typer.Exit(2)
    if by not in ("confidence", "time"):
        err.print(f"[bold red]error:[/] --by must be 'confidence' or 'time', not {by!r}", highlight=False)
        raise typer.Exit(2)
    with handled():
        clients = Clients(region)
        deployment = _deployment(clients, stack)
        ddb = clients("dynamodb")
        if key is not None:
            target = deployment.select(model)[0] if model else None
            rows = [
                _result_row(i) for i in results_by_key(ddb, deployment.results_table, deployment.bucket, key, target)
            ]
        else:
            assert label is not None
            (target,) = deployment.select(model, one=True)
            rows = [
                _label_row(i)
                for i in results_by_label(
                    ddb, deployment.results_table, target.name, label, min_confidence=min_confidence, limit=limit, by=by
                )
            ]
    if as_json:
        _print_json({"results": rows})
        return
    if not rows:
        out.print("no results")
        return
    if key is not None:
        table = _table("model", "status", "labels / reason", "object version", "detected at")
        for row in rows:
            labels = ", ".join(f"{lb['name']} {lb['confidence']:.1f}" for lb in row["labels"]) or (row["reason"] or "")
            table.add_row(row["model"], row["status"], labels, row["object_version"], row["detected_at"])
    else:
        table = _table("key", "confidence", "detected at", title=f"{label} · model {rows[0]['model']}")
        for row in rows:
            table.add_row(row["key"], f"{row['confidence']:.1f}", row["detected_at"])
    out.print(table)


# -- cost -------------------------------------------------------------------------------------------


def sessions_since(ddb: Any, table: str, model: str, since: date | None) -> list[dict[str, Any]]:
    """Ledger items of ``model`` (sort key ``SESSION#<ISO start>#<name>``), from ``since`` on."""
    values: dict[str, Any] = {":pk": {"S": f"MODEL#{model}"}}
    if since is None:
        condition = "pk = :pk AND begins_with(sk, :s)"
        values[":s"] = {"S": "SESSION#"}
    else:
        condition = "pk = :pk AND sk BETWEEN :from AND :to"
        values[":from"] = {"S": f"SESSION#{since.isoformat()}"}
        values[":to"] = {"S": "SESSION$"}  # '$' sorts right after '#': every SESSION# key
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": values,
    }
    items: list[dict[str, Any]] = []
    while True:
        page = ddb.query(**kwargs)
        items += [_plain(i) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def cost_summary(sessions_by_model: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for name, sessions in sessions_by_model.items():
        iu_seconds = sum(float(s.get("inference_unit_seconds", 0)) for s in sessions)
        rows.append(
            {
                "model": name,
                "sessions": len(sessions),
                "inference_unit_hours": round(iu_seconds / 3600, 4),
                "estimated_cost_usd": round(sum(float(s.get("estimated_cost_usd", 0)) for s in sessions), 4),
            }
        )
    return {
        "models": rows,
        "total": {
            "sessions": sum(r["sessions"] for r in rows),
            "inference_unit_hours": round(sum(r["inference_unit_hours"] for r in rows), 4),
            "estimated_cost_usd": round(sum(r["estimated_cost_usd"] for r in rows), 4),
        },
    }


def cost_command(
    since: Annotated[
        datetime | None, typer.Option("--since", formats=["%Y-%m-%d"], help="Sessions started on or after this date.")
    ] = None,
    model: ModelOption = None,
    as_json: JsonOption = False,
    stack: StackOption = None,
    region: RegionOption = None,
) -> None:
    """Sessions, inference-unit hours and estimated dollars, from the session ledger (the controller's estimate)."""
    with handled():
        clients = Clients(region)
        deployment = _deployment(clients, stack)
        ddb = clients("dynamodb")
        by_model = {
            m.name: sessions_since(ddb, deployment.control_table, m.name, since.date() if since else None)
            for m in deployment.select(model)
        }
    summary = cost_summary(by_model)
    if as_json:
        _print_json({"since": since.date().isoformat() if since else None, **summary})
        return
    title = f"since {since:%Y-%m-%d}" if since else "all sessions"
    table = _table("model", "sessions", "IU-hours", "estimated $", title=title)
    for row in summary["models"]:
        table.add_row(
            row["model"], str(row["sessions"]), f"{row['inference_unit_hours']:.3f}", f"{row['estimated_cost_usd']:.2f}"
        )
    total = summary["total"]
    table.add_row(
        "[bold]total[/]",
        str(total["sessions"]),
        f"{total['inference_unit_hours']:.3f}",
        f"{total['estimated_cost_usd']:.2f}",
    )
    out.print(table)


# -- redrive ----------------------------------------------------------------------------------------


def _depth(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def redrive_batch(sqs: Any, source: str, destination: str) -> int:
    """Move one batch (up to 10): send to ``destination``, then delete from ``source`` what was sent."""
    messages = sqs.receive_message(
        QueueUrl=source,
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
        VisibilityTimeout=60,
        WaitTimeSeconds=1,  # long polling asks every SQS server: an empty answer means the DLQ is empty
    ).get("Messages", [])
    if not messages:
        return 0
    entries = []
    for index, message in enumerate(messages):
        entry: dict[str, Any] = {"Id": str(index), "MessageBody": message["Body"]}
        if message.get("MessageAttributes"):
            entry["MessageAttributes"] = message["MessageAttributes"]
        entries.append(entry)
    sent = sqs.send_message_batch(QueueUrl=destination, Entries=entries)
    ok = {e["Id"] for e in sent.get("Successful", [])}
    if sent.get("Failed"):
        codes = ", ".join(sorted({f.get("Code", "?") for f in sent["Failed"]}))
        err.print(f"[yellow]warning:[/] {len(sent['Failed'])} messages not sent ({codes}); left on the DLQ")
    to_delete = [
        {"Id": str(index), "ReceiptHandle": m["ReceiptHandle"]} for index, m in enumerate(messages) if str(index) in ok
    ]
    if to_delete:
        sqs.delete_message_batch(QueueUrl=source, Entries=to_delete)
    return len(to_delete)


def redrive_command(
    model: ModelOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count the dead letters.")] = False,
    stack: StackOption = None,
    region: RegionOption = None,
) -> None:
    """Move the dead-letter queue's messages back to the detect queue (receive, send, delete in batches of 10)."""
    with handled():
        clients = Clients(region)
        deployment = _deployment(clients, stack)
        (target,) = deployment.select(model, one=True)
        sqs = clients("sqs")
        total = _depth(sqs, target.dead_letter_queue_url)
        if dry_run:
            out.print(f"{target.name}: {total} messages on the dead-letter queue (dry run: nothing moved)")
            return
        moved = 0
        with Progress(
            TextColumn("[bold]redrive"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("redrive", total=total)
            while True:
                count = redrive_batch(sqs, target.dead_letter_queue_url, target.queue_url)
                if count == 0:
                    break
                moved += count
                bar.update(task, completed=moved, total=max(total, moved))
    out.print(f"{target.name}: moved {moved} messages from the dead-letter queue to the detect queue", highlight=False)
