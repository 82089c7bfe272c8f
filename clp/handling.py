"""One place where errors become one line on stderr and an exit status (docs/cli.md, Exit status).

Commands raise :class:`clp.errors.ClpError` subclasses; boto errors are turned into
``AWS <operation> failed: <code>: <message>`` (a refused call) or botocore's own sentence (no
credentials, no region, endpoint unreachable). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

import typer
from botocore.exceptions import BotoCoreError, ClientError

from clp.errors import EXIT_ERROR, ClpError
from clp.render import err

P = ParamSpec("P")
R = TypeVar("R")


def client_error_message(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    operation = getattr(exc, "operation_name", "call")
    return f"AWS {operation} failed: {error.get('Code', 'Unknown')}: {error.get('Message', '')}"


def _fail(message: str, code: int, *, prefixed: bool = True) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}" if prefixed else message, highlight=False)
    return typer.Exit(code)


@contextmanager
def handled() -> Iterator[None]:
    """Turn the errors an operator can act on into one line and their exit status."""
    try:
        yield
    except ClpError as exc:
        raise _fail(str(exc), exc.exit_code, prefixed=exc.prefixed) from exc
    except ClientError as exc:
        raise _fail(client_error_message(exc), EXIT_ERROR) from exc
    except BotoCoreError as exc:  # no credentials, no region, endpoint unreachable
        raise _fail(str(exc), EXIT_ERROR) from exc


def handle_errors(command: Callable[P, R]) -> Callable[P, R]:
    """:func:`handled` around a whole command (typer reads the options from the wrapped signature)."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with handled():
            return command(*args, **kwargs)

    return wrapper
