"""Answer botocore calls in-process: a ``before-call`` handler registered for every session.

botocore emits ``before-call.<service>.<Operation>`` right before sending a request; a handler returning
``(http_response, parsed)`` short-circuits the HTTP call (that is how botocore's Stubber works, and how the
Custom Labels emulator and the test doubles of services moto lacks answer). Where a handler must be
registered for a call to reach it:

* ``botocore.handlers.BUILTIN_HANDLERS``: every botocore session created from then on registers them (this
  is how moto hooks every new session; it reaches the boto3 clients moto's Step Functions interpreter
  creates for ``aws-sdk:`` tasks in its own threads);
* ``boto3.DEFAULT_SESSION``, when it already exists: clients ``boto3.client`` creates later;
* an already created client (its emitter is a copy of its session's): ``attach`` it explicitly.

A removed interception leaves no handler in ``BUILTIN_HANDLERS`` or the default session, and the copies
already held by clients and sessions fall through (answer ``None``), so removal restores the process.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import boto3
from botocore import handlers as botocore_handlers
from botocore.awsrequest import AWSResponse, HTTPHeaders

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from botocore.session import Session

Answer = tuple[AWSResponse, dict[str, Any]]
# Called with botocore's keyword arguments (``model``, ``params``, ``context``, ``event_name``, …);
# returns an answer, or ``None`` to let the call go on (to the next handler, then HTTP).
Handler = Callable[..., Answer | None]

# BUILTIN_HANDLERS is one process-wide list: every change to it (and to our registrations) under one lock.
_lock = threading.RLock()
_ids = itertools.count(1)


class Interception:
    """One ``before-call`` (or other botocore event) handler, installed process-wide until removed.

    ``install`` and ``remove`` are idempotent and thread-safe; as a context manager it installs on entry
    and removes on exit. Several interceptions may share an event: botocore asks them in install order,
    and the first answer wins.
    """

    def __init__(self, event: str, handler: Handler, *, unique_id: str | None = None) -> None:
        self.event = event
        self._handler = handler
        self._unique_id = unique_id or f"clp-intercept-{next(_ids)}"
        self._installed = False
        self._sessions: list[Session] = []

    @property
    def installed(self) -> bool:
        """Whether the handler answers now."""
        return self._installed

    @property
    def spec(self) -> tuple[str, Callable[..., Answer | None]]:
        """The entry this interception puts in ``botocore.handlers.BUILTIN_HANDLERS`` while installed."""
        return self.event, self._dispatch

    @property
    def _registered(self) -> Any:
        # botocore's stubs type event handlers as returning None; a before-call handler returns its answer.
        return self._dispatch

    def _dispatch(self, **kwargs: Any) -> Answer | None:
        # Copies of the handler stay in clients and sessions created while installed: inert once removed.
        if not self._installed:
            return None
        return self._handler(**kwargs)

    def install(self) -> Self:
        """Answer from now on: in sessions created later and in ``boto3.DEFAULT_SESSION`` if it exists."""
        with _lock:
            if self._installed:
                return self
            self._installed = True
            botocore_handlers.BUILTIN_HANDLERS.append(self.spec)
            default_session = boto3.DEFAULT_SESSION
            if default_session is not None:
                self.attach_session(default_session._session)
                self._sessions.append(default_session._session)
        return self

    def remove(self) -> None:
        """Stop answering; the builtin entry and the default-session registration go."""
        with _lock:
            if not self._installed:
                return
            self._installed = False
            while self.spec in botocore_handlers.BUILTIN_HANDLERS:
                botocore_handlers.BUILTIN_HANDLERS.remove(self.spec)
            for session in self._sessions:
                session.unregister(self.event, self._registered, unique_id=self._unique_id)
            self._sessions.clear()

    def attach(self, client: BaseClient) -> BaseClient:
        """Hook a client created before ``install`` (idempotent); it answers whenever this is installed."""
        client.meta.events.register(self.event, self._registered, unique_id=self._unique_id)
        return client

    def attach_session(self, session: Session) -> None:
        """Hook a botocore session, so that clients it creates from now on are hooked (idempotent)."""
        session.register(self.event, self._registered, unique_id=self._unique_id)

    def __enter__(self) -> Self:
        return self.install()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove()


def installed() -> list[Interception]:
    """Every interception with an entry in ``BUILTIN_HANDLERS`` now (a leak check for tests)."""
    with _lock:
        return [
            owner
            for _event, handler, *_ in botocore_handlers.BUILTIN_HANDLERS
            if isinstance(owner := getattr(handler, "__self__", None), Interception)
        ]


def _metadata(status: int, request_id: str | None) -> tuple[HTTPHeaders, dict[str, Any]]:
    request_id = request_id or uuid.uuid4().hex
    headers = {"x-amzn-requestid": request_id}
    metadata = {"RequestId": request_id, "HTTPStatusCode": status, "HTTPHeaders": headers, "RetryAttempts": 0}
    return HTTPHeaders.from_dict(headers), metadata


def success_response(parsed: dict[str, Any], status: int = 200, *, request_id: str | None = None) -> Answer:
    """A successful answer: ``parsed`` is what the client call returns (``ResponseMetadata`` added)."""
    headers, metadata = _metadata(status, request_id)
    return AWSResponse("", status, headers, None), {**parsed, "ResponseMetadata": metadata}


def error_response(
    code: str, message: str, status: int = 400, *, error_type: str | None = None, request_id: str | None = None
) -> Answer:
    """A service error: the client raises its modeled exception for ``code`` (else ``ClientError``).

    ``error_type`` is the ``Type`` the query protocols add (``Sender`` / ``Receiver``).
    """
    headers, metadata = _metadata(status, request_id)
    error: dict[str, Any] = {"Code": code, "Message": message}
    if error_type is not None:
        error["Type"] = error_type
    return AWSResponse("", status, headers, None), {"Error": error, "ResponseMetadata": metadata}


__all__ = ["Answer", "Handler", "Interception", "error_response", "installed", "success_response"]
