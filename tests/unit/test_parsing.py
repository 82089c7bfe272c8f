"""S3 notifications inside SQS bodies: parsing, key decoding, test events, malformed bodies."""

from __future__ import annotations

import json
from urllib.parse import quote_plus

import pytest
from hypothesis import given, strategies as st

from lambdas.detect.errors import MalformedMessageError
from lambdas.detect.logic import image_of, parse_message, to_records
from tests.conftest import load_event


def test_real_s3_put_event_in_sqs_is_parsed_and_the_key_decoded() -> None:
    body = load_event("sqs_s3_put.json")["Records"][0]["body"]

    records = to_records(parse_message(body))
    image = image_of(records[0])

    assert len(records) == 1
    assert records[0].is_object_created
    assert image.bucket == "clp-uploads-example"
    assert image.key == "produce/crate 7/apple(ripe) #1.JPG"
    assert image.version_id == "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"
    assert image.object_version == image.version_id
    assert image.size == 204511


def test_several_records_in_one_message_are_all_parsed() -> None:
    body = json.dumps(load_event("s3_notification_multi.json"))

    images = [image_of(record) for record in to_records(parse_message(body))]

    assert [image.key for image in images] == ["produce/a b.jpg", "produce/桃/peach%20half.png"]
    assert images[1].etag == "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-2"


def test_s3_test_event_has_no_records() -> None:
    body = load_event("sqs_s3_test_event.json")["Records"][0]["body"]

    assert parse_message(body) == []


def test_unversioned_object_is_keyed_on_its_etag() -> None:
    body = load_event("s3_notification_multi.json")
    del body["Records"][0]["s3"]["object"]["versionId"]

    image = image_of(to_records(parse_message(json.dumps(body)))[0])

    assert image.version_id is None
    assert image.object_version == "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"hello": "world"}', "no 'Records' list"),
        ('{"Records": [{"eventName": "ObjectCreated:Put"}]}', "not an S3 event notification"),
    ],
)
def test_malformed_bodies_raise_a_domain_error_with_the_reason(body: str, reason: str) -> None:
    with pytest.raises(MalformedMessageError, match=reason):
        to_records(parse_message(body))


@given(st.text(min_size=1, max_size=200).filter(lambda s: "\x00" not in s))
def test_any_key_survives_s3_url_encoding(key: str) -> None:
    record = load_event("s3_notification_multi.json")["Records"][0]
    record["s3"]["object"]["key"] = quote_plus(key, safe="")

    image = image_of(to_records(parse_message(json.dumps({"Records": [record]})))[0])

    assert image.key == key


@given(
    st.lists(
        st.fixed_dictionaries(
            {"key": st.text(min_size=1, max_size=50), "size": st.integers(min_value=0, max_value=2**40)}
        ),
        min_size=1,
        max_size=5,
    )
)
def test_every_record_of_a_message_becomes_one_image(objects: list[dict[str, object]]) -> None:
    template = load_event("s3_notification_multi.json")["Records"][0]
    records = []
    for obj in objects:
        record = json.loads(json.dumps(template))
        record["s3"]["object"].update(key=quote_plus(str(obj["key"])), size=obj["size"])
        records.append(record)

    images = [image_of(r) for r in to_records(parse_message(json.dumps({"Records": records})))]

    assert [(i.key, i.size) for i in images] == [(o["key"], o["size"]) for o in objects]
