"""Let moto's Step Functions interpreter evaluate JSONata (needed offline and in tests only).

moto 5.2's interpreter (a port of LocalStack's) implements JSONata states fully - ``Arguments``,
``Output``, ``Assign``, ``Condition``, ``$states`` - but ships without the evaluator itself: LocalStack
evaluates expressions with jsonata-java in a JVM, moto removed that bridge and leaves the hook
``moto.stepfunctions.parser.asl.jsonata.jsonata._eval_jsonata`` empty (calling it fails).
``jsonata-python`` is a port of that same jsonata-java implementation, so plugging it into the hook
gives the semantics the interpreter was written against. The CDK app never imports this module.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

import jsonata  # type: ignore[import-untyped]  # jsonata-python ships no type information
from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata


@lru_cache(maxsize=4096)
def _compile(expression: str, thread_id: int) -> Any:
    # Parsing is most of the cost: a controller drain-loop iteration takes ~22 ms uncached, ~9 ms
    # cached (2-core box). Only the parse tree is cached, never a result ($millis() is read at
    # evaluation). A compiled expression keeps per-evaluation state on itself, hence one per thread:
    # moto runs every execution in its own thread.
    del thread_id  # part of the cache key only
    return jsonata.Jsonata(expression)


def _evaluate(expression: str) -> Any:
    return _compile(expression, threading.get_ident()).evaluate(None)


def install_moto_jsonata() -> None:
    """Plug the evaluator into moto's hook (idempotent). Call before executing a JSONata state machine."""
    moto_jsonata._eval_jsonata = _evaluate


__all__ = ["install_moto_jsonata"]
