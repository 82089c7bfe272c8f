"""Assemble ``controller.asl.json`` from the sources a reviewer reads, in ``controller/``.

``controller/definition.json`` holds the top-level fields and the order of the phase fragments
(``"States": {"$phases": ["screen", ...]}``); each ``controller/<phase>.json`` holds that phase's states
in order. Inside a fragment two references stand for the repeated or long parts:

- ``"Retry": {"$retry": "<policy>"}`` -- a named policy of :mod:`infra.statemachines.retries`;
- ``{"$jsonata": "<name>"}`` -- the expression in ``controller/<name>.jsonata``, multi-line and commented
  (``/* ... */``), deployed as ``"{% <expression> %}"`` with comments removed and whitespace outside string
  literals collapsed to one space, so the deployed document reads as it always has.

The assembled document is committed as ``controller.asl.json``: CDK, the offline runtime, preflight,
asl-validator and the tests read that one file, and a test fails when it is not what the sources assemble
to. ``python -m infra.statemachines.assemble`` (``make asl``) rewrites it; ``--check`` only compares.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from infra.statemachines.retries import RETRY_POLICIES, retry

STATEMACHINES_DIR = Path(__file__).resolve().parent
SOURCES_DIR = STATEMACHINES_DIR / "controller"
TOP_LEVEL = "definition.json"
OUTPUT = STATEMACHINES_DIR / "controller.asl.json"

_QUOTES = "'\"`"
_WHITESPACE = " \t\r\n"


class AssemblyError(ValueError):
    """The sources do not assemble: an unknown or unused reference, or a malformed expression file."""


def minify_jsonata(source: str) -> str:
    """``source`` without ``/* */`` comments, every whitespace run outside string literals one space.

    Only whitespace is touched (a comment counts as whitespace, as in JSONata's tokenizer), never a token,
    so the result parses to the same expression; tests compare the two parse trees to prove it.
    """
    out: list[str] = []
    pending_space = False
    i = 0
    while i < len(source):
        char = source[i]
        if char in _WHITESPACE:
            pending_space = True
            i += 1
            continue
        if source.startswith("/*", i):
            end = source.find("*/", i + 2)
            if end < 0:
                raise AssemblyError(f"unterminated comment at offset {i}")
            pending_space = True
            i = end + 2
            continue
        if pending_space and out:
            out.append(" ")
        pending_space = False
        if char in _QUOTES:
            end = _literal_end(source, i)
            out.append(source[i:end])
            i = end
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _literal_end(source: str, start: int) -> int:
    """Offset just past the string literal (or backtick name) opening at ``start``."""
    quote = source[start]
    i = start + 1
    while i < len(source):
        if source[i] == "\\" and quote != "`":
            i += 2
            continue
        if source[i] == quote:
            return i + 1
        i += 1
    raise AssemblyError(f"unterminated {quote} literal at offset {start}")


class _Assembly:
    """One pass over the sources, remembering which references were used."""

    def __init__(self, sources: Path) -> None:
        self.sources = sources
        self.used_policies: set[str] = set()
        self.used_expressions: set[str] = set()

    def load(self, name: str) -> Any:
        path = self.sources / name
        if not path.is_file():
            raise AssemblyError(f"{path} is missing")
        return json.loads(path.read_text(encoding="utf-8"))

    def expression(self, name: str) -> str:
        path = self.sources / f"{name}.jsonata"
        if not path.is_file():
            raise AssemblyError(f"$jsonata {name!r}: {path} is missing")
        self.used_expressions.add(name)
        body = minify_jsonata(path.read_text(encoding="utf-8"))
        if not body:
            raise AssemblyError(f"{path} is empty")
        return "{% " + body + " %}"

    def expand(self, value: Any, where: str) -> Any:
        if isinstance(value, list):
            return [self.expand(item, f"{where}[{index}]") for index, item in enumerate(value)]
        if not isinstance(value, dict):
            return value
        if "$jsonata" in value:
            return self.expression(_reference(value, "$jsonata", where))
        if any(key.startswith("$") for key in value):
            raise AssemblyError(f"{where}: unknown reference {sorted(value)}")
        expanded: dict[str, Any] = {}
        for key, item in value.items():
            expanded[key] = (
                self.retry(item, f"{where}.Retry") if key == "Retry" else self.expand(item, f"{where}.{key}")
            )
        return expanded

    def retry(self, value: Any, where: str) -> list[dict[str, Any]]:
        # Inline Retry blocks are refused so that a policy is changed in one place, for every task using it.
        if not isinstance(value, dict):
            raise AssemblyError(f"{where}: write {{'$retry': '<policy>'}}, not an inline Retry")
        name = _reference(value, "$retry", where)
        if name not in RETRY_POLICIES:
            raise AssemblyError(f"{where}: unknown retry policy {name!r} (known: {sorted(RETRY_POLICIES)})")
        self.used_policies.add(name)
        return retry(name)


def _reference(value: dict[str, Any], key: str, where: str) -> str:
    name = value.get(key)
    if set(value) != {key} or not isinstance(name, str):
        raise AssemblyError(f"{where}: a {key} reference is exactly {{{key!r}: '<name>'}}, got {value}")
    return name


def assemble_controller(sources: Path = SOURCES_DIR) -> dict[str, Any]:
    """The controller definition assembled from ``sources``, placeholders left in place."""
    assembly = _Assembly(sources)
    top: dict[str, Any] = assembly.load(TOP_LEVEL)
    order = top.get("States")
    if not isinstance(order, dict) or set(order) != {"$phases"} or not isinstance(order["$phases"], list):
        raise AssemblyError(f'{TOP_LEVEL}: "States" must be {{"$phases": [<fragment>, ...]}}')
    document = {key: assembly.expand(value, key) for key, value in top.items() if key != "States"}
    states: dict[str, Any] = {}
    for phase in order["$phases"]:
        fragment = assembly.load(f"{phase}.json")
        for name, state in fragment.items():
            if name in states:
                raise AssemblyError(f"state {name} is defined twice (again in {phase}.json)")
            states[name] = assembly.expand(state, f"{phase}.json:{name}")
    document["States"] = states
    # A source nothing refers to would be reviewed as if it were deployed.
    unused_policies = sorted(set(RETRY_POLICIES) - assembly.used_policies)
    unused_files = sorted({path.stem for path in sources.glob("*.jsonata")} - assembly.used_expressions)
    if unused_policies or unused_files:
        raise AssemblyError(f"unused retry policies {unused_policies}; unused expression files {unused_files}")
    return document


def render(document: dict[str, Any]) -> str:
    """The committed file's formatting (also what :func:`infra.statemachines.controller_definition` writes)."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.statemachines.assemble",
        description="Write controller.asl.json from the sources in infra/statemachines/controller/.",
    )
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when the file is out of date")
    parser.add_argument(
        "--output", type=Path, default=OUTPUT, help="the file to write or compare (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    text = render(assemble_controller())
    current = args.output.read_text(encoding="utf-8") if args.output.is_file() else None
    if args.check:
        if current != text:
            print(f"{args.output} is out of date: run `make asl`", file=sys.stderr)
            return 1
        return 0
    if current != text:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
