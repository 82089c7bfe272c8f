"""The storage contract has one home: lambdas/common/contract.py.

The builders and ARN parsers are checked against the shapes AWS documents (botocore's Rekognition model),
and a scan of the source packages fails, naming file:line, on a key prefix or an ARN pattern spelled
anywhere else. The scan reads only string constants of code (``ast``; docstrings skipped) and JSON string
values (the ASL), so comments and docstrings may still name the keys.
"""

from __future__ import annotations

import ast
import gzip
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore
import pytest

from lambdas.common import contract

ROOT = Path(__file__).resolve().parents[2]
SOURCE_PACKAGES = ("lambdas", "clp", "localrun", "bench", "infra", "scripts")
CONTRACT_FILE = ROOT / "lambdas" / "common" / "contract.py"
# A key prefix anywhere in a string, or a sort key / index name as the whole string.
_PREFIXES = re.compile(r"MODEL#|RESULT#|OBJ#|LABEL#|SESSION[#$]|#(PENDING|REVIEWED)$")
_WHOLE = {
    "LOCK",
    "CLEANUP",
    contract.GSI_LABEL_BY_CONFIDENCE,
    contract.GSI_LABEL_BY_TIME,
    contract.BY_REVIEW_INDEX,
}
_ARN_FRAGMENT = re.compile(r"project/|/version/")

VERSION_ARN = "arn:aws:rekognition:us-east-1:111122223333:project/shop/version/shop.2/1767225600000"
PROJECT_ARN = "arn:aws:rekognition:us-east-1:111122223333:project/shop/1767225600000"


def _rekognition_shapes() -> dict[str, Any]:
    path = next((Path(botocore.__file__).parent / "data" / "rekognition").glob("*/service-2.json.gz"))
    return json.loads(gzip.decompress(path.read_bytes()))["shapes"]


def stray(text: str) -> str | None:
    """Why ``text`` (one string constant) belongs in the contract module, or ``None``."""
    if _PREFIXES.search(text):
        return "key prefix"
    if text in _WHOLE:
        return "sort key / index name"
    # A complete ARN is a value (a sample model); anything else naming its segments parses or builds ARNs.
    if _ARN_FRAGMENT.search(text) and not (
        contract.parse_project_arn(text) or contract.parse_project_version_arn(text)
    ):
        return "ARN fragment"
    return None


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def python_strays(path: Path, source: str) -> Iterator[str]:
    tree = ast.parse(source, filename=str(path))
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            why = stray(node.value)
            if why:
                yield f"{path}:{node.lineno}: {why} in {node.value!r}"


def _json_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _json_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_strings(item)


def json_strays(path: Path, source: str) -> Iterator[str]:
    lines = source.splitlines()
    for text in _json_strings(json.loads(source)):
        why = stray(text)
        if why:
            # JSON has no line numbers of its own: the first line that spells the value.
            needle = json.dumps(text)[1:-1]
            line = next((n for n, spelled in enumerate(lines, 1) if needle in spelled), 0)
            yield f"{path}:{line}: {why} in {text!r}"


def jsonata_strays(path: Path, source: str) -> Iterator[str]:
    # Comments (/* */) removed; what is left is code, where any match is a real literal.
    code = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), source, flags=re.S)
    for number, line in enumerate(code.splitlines(), 1):
        for literal in re.findall(r"'([^']*)'|\"([^\"]*)\"", line):
            why = stray("".join(literal))
            if why:
                yield f"{path}:{number}: {why} in {''.join(literal)!r}"


SCANNERS = {".py": python_strays, ".json": json_strays, ".jsonata": jsonata_strays}


def scan(root: Path) -> list[str]:
    found: list[str] = []
    for package in SOURCE_PACKAGES:
        for path in sorted((root / package).rglob("*")):
            scanner = SCANNERS.get(path.suffix)
            if scanner is None or path.resolve() == CONTRACT_FILE or "__pycache__" in path.parts:
                continue
            found += scanner(path.relative_to(root), path.read_text(encoding="utf-8"))
    return found


