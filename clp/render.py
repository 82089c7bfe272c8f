"""Output shared by every command: the two consoles, tables, JSON documents, the progress bar."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

# stdout carries results (one JSON document with --json); stderr carries progress and errors.
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def table(*columns: str, title: str | None = None) -> Table:
    """A table whose cells fold rather than truncate (keys and ARNs must stay readable and greppable)."""
    result = Table(title=title)
    for column in columns:
        result.add_column(column, overflow="fold")
    return result


def print_json(document: Any) -> None:
    print(json.dumps(document, default=str, ensure_ascii=False))


def short_name(arn: object) -> str:
    """An execution ARN's last part (its name), or ``?``."""
    return str(arn if arn is not None else "?").rsplit(":", 1)[-1]


def progress() -> Progress:
    """The one progress bar of every command, on stderr: description, bar, done/total, a status, elapsed."""
    return Progress(
        TextColumn("[bold]{task.description:>9}"),
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=err,
    )


def add_task(bar: Progress, description: str, total: float | None, status: str = "") -> TaskID:
    """A task of :func:`progress` (every task has the ``status`` field its columns show)."""
    return bar.add_task(description, total=total, status=status)
