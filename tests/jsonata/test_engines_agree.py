"""jsonata-python (what moto evaluates offline) and the reference jsonata 2.0.6 (what AWS documents) agree.

Every distinct evaluation the controller and backfill execution tests made (recorded by
tests/jsonata/recording.py, this module runs after them) is evaluated again by node with the npm
``jsonata`` package pinned in package.json, in one node process, the clock frozen at the instant
jsonata-python was given. Results must be equal (numbers within 1e-9 relative), and an error in one
engine must be an error, with the same code, in the other. When this session did not run the
recorded suites, they are run here in a subprocess with the recorder on.
"""

from __future__ import annotations

import copy as copy_module
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra.statemachines import backfill_definition, controller_definition
from tests.infra.sdk_field_names import Checker, integration_for, iter_states
from tests.jsonata import recording
from tests.jsonata.recording import ROOT, SOURCES, UNDEFINED, EvaluationStore

NODE_SCRIPT = Path(__file__).with_name("jsonata_eval.js")
SUMMARY = ROOT / "build" / "jsonata-engines.json"


def same(python: Any, node: Any, path: str = "$") -> str | None:
    """``None`` when equal; else where they first differ (numbers: 1e-9 relative, bools never numbers)."""
    if isinstance(python, bool) or isinstance(node, bool):
        return None if python is node else f"{path}: {python!r} != {node!r}"
    if isinstance(python, int | float) and isinstance(node, int | float):
        return None if math.isclose(python, node, rel_tol=1e-9, abs_tol=0.0) else f"{path}: {python!r} != {node!r}"
    if isinstance(python, dict) and isinstance(node, dict):
        return _same_objects(python, node, path)
    if isinstance(python, list) and isinstance(node, list):
        return _same_arrays(python, node, path)
    return None if python == node and type(python) is type(node) else f"{path}: {python!r} != {node!r}"


def _same_objects(python: dict[str, Any], node: dict[str, Any], path: str) -> str | None:
    if python.keys() != node.keys():
        return f"{path}: keys {sorted(python)} != {sorted(node)}"
    differences = (same(python[key], node[key], f"{path}.{key}") for key in python)
    return next((d for d in differences if d), None)


def _same_arrays(python: list[Any], node: list[Any], path: str) -> str | None:
    if len(python) != len(node):
        return f"{path}: {len(python)} items != {len(node)}"
    pairs = enumerate(zip(python, node, strict=True))
    differences = (same(left, right, f"{path}[{index}]") for index, (left, right) in pairs)
    return next((d for d in differences if d), None)


def disagreement(python: dict[str, Any], node: dict[str, Any]) -> str | None:
    """Compare one evaluation's outcomes: value, undefined or error (with its code)."""
    node_value = UNDEFINED if node.get("undefined") else node.get("result")
    if "error" in python or "error" in node:
        if "error" in python and "error" in node:
            codes = python["error"]["code"], node["error"]["code"]
            return None if codes[0] == codes[1] else f"error codes {codes[0]} != {codes[1]}"
        return f"python {python.get('error', python.get('result'))!r} vs node {node.get('error', node_value)!r}"
    return same(python["result"], node_value)


def _record_sources_in_subprocess(tmp_path: Path) -> EvaluationStore:
    target = tmp_path / "evaluations.jsonl"
    env = {**os.environ, recording.RECORD_FILE_ENV: str(target)}
    # The recorded suites' own pass/fail is theirs to report; here only what they evaluated matters.
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--no-cov", *SOURCES],
        cwd=ROOT,
        env=env,
        check=False,
        capture_output=True,
        timeout=1800,
    )
    return EvaluationStore.load(target)


