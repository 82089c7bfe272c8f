"""The botocore hook that routes rekognition calls to the active emulator.

Two ``localrun.intercept`` interceptions, installed while at least one emulator is active (so they reach
sessions created later, ``boto3.DEFAULT_SESSION``, and the clients moto's Step Functions interpreter
creates for ``aws-sdk:`` tasks); an existing client can be attached explicitly with ``attach_client``.
They answer only the operations the innermost active emulator handles; the rest fall through.

``before-call`` receives the serialized request, not the API parameters, so a second handler on
``before-parameter-build`` stores the parameters in the request context on the way in.
"""

from __future__ import annotations

import sys
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from botocore.awsrequest import AWSResponse
from botocore.model import OperationModel

from localrun.emulator.service import SERVICE_NAME, decode_request_body
from localrun.intercept import Interception

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from botocore.session import Session

_PARAMS_KEY = "clp_custom_labels_emulator_params"
_CAPTURE_EVENT = f"before-parameter-build.{SERVICE_NAME}"
_ANSWER_EVENT = f"before-call.{SERVICE_NAME}"
_CAPTURE_ID = "clp-custom-labels-emulator-capture"
_ANSWER_ID = "clp-custom-labels-emulator-answer"


class Responder(Protocol):
    """What the hook needs from an emulator."""

    def handles(self, operation_name: str) -> bool:
        """Whether the operation is emulated (others fall through to the next handler / HTTP)."""
        ...

    def respond(self, op: OperationModel, params: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
        """Answer one call with the HTTP response and the parsed body."""
        ...


_lock = threading.RLock()
# A stack: the most recently entered emulator answers; nested emulators restore the outer one.
_active: list[Responder] = []


def _current() -> Responder | None:
    with _lock:
        return _active[-1] if _active else None


def _capture_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    if _current() is not None and context is not None:
        context[_PARAMS_KEY] = dict(params)


def _answer(
    model: OperationModel, params: dict[str, Any], context: dict[str, Any], **_: Any
) -> tuple[AWSResponse, dict[str, Any]] | None:
    responder = _current()
    if responder is None or not responder.handles(model.name):
        return None
    api_params = (context or {}).get(_PARAMS_KEY)
    if api_params is None:
        # Client hooked for before-call only: read the parameters back from the JSON body.
        api_params = decode_request_body(model, params.get("body"))
    http, parsed = responder.respond(model, api_params)
    if _called_from_moto_step_functions():
        # moto's describe_execution json.dumps the execution output without a datetime encoder, so
        # a raw aws-sdk result carrying timestamps would crash it; Step Functions hands task
        # results on as JSON anyway, so give it strings (ISO 8601, as moto's own history encoder).
        parsed = _json_timestamps(parsed)
    return http, parsed


_MOTO_SFN_MODULE = "moto.stepfunctions"


def _called_from_moto_step_functions() -> bool:
    """Whether the client call comes from moto's Step Functions interpreter (an aws-sdk task)."""
    frame = sys._getframe(1)
    depth = 0
    # The interpreter frame sits a few botocore frames above this handler; bound the walk.
    while frame is not None and depth < 40:
        if frame.f_globals.get("__name__", "").startswith(_MOTO_SFN_MODULE):
            return True
        frame, depth = frame.f_back, depth + 1  # type: ignore[assignment]
    return False


def _json_timestamps(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _json_timestamps(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_timestamps(v) for v in value]
    return value


# Module-level, so every emulator shares them: the interceptions stay installed while any one is active,
# and their unique ids keep ``attach_client`` idempotent across emulators.
_INTERCEPTIONS = (
    Interception(_CAPTURE_EVENT, _capture_params, unique_id=_CAPTURE_ID),
    Interception(_ANSWER_EVENT, _answer, unique_id=_ANSWER_ID),
)


def attach_client(client: BaseClient) -> None:
    """Hook an already created client (needed only for clients created before activation)."""
    for interception in _INTERCEPTIONS:
        interception.attach(client)


def attach_session(session: Session) -> None:
    """Hook a botocore session so that clients it creates from now on are emulated."""
    for interception in _INTERCEPTIONS:
        interception.attach_session(session)


def activate(responder: Responder) -> None:
    """Make ``responder`` answer rekognition calls process-wide."""
    with _lock:
        _active.append(responder)
        for interception in _INTERCEPTIONS:
            interception.install()


def deactivate(responder: Responder) -> None:
    """Stop ``responder`` answering; the interceptions are removed with the last active emulator."""
    with _lock:
        for index in range(len(_active) - 1, -1, -1):
            if _active[index] is responder:
                del _active[index]
                break
        if not _active:
            for interception in _INTERCEPTIONS:
                interception.remove()


def active_responder() -> Responder | None:
    """Return the emulator currently answering, if any."""
    return _current()


__all__ = ["Responder", "activate", "active_responder", "attach_client", "attach_session", "deactivate"]
