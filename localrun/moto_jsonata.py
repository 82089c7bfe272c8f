"""Let moto's Step Functions interpreter evaluate JSONata (needed offline and in tests only).

moto 5.2's interpreter (a port of LocalStack's) implements JSONata states fully - ``Arguments``,
``Output``, ``Assign``, ``Condition``, ``$states`` - but ships without the evaluator itself: LocalStack
evaluates expressions with jsonata-java in a JVM, moto removed that bridge and leaves the hook
``moto.stepfunctions.parser.asl.jsonata.jsonata._eval_jsonata`` empty (calling it fails).
``jsonata-python`` is a port of that same jsonata-java implementation, so plugging it into the hook
gives the semantics the interpreter was written against. The CDK app never imports this module.

moto hands the evaluator one text per evaluation: the expression inside a block that first declares
``$states`` and every variable with its value written out as JSON (``($states := {...}; $x := ...; expr)``),
so the text changes with every input and nearly every evaluation was a fresh parse (two thirds of a
controller loop's host time). :func:`install_moto_jsonata` also makes the two expression components pass
those values as jsonata-python *bindings* of the unchanged expression text, which is parsed once per thread:
the same names with the same values (moto's own JSON encoding, then decoded, so the values are exactly what
moto's text declared; a JSON ``null`` variable is bound as JSONata null, not undefined). One difference, in
AWS's favour: moto writes a string value between quotes without escaping it (a value holding ``"`` broke the
text), and a binding takes it as it is. ``$states`` is bound whole (moto declared only the members the
expression names; unnamed members cannot be read either way). Intrinsic function declarations
(``$partition`` …) are constant text, and stay in the expression.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jsonata  # type: ignore[import-untyped]  # jsonata-python ships no type information
from jsonata.utils import Utils  # type: ignore[import-untyped]
from moto.stepfunctions.parser.asl.component.common.query_language import QueryLanguageMode
from moto.stepfunctions.parser.asl.component.common.string import string_expression as moto_strings
from moto.stepfunctions.parser.asl.component.intrinsic.jsonata import get_intrinsic_functions_declarations
from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata
from moto.stepfunctions.parser.asl.jsonata.validations import validate_jsonata_expression_output
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str


class _Compiled:
    """Parsed expressions, a pool per text: an evaluation takes one out and puts it back.

    Parsing is most of an evaluation's cost. Only parse trees are kept, never a result (``$millis()`` is
    read at evaluation). jsonata-python keeps per-evaluation state on a compiled expression, so one serves
    one evaluation at a time: concurrent evaluations of a text (executions, Map children, each in a thread of
    its own) each get their own. At most ``texts`` texts are kept, the least recently used dropped first.
    """

    def __init__(self, texts: int = 4096) -> None:
        self._lock = threading.Lock()
        self._idle: OrderedDict[str, list[Any]] = OrderedDict()
        self._texts = texts

    def take(self, expression: str) -> Any:
        with self._lock:
            idle = self._idle.get(expression)
            if idle:
                self._idle.move_to_end(expression)
                return idle.pop()
        return jsonata.Jsonata(expression)

    def give_back(self, expression: str, compiled: Any) -> None:
        with self._lock:
            self._idle.setdefault(expression, []).append(compiled)
            self._idle.move_to_end(expression)
            while len(self._idle) > self._texts:
                self._idle.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._idle.clear()


_compiled = _Compiled()
# The bindings of the component evaluating on this thread: moto's output validation evaluates ``$type(<text>)``
# through the hook, which must see the same variables.
_component = threading.local()


def _evaluate(expression: str, bindings: dict[str, Any] | None = None) -> Any:
    if bindings is None:
        bindings = getattr(_component, "bindings", None)
    compiled = _compiled.take(expression)
    try:
        # jsonata-python 0.7.1 answers $millis() / $now() from ``Jsonata.CURRENT``, which its constructor
        # sets and evaluate() does not: a kept expression read the clock of the last one *parsed* on this
        # thread (up to 0.56 s stale in the controller tests; tests/jsonata/test_engines_agree.py). AWS's
        # jsonata 2.0.6 reads the clock once per evaluation, which pointing CURRENT at it restores.
        jsonata.Jsonata.CURRENT.jsonata = compiled
        return compiled.evaluate(None, bindings)
    finally:
        _compiled.give_back(expression, compiled)


@contextmanager
def _bound(bindings: dict[str, Any]) -> Iterator[None]:
    """``bindings`` for every evaluation on this thread while the block runs (nested blocks restore theirs)."""
    outer = getattr(_component, "bindings", None)
    _component.bindings = bindings
    try:
        yield
    finally:
        _component.bindings = outer


def _bindings(env: Any, *, states: bool = True) -> dict[str, Any]:
    """``$states`` and the variables in scope, as moto's declarations give them (inner scope over outer)."""
    store = env.variable_store
    values = {"states": env.states._states_data} if states else {}
    values.update(store._outer_scope)
    values.update(store._inner_scope)
    decoded: dict[str, Any] = json.loads(to_json_str(values, separators=(",", ":")))
    return {name: Utils.NULL_VALUE if value is None else value for name, value in decoded.items()}


