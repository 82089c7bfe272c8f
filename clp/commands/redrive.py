"""``clp redrive``: move the dead-letter queue's messages back to the detect queue.

Receive, send, then delete only what was sent: a message SQS refused stays on the DLQ. SQS's own
``StartMessageMoveTask`` would do this server-side, but moto (the tests' AWS) does not implement it.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from clp import queries
from clp.deployment import StackContext
from clp.handling import handle_errors
from clp.options import ModelOption, RegionOption, StackOption
from clp.render import add_task, err, out, progress

DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Only count the dead letters.")]
BATCH = 10  # ReceiveMessage's and SendMessageBatch's maximum


def _entries(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    entries = []
    for index, message in enumerate(messages):
        entry: dict[str, Any] = {"Id": str(index), "MessageBody": message["Body"]}
        if message.get("MessageAttributes"):
            entry["MessageAttributes"] = message["MessageAttributes"]
        entries.append(entry)
    return entries


def redrive_batch(sqs: Any, source: str, destination: str) -> int:
    """Move one batch (up to 10): send to ``destination``, then delete from ``source`` what was sent."""
    messages = sqs.receive_message(
        QueueUrl=source,
        MaxNumberOfMessages=BATCH,
        MessageAttributeNames=["All"],
        VisibilityTimeout=60,
        WaitTimeSeconds=1,  # long polling asks every SQS server: an empty answer means the DLQ is empty
    ).get("Messages", [])
    if not messages:
        return 0
    sent = sqs.send_message_batch(QueueUrl=destination, Entries=_entries(messages))
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


def move_all(sqs: Any, source: str, destination: str, total: int) -> int:
    """Batches until the source is empty, with the progress bar; the number moved."""
    moved = 0
    with progress() as bar:
        task = add_task(bar, "redrive", total)
        while count := redrive_batch(sqs, source, destination):
            moved += count
            bar.update(task, completed=moved, total=max(total, moved))
    return moved


@handle_errors
def redrive_command(
    model: ModelOption = None,
    dry_run: DryRunOption = False,
    stack: StackOption = None,
    region: RegionOption = None,
) -> None:
    """Move the dead-letter queue's messages back to the detect queue (receive, send, delete in batches of 10)."""
    context = StackContext(stack, region)
    (target,) = context.deployment.select(model, one=True)
    sqs = context.clients("sqs")
    total = queries.queue_depth(sqs, target.dead_letter_queue_url).visible
    if dry_run:
        out.print(f"{target.name}: {total} messages on the dead-letter queue (dry run: nothing moved)")
        return
    moved = move_all(sqs, target.dead_letter_queue_url, target.queue_url, total)
    out.print(f"{target.name}: moved {moved} messages from the dead-letter queue to the detect queue", highlight=False)