def test_no_key_prefix_or_arn_pattern_outside_the_contract_module() -> None:
    # Given the source packages (the ASL sources and the assembled definitions included)
    # When they are scanned for string constants the contract module owns
    found = scan(ROOT)
    # Then there are none: every user imports the contract
    assert found == []


def test_the_scan_finds_literals_in_code_and_ignores_docstrings_and_comments(tmp_path: Path) -> None:
    # Given a module that spells a prefix in code, a sort key, an ARN regex and the same names in prose
    source = '''"""Items live under MODEL#<name> with sk LOCK."""
# pk = OBJ#<bucket>/<key>
import re

def f(name: str) -> str:
    """Returns MODEL#name."""
    return f"MODEL#{name}"

SK = "LOCK"
RX = re.compile(r":project/(?P<name>[^/]+)/")
ARN = "arn:aws:rekognition:us-east-1:111122223333:project/shop/1767225600000"
'''
    # When it is scanned
    found = list(python_strays(Path("m.py"), source))
    # Then the three literals in code are reported by line, the prose and the complete sample ARN are not
    assert sorted((entry.split(":")[1] for entry in found), key=int) == ["7", "9", "10"]


def test_the_scan_reads_asl_values_and_jsonata_code_not_comments() -> None:
    # Given an ASL fragment with a literal key and a JSONata file mentioning one in a comment and one in code
    asl = json.dumps({"Arguments": {"Key": {"pk": {"S": "MODEL#${ModelName}"}, "sk": {"S": "CLEANUP"}}}}, indent=2)
    jsonata = "/* sk: SESSION#<start> */\n'SESSION#' & $x\n"
    # When both are scanned
    in_asl = list(json_strays(Path("a.json"), asl))
    in_jsonata = list(jsonata_strays(Path("e.jsonata"), jsonata))
    # Then both ASL values are found, and only the JSONata code line
    assert [entry.split(": ")[1].split(" in ")[0] for entry in in_asl] == ["key prefix", "sort key / index name"]
    assert [entry.split(":")[1] for entry in in_jsonata] == ["2"]


def test_the_arn_patterns_are_the_rekognition_api_patterns() -> None:
    # Given botocore's Rekognition service model (the API's own constraints, not moto's)
    shapes = _rekognition_shapes()
    # When the API pattern and the contract's (named groups removed) are compared
    for shape, ours in (
        ("ProjectArn", contract.PROJECT_ARN_PATTERN),
        ("ProjectVersionArn", contract.PROJECT_VERSION_ARN_PATTERN),
    ):
        api = shapes[shape]["pattern"].replace("\\/", "/")
        unnamed = re.sub(r"\(\?P<[a-z]+>", "(", ours.pattern)
        # Then they accept the same language: the API's, with each part captured
        assert re.sub(r"[()]", "", api) == re.sub(r"[()]", "", unnamed)


@pytest.mark.parametrize(
    "arn",
    [
        VERSION_ARN,
        "arn:aws-cn:rekognition:cn-north-1:111122223333:project/a_b.c-d/version/v-1.0_x/1",
    ],
)
def test_a_version_arn_parses_into_parts_that_rebuild_it(arn: str) -> None:
    # Given a project version ARN / When it is parsed
    parts = contract.parse_project_version_arn(arn)
    # Then its parts rebuild exactly that ARN, and its project ARN parses too
    assert parts is not None
    assert contract.project_version_arn(*parts) == arn
    project = contract.project_arn(parts.partition, parts.region, parts.account, parts.project, parts.timestamp)
    assert contract.parse_project_arn(project) is not None


