"""The detect Lambda's ports (Protocols) live apart from their boto3 implementations."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from lambdas.detect import ports

ROOT = Path(__file__).resolve().parents[2]
DETECT = ROOT / "lambdas" / "detect"
PORT_NAMES = {
    name for name, node in vars(ports).items() if isinstance(node, type) and node.__module__ == ports.__name__
}


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _protocol_classes(path: Path) -> list[str]:
    return [
        node.name
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.ClassDef)
        and any(
            isinstance(base, ast.Name | ast.Attribute) and ast.unparse(base).endswith("Protocol") for base in node.bases
        )
    ]


def _imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _names_imported_from_adapters(path: Path) -> set[str]:
    return {
        alias.name
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.ImportFrom) and node.module == "lambdas.detect.adapters"
        for alias in node.names
    }


def test_every_protocol_of_the_detect_lambda_is_in_ports() -> None:
    # Given every module of the detect Lambda
    modules = sorted(DETECT.glob("*.py"))
    # When the Protocol classes each defines are listed
    defined = {path.name: _protocol_classes(path) for path in modules}
    # Then only ports.py defines any, and it defines the five the logic depends on
    assert {name: classes for name, classes in defined.items() if classes and name != "ports.py"} == {}
    assert set(defined["ports.py"]) == {
        "Detector",
        "ObjectInspector",
        "ResultsRepository",
        "EventPublisher",
        "Requeuer",
    }


def test_logic_depends_on_the_ports_not_on_boto3_or_the_adapters() -> None:
    # Given the logic module's imports
    imported = _imported_modules(DETECT / "logic.py")
    # Then it reaches the outside world only through ports
    assert "lambdas.detect.ports" in imported
    assert not {m for m in imported if m == "lambdas.detect.adapters" or m.split(".")[0] in {"boto3", "botocore"}}


@pytest.mark.parametrize("package", ["lambdas", "localrun", "bench", "clp", "tests", "scripts"])
def test_no_module_imports_a_port_from_the_adapters(package: str) -> None:
    # Given every Python module of the package
    paths = sorted((ROOT / package).rglob("*.py"))
    # When the names each imports from lambdas.detect.adapters are collected
    offenders = {
        str(p.relative_to(ROOT)): names for p in paths if (names := _names_imported_from_adapters(p) & PORT_NAMES)
    }
    # Then none of them is a port or a value type of the ports module
    assert offenders == {}
