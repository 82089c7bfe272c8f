"""The controller definition's sources (infra/statemachines/controller/, retries.py) and their assembly:
the committed controller.asl.json is exactly what they assemble to, and the commented JSONata means what
its deployed one-line form means."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jsonata
import pytest
from jsonata.parser import Parser

from infra.statemachines import CONTROLLER_DEFINITION_PATH
from infra.statemachines.assemble import (
    SOURCES_DIR,
    AssemblyError,
    assemble_controller,
    main,
    minify_jsonata,
    render,
)
from infra.statemachines.retries import RETRY_POLICIES


def _tree(expression: str) -> Any:
    """jsonata-python's parse tree of ``expression`` as plain data, without source positions."""

    def plain(node: Any) -> Any:
        if isinstance(node, Parser.Symbol):
            return {
                key: plain(value) for key, value in vars(node).items() if key not in {"_outer_instance", "position"}
            }
        if isinstance(node, list | tuple):
            return [plain(value) for value in node]
        if isinstance(node, dict):
            return {key: plain(value) for key, value in node.items()}
        assert node is None or isinstance(node, str | int | float | bool), f"unexpected {type(node)} in the tree"
        return node

    return plain(jsonata.Jsonata(expression).ast)


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return [value] if isinstance(value, str) else []


def _copy_sources(tmp_path: Path) -> Path:
    target = tmp_path / "controller"
    shutil.copytree(SOURCES_DIR, target)
    return target


def test_committed_definition_is_what_the_sources_assemble_to() -> None:
    # Given the sources and the committed, deployed file
    committed = CONTROLLER_DEFINITION_PATH.read_text(encoding="utf-8")

    # When they are assembled
    assembled = render(assemble_controller())

    # Then the file is exactly the assembly (byte for byte: CDK, moto, preflight and asl-validator read it)
    assert assembled == committed, "controller.asl.json is out of date with its sources: run `make asl`"
    assert main(["--check"]) == 0


def test_commented_jsonata_parses_to_the_same_tree_as_its_deployed_form() -> None:
    # Given every expression source and the deployed document
    deployed = _strings(json.loads(CONTROLLER_DEFINITION_PATH.read_text(encoding="utf-8")))
    sources = sorted(SOURCES_DIR.glob("*.jsonata"))
    assert len(sources) >= 10
    for path in sources:
        source = path.read_text(encoding="utf-8")
        body = minify_jsonata(source)

        # Then the deployed document carries it on one line, and that line parses to the commented source's tree
        assert "\n" not in body and "/*" not in body
        assert deployed.count("{% " + body + " %}") >= 1, f"{path.name} is not in the deployed document"
        assert _tree(body) == _tree(source), f"{path.name}: minifying changed the expression"


def test_long_expressions_are_commented_and_broken_into_lines() -> None:
    # The reviewer-facing forms of the longest expressions (issue 12 names Init's cfg, Account, the events)
    for name in ("init_cfg", "account", "publish_started_detail", "publish_stopped_detail", "succeeded_output"):
        source = (SOURCES_DIR / f"{name}.jsonata").read_text(encoding="utf-8")
        assert "/*" in source, f"{name}.jsonata has no comment"
        assert max(len(line) for line in source.splitlines()) <= 120, f"{name}.jsonata has a line over 120"


def test_minify_keeps_literals_and_drops_only_comments_and_whitespace() -> None:
    # Given an expression with comments, line breaks and literals that look like both
    source = '(\n  /* why */\n  $a := \'x  /* not a comment */  y\';\n  $b := "it\\"s  ";\n  `odd  name` & $a\n)\n'

    # When it is minified
    body = minify_jsonata(source)

    # Then only the comment and the whitespace runs outside literals changed
    assert body == '( $a := \'x  /* not a comment */  y\'; $b := "it\\"s  "; `odd  name` & $a )'
    assert _tree(body) == _tree(source)
    with pytest.raises(AssemblyError, match="unterminated comment"):
        minify_jsonata("$a /* open")
    with pytest.raises(AssemblyError, match="unterminated ' literal"):
        minify_jsonata("$a & 'open")


