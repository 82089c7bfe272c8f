"""Property-based tests of event parsing beyond tests/unit/test_parsing.py: arbitrary bodies never escape
as anything but the domain error (so a bad message dead-letters with a reason instead of crash-looping),
and result keys never collide across object versions or models."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings, strategies as st

from lambdas.detect.errors import MalformedMessageError
from lambdas.detect.logic import parse_message, to_records
from lambdas.detect.mapping import object_pk, result_sk
from tests.support import ids
from tests.support.events import S3_NOTIFICATION_MULTI, load_event

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


def _parse(body: str) -> list[Any] | None:
    try:
        return to_records(parse_message(body))
    except MalformedMessageError:
        return None


@settings(max_examples=200)
@given(st.text(max_size=300))
def test_any_text_body_is_parsed_or_rejected_with_the_domain_error(body: str) -> None:
    # Given any SQS body whatsoever, When it is parsed, Then only MalformedMessageError can escape
    _parse(body)


@settings(max_examples=200)
@given(json_values)
def test_any_json_document_is_parsed_or_rejected_with_the_domain_error(document: Any) -> None:
    _parse(json.dumps(document))


@settings(max_examples=100)
@given(st.dictionaries(st.sampled_from(["eventName", "s3", "eventTime", "eventSource"]), json_values))
def test_a_mangled_record_is_rejected_not_crashed_on(fields: dict[str, Any]) -> None:
    # Given a real record with some fields replaced by arbitrary JSON
    record = load_event(S3_NOTIFICATION_MULTI)["Records"][0]
    record.update(fields)
    # When parsed, Then it is either a valid record or the domain error
    _parse(json.dumps({"Records": [record]}))


@given(
    st.tuples(st.text(min_size=1, max_size=30), st.text(min_size=1, max_size=30)),
    st.tuples(st.text(min_size=1, max_size=12), st.text(min_size=1, max_size=12)),
)
def test_result_keys_differ_for_different_versions_or_models(keys: tuple[str, str], versions: tuple[str, str]) -> None:
    # Given two object versions of one key (or two keys) under one model
    first = (object_pk("b", keys[0]), result_sk(ids.VERSION_ARN, versions[0]))
    second = (object_pk("b", keys[1]), result_sk(ids.VERSION_ARN, versions[1]))
    # Then they share a result key only when key and version are equal (exactly-once is per version)
    assert (first == second) == (keys[0] == keys[1] and versions[0] == versions[1])