def _node_outcomes(records: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    node = shutil.which("node")
    assert node, "node is required (make test installs it with npm ci)"
    payload = "".join(
        json.dumps({"id": n, **{k: r[k] for k in ("expression", "bindings", "input", "millis")}}) + "\n"
        for n, r in enumerate(records)
    )
    done = subprocess.run(
        [node, str(NODE_SCRIPT)], input=payload, capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr
    outcomes = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return {outcome["id"]: outcome for outcome in outcomes}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> EvaluationStore:
    """What the controller and backfill executions evaluated: this session's, or a run started here."""
    if recording.ran_sources:
        return recording.STORE
    return _record_sources_in_subprocess(tmp_path_factory.mktemp("jsonata"))


def test_jsonata_python_agrees_with_reference_jsonata(store: EvaluationStore) -> None:
    # Given every distinct evaluation the controller and backfill executions made
    records = [dict(record) for record in store.records.values()]
    for record in records:
        if record["input"] == UNDEFINED:
            record["input"] = None

    # When the reference implementation evaluates each of them with the same clock
    outcomes = _node_outcomes(records)

    # Then both engines give the same value, or both fail with the same code
    differences = []
    for number, record in enumerate(records):
        if difference := disagreement(record["python"], outcomes[number]):
            differences.append((difference, record["expression"][-400:], record["python"], outcomes[number]))
    clocked = sum(1 for record in records if record["uses_clock"])
    SUMMARY.parent.mkdir(exist_ok=True)
    SUMMARY.write_text(
        json.dumps(
            {
                "evaluations": store.evaluations,
                "distinct": len(records),
                "clock_dependent": clocked,
                "errors": sum(1 for record in records if "error" in record["python"]),
                "stale_clock": sum(1 for r in records if r["uses_clock"] and r["clock_seen"] != r["millis"]),
                "disagreements": len(differences),
            },
            indent=2,
        )
        + "\n"
    )
    assert store.without_source == 0, f"{store.without_source} evaluations were recorded without their text"
    assert len(records) >= 100, f"only {len(records)} distinct evaluations recorded: did the executions run?"
    assert clocked > 0, "no $millis()/$now() expression was compared"
    stale = [r for r in records if r["uses_clock"] and r["clock_seen"] != r["millis"]]
    assert not stale, (
        f"{len(stale)} clock-dependent evaluations read a $millis()/$now() other than their own start "
        f"(jsonata 2.0.6 reads the clock once per evaluation), e.g. {stale[0]['millis'] - stale[0]['clock_seen']} ms "
        f"stale in ...{stale[0]['expression'][-200:]}"
    )
    assert not differences, (
        "\n\n".join(
            f"{diff}\n  expression: ...{expr}\n  jsonata-python: {py}\n  jsonata 2.0.6: {node}"
            for diff, expr, py, node in differences[:10]
        )
        + f"\n({len(differences)} of {len(records)} distinct evaluations disagree)"
    )


@pytest.mark.parametrize(
    ("python", "node", "agree"),
    [
        ({"result": 1.0}, {"result": 1}, True),
        ({"result": 0.1 + 0.2}, {"result": 0.3}, True),
        ({"result": 1}, {"result": 1.001}, False),
        ({"result": True}, {"result": 1}, False),
        ({"result": None}, {"undefined": True}, False),
        ({"result": UNDEFINED}, {"undefined": True}, True),
        ({"result": {"a": [1, "x"]}}, {"result": {"a": [1, "x"]}}, True),
        ({"result": {"a": 1}}, {"result": {"a": 1, "b": None}}, False),
        ({"error": {"code": "D3137"}}, {"error": {"code": "D3137"}}, True),
        ({"error": {"code": "T2001"}}, {"error": {"code": "D3137"}}, False),
        ({"error": {"code": "D3137"}}, {"result": 1}, False),
    ],
)
def test_comparison_rule(python: dict[str, Any], node: dict[str, Any], agree: bool) -> None:
    # Given two outcomes / When compared / Then only equal values (or same-code errors) agree
    assert (disagreement(python, node) is None) is agree


def _expressions(value: Any, path: tuple[str | int, ...] = ()) -> list[tuple[tuple[str | int, ...], str]]:
    if isinstance(value, str) and value.startswith("{%") and value.endswith("%}"):
        return [(path, value[2:-2].strip())]
    if isinstance(value, dict):
        return [found for key, item in value.items() for found in _expressions(item, (*path, key))]
    if isinstance(value, list):
        return [found for n, item in enumerate(value) for found in _expressions(item, (*path, n))]
    return []


def _placed(arguments: Any, path: tuple[str | int, ...], result: Any) -> Any:
    if not path:
        return result
    copy = copy_module.deepcopy(arguments)
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = result
    return copy


def test_evaluated_task_arguments_use_names_aws_accepts(store: EvaluationStore) -> None:
    # Given the Arguments moto really sent: each recorded result of a Task's Arguments expression
    # (StartModel's whole-expression $merge, the backfill's Entries, ...), matched to its state by text
    checker = Checker()
    matched: set[str] = set()
    results = [(r["expression"], r["python"]["result"]) for r in store.records.values() if "result" in r["python"]]
    for text in (controller_definition(3600), backfill_definition()):
        for name, state in iter_states(json.loads(text)["States"]):
            if state.get("Type") != "Task":
                continue
            integration = integration_for(state["Resource"])
            for path, expression in _expressions(state.get("Arguments", {})):
                # Placeholders hold test values, and moto prefixes its variable declarations.
                parts = re.split(r"\\\$\\\{[A-Za-z0-9]+\\\}", re.escape(expression))
                pattern = re.compile("(?:" + ".*?".join(parts) + r")\)$")
                # The longest literal part must occur for the pattern to match: a cheap filter before the regex.
                anchor = max(re.split(r"\$\{[A-Za-z0-9]+\}", expression), key=len)
                for recorded, result in results:
                    if anchor in recorded and pattern.search(recorded) and isinstance(result, dict | list):
                        matched.add(name)
                        checker.arguments(name, integration, _placed(state["Arguments"], path, result))

    # When their keys are checked like static Arguments / Then AWS would accept every one
    assert "StartModel" in matched, f"no recorded StartModel Arguments (matched: {sorted(matched)})"
    assert not checker.findings, "\n".join(sorted({str(finding) for finding in checker.findings}))