def test_arn_parsing_names_the_parts_and_refuses_the_other_kind() -> None:
    # Given a version ARN and its project ARN
    # When each is parsed as both kinds
    version = contract.parse_project_version_arn(VERSION_ARN)
    project = contract.parse_project_arn(PROJECT_ARN)
    # Then each parses only as its own kind, with its parts named
    assert version == contract.ProjectVersionArnParts(
        "aws", "us-east-1", "111122223333", "shop", "shop.2", "1767225600000"
    )
    assert project == contract.ProjectArnParts("aws", "us-east-1", "111122223333", "shop", "1767225600000")
    assert contract.parse_project_arn(VERSION_ARN) is None
    assert contract.parse_project_version_arn(PROJECT_ARN) is None
    assert contract.parse_project_version_arn(VERSION_ARN.replace("111122223333", "1111")) is None


def test_the_key_builders_spell_the_documented_keys() -> None:
    # Given the keys docs/results.md and infra/constructs/control_table.py document
    # When they are built / Then they read exactly as documented
    assert contract.object_pk("b", "dir/a.jpg") == "OBJ#b/dir/a.jpg"
    assert contract.result_sk(VERSION_ARN, "v1") == f"RESULT#{VERSION_ARN}#v1"
    assert contract.result_sk_prefix(VERSION_ARN) == f"RESULT#{VERSION_ARN}#"
    assert contract.result_sk_prefix() == "RESULT#"
    assert contract.label_sk(VERSION_ARN, "v1", "apple") == f"LABEL#{VERSION_ARN}#v1#apple"
    assert contract.label_index_pk("shop", "apple") == "shop#apple"
    assert contract.model_pk("shop") == "MODEL#shop"
    assert (contract.CONTROL_TABLE_LOCK_SK, contract.CONTROL_TABLE_CLEANUP_SK) == ("LOCK", "CLEANUP")
    assert contract.session_sk_from("2026-01-01") == "SESSION#2026-01-01"
    assert contract.review_key("shop", "PENDING") == "shop#PENDING"
    assert contract.review_key("shop", "REVIEWED") == "shop#REVIEWED"
    assert contract.review_sort("2026-01-01T00:00:00.000Z", "b", "dir/a.jpg") == "2026-01-01T00:00:00.000Z#b/dir/a.jpg"
    with pytest.raises(ValueError, match="review state"):
        contract.review_key("shop", "DONE")
    # the BETWEEN upper bound sorts after every ledger key and before any other prefix
    assert contract.session_sk_from("9999") < contract.SESSION_SK_UPPER_BOUND < "SESSIONa"


def test_the_flow_definition_arn_pattern_is_within_the_sagemaker_api_pattern() -> None:
    # Given botocore's SageMaker model (the API's FlowDefinitionArn and FlowDefinitionName shapes)
    path = next((Path(botocore.__file__).parent / "data" / "sagemaker").glob("*/service-2.json.gz"))
    shapes = json.loads(gzip.decompress(path.read_bytes()))["shapes"]
    api_arn = re.compile(shapes["FlowDefinitionArn"]["pattern"])
    api_name = re.compile(shapes["FlowDefinitionName"]["pattern"])
    # When ARNs are checked by the contract / Then what it accepts the API accepts, and a name the API refuses fails
    for arn in (
        "arn:aws:sagemaker:us-east-1:111122223333:flow-definition/produce-review",
        "arn:aws-us-gov:sagemaker:us-gov-west-1:111122223333:flow-definition/a--b9",
    ):
        assert contract.is_flow_definition_arn(arn)
        assert api_arn.fullmatch(arn)
        assert api_name.fullmatch(arn.rsplit("/", 1)[1])
    for arn in (
        "arn:aws:sagemaker:us-east-1:111122223333:flow-definition/Produce_Review",
        "arn:aws:sagemaker:us-east-1:111122223333:flow-definition/",
        "arn:aws:sagemaker:us-east-1:111122223333:human-loop/produce-review",
        "arn:aws:rekognition:us-east-1:111122223333:flow-definition/produce-review",
    ):
        assert not contract.is_flow_definition_arn(arn)