def test_every_retry_of_the_document_is_a_named_policy() -> None:
    # Given the deployed document and the named policies
    states = json.loads(CONTROLLER_DEFINITION_PATH.read_text(encoding="utf-8"))["States"]
    errors_by_policy = {tuple(errors): name for name, errors in RETRY_POLICIES.items()}

    # Then each Retry is exactly one policy, and every policy is used
    used = set()
    for name, state in states.items():
        for retrier in state.get("Retry", []):
            assert tuple(retrier["ErrorEquals"]) in errors_by_policy, f"{name} has an unnamed Retry"
            used.add(errors_by_policy[tuple(retrier["ErrorEquals"])])
    assert used == set(RETRY_POLICIES)


def test_a_policy_change_reaches_every_task_that_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the sqs policy with one more error name
    monkeypatch.setitem(RETRY_POLICIES, "sqs", (*RETRY_POLICIES["sqs"], "Sqs.ExtraException"))

    # When the definition is assembled
    states = assemble_controller()["States"]

    # Then both queue readers retry it, nothing else does, and the committed file is now stale
    retrying = {
        name for name, s in states.items() for r in s.get("Retry", []) if "Sqs.ExtraException" in r["ErrorEquals"]
    }
    assert retrying == {"MeasureBacklog", "ReadQueue"}
    assert main(["--check"]) == 1


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace('{"$retry": "sqs"}', '{"$retry": "sqs2"}', 1), "unknown retry policy 'sqs2'"),
        (lambda t: t.replace('{"$retry": "sqs"}', '[{"ErrorEquals": ["States.ALL"]}]', 1), "not an inline Retry"),
        (lambda t: t.replace('{"$jsonata": "read_queue_output"}', '{"$jsonata": "nope"}'), "nope.jsonata is missing"),
        (
            lambda t: t.replace('{"$jsonata": "read_queue_output"}', '{"$jsonata": "read_queue_output", "x": 1}'),
            "exactly",
        ),
        (
            lambda t: t.replace('{"$jsonata": "read_queue_output"}', '{"$file": "read_queue_output"}'),
            "unknown reference",
        ),
    ],
)
def test_a_broken_reference_stops_the_assembly(tmp_path: Path, edit: Any, message: str) -> None:
    # Given the sources with one reference broken in the drain fragment
    sources = _copy_sources(tmp_path)
    fragment = sources / "drain.json"
    fragment.write_text(edit(fragment.read_text(encoding="utf-8")), encoding="utf-8")

    # Then assembling them fails, naming the problem
    with pytest.raises(AssemblyError, match=message):
        assemble_controller(sources)


def test_unused_sources_and_duplicate_states_stop_the_assembly(tmp_path: Path) -> None:
    # Given an expression file nothing refers to
    sources = _copy_sources(tmp_path)
    (sources / "orphan.jsonata").write_text("$a\n", encoding="utf-8")
    with pytest.raises(AssemblyError, match=r"unused expression files \['orphan'\]"):
        assemble_controller(sources)

    # Given a state defined in two phases
    (sources / "orphan.jsonata").unlink()
    definition = json.loads((sources / "definition.json").read_text(encoding="utf-8"))
    definition["States"]["$phases"].append("drain")
    (sources / "definition.json").write_text(json.dumps(definition), encoding="utf-8")
    with pytest.raises(AssemblyError, match="defined twice"):
        assemble_controller(sources)


def test_regenerating_writes_the_assembly(tmp_path: Path) -> None:
    # Given a stale copy of the definition
    output = tmp_path / "controller.asl.json"
    output.write_text("{}\n", encoding="utf-8")
    assert main(["--check", "--output", str(output)]) == 1

    # When it is regenerated
    assert main(["--output", str(output)]) == 0

    # Then it is the committed definition
    assert output.read_text(encoding="utf-8") == CONTROLLER_DEFINITION_PATH.read_text(encoding="utf-8")
    assert main(["--check", "--output", str(output)]) == 0