@lru_cache(maxsize=4096)
def _composed(expression: str) -> str:
    """The text evaluated for ``expression``: it with the intrinsic functions it names declared (a function of the
    text alone, so composed once per text; a text moto refuses raises every time, as nothing is cached then)."""
    references = sorted(moto_jsonata.extract_jsonata_variable_references(expression))
    functions = str(get_intrinsic_functions_declarations(variable_references=references))  # type: ignore[arg-type]
    return str(moto_jsonata.compose_jsonata_expression(expression, [functions]))


def _jsonata_body(self: Any, env: Any) -> None:
    """``StringJSONata._eval_body`` with bindings (the module docstring says why)."""
    text = _composed(self.expression)
    with _bound(_bindings(env)):
        result = moto_jsonata.eval_jsonata_expression(text)
        validate_jsonata_expression_output(env, self.expression, text, result)
    env.stack.append(result)


def _variable_sample_body(self: Any, env: Any) -> None:
    """``StringVariableSample._eval_body`` with bindings (no intrinsic functions there; ``$states`` only in
    JSONata mode, as in moto)."""
    moto_jsonata.extract_jsonata_variable_references(self.expression)  # moto refuses ``$`` / ``$$`` here
    states = self.query_language_mode == QueryLanguageMode.JSONata
    with _bound(_bindings(env, states=states)):
        result = moto_jsonata.eval_jsonata_expression(f"({self.expression})")
    env.stack.append(result)


def install_moto_jsonata() -> None:
    """Plug the evaluator into moto's hook (idempotent). Call before executing a JSONata state machine."""
    moto_jsonata._eval_jsonata = _evaluate
    moto_strings.StringJSONata._eval_body = _jsonata_body  # type: ignore[method-assign]
    moto_strings.StringVariableSample._eval_body = _variable_sample_body  # type: ignore[method-assign]


@dataclass(frozen=True)
class Evaluation:
    """One top-level jsonata-python evaluation, as :func:`recording` saw it (offline checks only).

    ``result`` is raw: ``jsonata.utils.Utils.NULL_VALUE`` is JSON null and ``None`` undefined (the
    caller still gets jsonata-python's usual converted value). ``millis`` is the time the evaluation
    started (what ``$millis()`` means); ``millis_seen`` is what jsonata-python's ``$millis()`` /
    ``$now()`` would have read (``Jsonata.CURRENT``), so a stale clock shows up as a difference.
    """

    expression: str | None
    bindings: dict[str, Any] | None
    input: Any
    result: Any
    error: Exception | None
    millis: int
    millis_seen: int


Recorder = Callable[[Evaluation], None]
_SOURCE = "_clp_source"


@contextmanager
def recording(recorder: Recorder) -> Iterator[None]:
    """Report every jsonata-python evaluation to ``recorder`` while the block runs (tests only).

    Patches ``jsonata.Jsonata`` itself, so it sees every evaluator moto is given (this module's and any
    test's own), and restores it on exit: nothing is wrapped, and nothing costs, when not recording.
    Nested evaluations (``$eval``) are part of their caller and are not reported on their own.
    """
    cls = jsonata.Jsonata
    init, evaluate = cls.__init__, cls.evaluate
    depth = threading.local()

    def recording_init(self: Any, expr: str | None, *args: Any, **kwargs: Any) -> None:
        init(self, expr, *args, **kwargs)
        setattr(self, _SOURCE, expr)

    def recording_evaluate(self: Any, input: Any, bindings: Any = None) -> Any:
        if getattr(depth, "level", 0):
            return evaluate(self, input, bindings)
        convert, self.output_convert_nulls = self.output_convert_nulls, False
        depth.level = 1
        result: Any = None
        error: Exception | None = None
        try:
            result = evaluate(self, input, bindings)
        except Exception as exc:
            error = exc
        finally:
            depth.level = 0
            self.output_convert_nulls = convert
        current = getattr(cls.CURRENT, "jsonata", None)
        recorder(
            Evaluation(
                expression=getattr(self, _SOURCE, None),
                bindings=dict(bindings.bindings if isinstance(bindings, cls.Frame) else bindings)
                if bindings is not None
                else None,
                input=input,
                result=result,
                error=error,
                millis=self.timestamp,
                millis_seen=current.timestamp if current is not None else self.timestamp,
            )
        )
        if error is not None:
            raise error
        return Utils.convert_nulls(result) if convert else result

    cls.__init__ = recording_init
    cls.evaluate = recording_evaluate
    _compiled.clear()  # expressions parsed before recording carry no source text
    try:
        yield
    finally:
        cls.__init__, cls.evaluate = init, evaluate


__all__ = ["Evaluation", "Recorder", "install_moto_jsonata", "recording"]
