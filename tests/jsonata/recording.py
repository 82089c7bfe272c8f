"""pytest plugin: record the JSONata the controller and backfill tests evaluate, for the engine comparison.

AWS evaluates JSONata with the reference JavaScript implementation (2.0.6, per the Step Functions
developer guide, "Transforming data with JSONata"); offline, moto evaluates it with jsonata-python.
While a test under :data:`SOURCES` runs, every evaluation (expression text, bindings, input, result
or error, the clock) goes into one deduplicated :class:`EvaluationStore` for the session;
``tests/jsonata/test_engines_agree.py`` runs last and replays them with node.

Registered from tests/conftest.py. Under pytest-xdist (``make test`` runs ``-n auto --dist loadgroup``)
the recorded suites and the comparison form one ``xdist_group``, so they run in one worker, the comparison
last. With ``CLP_JSONATA_RECORD_FILE`` set, the store is also written there (JSONL) when the session ends:
how the comparison test records a run of the sources it starts itself when the session did not include them.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # moto and jsonata load only when a recorded suite runs
    from localrun.moto_jsonata import Evaluation

ROOT = Path(__file__).resolve().parents[2]
# The suites that execute the real definitions in moto (controller: every path; backfill: a small prefix).
SOURCES = ("tests/controller/test_controller_execution.py", "tests/scale/test_backfill_execution.py")
COMPARISON = "tests/jsonata/test_engines_agree.py"
RECORD_FILE_ENV = "CLP_JSONATA_RECORD_FILE"
GROUP = "jsonata-recorded"
UNDEFINED = {"__jsonata__": "undefined"}


def to_json(value: Any, *, top: bool = True) -> Any:
    """jsonata-python's raw value as JSON: ``NULL_VALUE`` -> null; undefined members dropped, as in JSON."""
    from jsonata.utils import Utils  # type: ignore[import-untyped]

    if value is Utils.NULL_VALUE:
        return None
    if value is None:
        return UNDEFINED if top else None
    if isinstance(value, dict):
        return {str(k): to_json(v, top=False) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [to_json(v, top=False) for v in value]
    if isinstance(value, bool | int | float | str):
        return value
    return {"__jsonata__": f"unserializable {type(value).__name__}"}


def binding_json(value: Any) -> Any:
    """A binding as JSON. Bindings are input, not results: a ``None`` inside one is JSON null (what moto's
    text declared), only ``NULL_VALUE`` needs translating."""
    from jsonata.utils import Utils  # type: ignore[import-untyped]

    if value is Utils.NULL_VALUE:
        return None
    if isinstance(value, dict):
        return {str(k): binding_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [binding_json(v) for v in value]
    return value


def error_code(error: Exception) -> str | None:
    code = getattr(error, "error", None)
    return code if isinstance(code, str) else None


@dataclass
class EvaluationStore:
    """Distinct evaluations (same text, bindings, input and clock = one record) and what was seen."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    evaluations: int = 0
    without_source: int = 0
    stale_clock: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, evaluation: Evaluation) -> None:
        """Recorder for :func:`localrun.moto_jsonata.recording` (moto runs executions in threads)."""
        with self._lock:
            self._add(evaluation)

    def _add(self, evaluation: Evaluation) -> None:
        self.evaluations += 1
        if evaluation.expression is None:
            self.without_source += 1
            return
        uses_clock = "$millis(" in evaluation.expression or "$now(" in evaluation.expression
        if uses_clock and evaluation.millis != evaluation.millis_seen:
            self.stale_clock += 1
        record: dict[str, Any] = {
            "expression": evaluation.expression,
            "bindings": {k: binding_json(v) for k, v in evaluation.bindings.items()}
            if evaluation.bindings is not None
            else None,
            "input": to_json(evaluation.input),
            # Only a clock-dependent expression needs its instant; the rest dedupe across time.
            "millis": evaluation.millis if uses_clock else 0,
        }
        key = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()
        if key in self.records:
            return
        if evaluation.error is not None:
            record["python"] = {"error": {"code": error_code(evaluation.error), "message": str(evaluation.error)}}
        else:
            record["python"] = {"result": to_json(evaluation.result)}
        record["uses_clock"] = uses_clock
        record["clock_seen"] = evaluation.millis_seen if uses_clock else 0
        self.records[key] = record

    def dump(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as out:
            summary = {"evaluations": self.evaluations, "without_source": self.without_source}
            out.write(json.dumps({"summary": {**summary, "stale_clock": self.stale_clock}}) + "\n")
            for record in self.records.values():
                out.write(json.dumps(record) + "\n")

    @classmethod
    def load(cls, path: Path) -> EvaluationStore:
        store = cls()
        lines = path.read_text(encoding="utf-8").splitlines()
        summary = json.loads(lines[0])["summary"]
        store.evaluations, store.without_source = summary["evaluations"], summary["without_source"]
        store.stale_clock = summary["stale_clock"]
        for number, line in enumerate(lines[1:]):
            store.records[str(number)] = json.loads(line)
        return store


STORE = EvaluationStore()
ran_sources: set[str] = set()


def _source_of(item: pytest.Item) -> str | None:
    path = Path(str(item.path)).resolve()
    relative = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else ""
    return relative if relative in SOURCES else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    source = _source_of(item)
    if source is None:
        yield
        return
    from localrun.moto_jsonata import recording

    ran_sources.add(source)
    with recording(STORE.add):
        yield


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The comparison replays what the other tests evaluated: it must run after all of them ...
    last = [item for item in items if item.nodeid.startswith(COMPARISON)]
    if last:
        items[:] = [item for item in items if not item.nodeid.startswith(COMPARISON)] + last
    # ... and, when pytest-xdist spreads the suite over processes (make test), in the process that ran them:
    # one group, which --dist loadgroup gives to one worker, in this order.
    if config.pluginmanager.hasplugin("xdist"):
        for item in items:
            if item.nodeid.startswith(COMPARISON) or _source_of(item) is not None:
                item.add_marker(pytest.mark.xdist_group(GROUP))


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = os.environ.get(RECORD_FILE_ENV)
    if target:
        STORE.dump(Path(target))
