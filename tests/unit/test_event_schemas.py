"""The documented events: every schema in docs/events/ is a valid JSON Schema, and every example event in
docs/events.md validates against the schema of its detail type (the published ones are checked in
tests/integration through tests/support/detect.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from tests.support.detect import SCHEMA_SLUGS, SCHEMAS, validate_detail
from tests.support.paths import ROOT

EXAMPLES = [
    json.loads(block)
    for block in re.findall(r"```json\n(.*?)```", (ROOT / "docs" / "events.md").read_text(encoding="utf-8"), re.S)
]


@pytest.mark.parametrize("path", sorted(SCHEMAS.glob("*.schema.json")), ids=lambda path: path.name)
def test_each_schema_is_a_valid_json_schema(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)


def test_every_example_event_validates_against_its_schema() -> None:
    # Given the example events of docs/events.md (rule patterns have a list of detail types, not one)
    events = [doc for doc in EXAMPLES if isinstance(doc.get("detail-type"), str)]
    # Then there is one per detail type the functions publish with a schema of their own here, and each is valid
    assert {event["detail-type"] for event in events} == set(SCHEMA_SLUGS) - {"Custom Labels Detection Failed"}
    for event in events:
        validate_detail(event["detail-type"], event["detail"])


def test_a_review_request_without_a_reason_is_refused() -> None:
    # Given the documented Review Requested example with its reasons emptied
    [example] = [doc for doc in EXAMPLES if doc.get("detail-type") == "Custom Labels Review Requested"]
    detail = {**example["detail"], "reasons": []}
    # When it is validated / Then the schema refuses it (a selected result always has a reason)
    with pytest.raises(jsonschema.ValidationError):
        validate_detail("Custom Labels Review Requested", detail)
