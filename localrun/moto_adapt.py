"""Adaptations that let moto's Step Functions interpreter run the real controller definition.

Offline and in tests only — the deployed definition is never changed for moto:
* moto 5.2 ships its JSONata interpreter without an evaluator: ``install_moto_jsonata`` plugs in
  jsonata-python (see ``infra/statemachines/moto_jsonata.py``).
* moto names aws-sdk errors with the lower-case service name (``rekognition.ThrottlingException``)
  where AWS uses PascalCase (``Rekognition.ThrottlingException``): :func:`moto_definition` rewrites
  those ``ErrorEquals`` prefixes in the definition text before the state machine is created in moto.
* Wait states and retries sleep in real time: callers pass scaled (or zero) intervals as input.
* moto's backends are not thread-safe, and the offline runtime is threaded (detect handler workers,
  Step Functions executions, the rehearsal): DynamoDB's TransactWriteItems deep-copies the whole table
  while other threads write to it ("dictionary changed size during iteration"), SQS's ReceiveMessage
  races on the queue's message list. :func:`serialize_moto_requests` runs one moto request at a time.
"""

from __future__ import annotations

import functools
import re
import threading
from typing import Any

from moto.core.responses import BaseResponse

MOTO_CONFIG: Any = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
# aws-sdk services whose error prefix moto spells in lower case (optimized integrations are unaffected).
AWS_SDK_ERROR_PREFIXES = ("Rekognition", "Lambda", "Sqs", "CloudWatch")
_ERROR_NAME = re.compile(r'"(' + "|".join(AWS_SDK_ERROR_PREFIXES) + r')\.([A-Za-z]+)"')


def moto_definition(definition: str) -> str:
    """Rewrite ``"Rekognition.X"``-style error names to moto's ``"rekognition.X"``."""
    return _ERROR_NAME.sub(lambda m: f'"{m.group(1).lower()}.{m.group(2)}"', definition)


_MOTO_REQUEST_LOCK = threading.RLock()


def serialize_moto_requests() -> None:
    """Serialize every request moto answers (idempotent; process-wide, offline only).

    Re-entrant, so a request that causes another inside moto (an S3 notification sent to SQS, an
    EventBridge target) does not deadlock. Under the GIL, moto's pure-Python backends lose little.
    """
    dispatch = BaseResponse._dispatch
    if getattr(dispatch, "_clp_serialized", False):
        return

    @functools.wraps(dispatch)
    def serialized(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _MOTO_REQUEST_LOCK:
            return dispatch(self, *args, **kwargs)

    serialized._clp_serialized = True  # type: ignore[attr-defined]
    BaseResponse._dispatch = serialized  # type: ignore[method-assign]
