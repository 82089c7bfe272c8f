"""S3 events inside SQS bodies, in both shapes: EventBridge "Object Created" events (uploads) and S3 event
notification ``Records`` (backfill, older messages): parsing, key encoding, test events, malformed bodies."""

from __future__ import annotations

import json
from urllib.parse import quote_plus

import pytest
from hypothesis import given, strategies as st

from lambdas.common.ingest import object_created_pattern
from lambdas.detect.errors import MalformedMessageError
from lambdas.detect.logic import image_of, parse_message, to_records
from tests.support.events import (
    EVENTBRIDGE_OBJECT_CREATED as EVENTBRIDGE,
    S3_NOTIFICATION_MULTI,
    SQS_S3_PUT,
    SQS_S3_TEST_EVENT,
    eventbridge_object_created,
    load_event,
)


def _eventbridge_body(**object_fields: object) -> str:
    return json.dumps(eventbridge_object_created(**object_fields))


def test_real_s3_put_event_in_sqs_is_parsed_and_the_key_decoded() -> None:
    body = load_event(SQS_S3_PUT)["Records"][0]["body"]

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
    body = json.dumps(load_event(S3_NOTIFICATION_MULTI))

    images = [image_of(record) for record in to_records(parse_message(body))]

    assert [image.key for image in images] == ["produce/a b.jpg", "produce/桃/peach%20half.png"]
    assert images[1].etag == "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-2"


def test_s3_test_event_has_no_records() -> None:
    body = load_event(SQS_S3_TEST_EVENT)["Records"][0]["body"]

    assert parse_message(body).items == ()


def test_unversioned_object_is_keyed_on_its_etag() -> None:
    body = load_event(S3_NOTIFICATION_MULTI)
    del body["Records"][0]["s3"]["object"]["versionId"]

    image = image_of(to_records(parse_message(json.dumps(body)))[0])

    assert image.version_id is None
    assert image.object_version == "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"hello": "world"}', "neither an EventBridge event"),
        ('{"Records": [{"eventName": "ObjectCreated:Put"}]}', "not an S3 event notification"),
    ],
)
def test_malformed_bodies_raise_a_domain_error_with_the_reason(body: str, reason: str) -> None:
    with pytest.raises(MalformedMessageError, match=reason):
        to_records(parse_message(body))


@given(st.text(min_size=1, max_size=200).filter(lambda s: "\x00" not in s))
def test_any_key_survives_s3_url_encoding(key: str) -> None:
    record = load_event(S3_NOTIFICATION_MULTI)["Records"][0]
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
    template = load_event(S3_NOTIFICATION_MULTI)["Records"][0]
    records = []
    for obj in objects:
        record = json.loads(json.dumps(template))
        record["s3"]["object"].update(key=quote_plus(str(obj["key"])), size=obj["size"])
        records.append(record)

    images = [image_of(r) for r in to_records(parse_message(json.dumps({"Records": records})))]

    assert [(i.key, i.size) for i in images] == [(o["key"], o["size"]) for o in objects]


def test_documented_eventbridge_object_created_event_is_parsed_with_the_key_as_is() -> None:
    # Given the body EventBridge puts on the queue: the event itself, in the shape the S3 user guide documents
    body = json.dumps(load_event(EVENTBRIDGE))

    # When it is parsed
    [record] = to_records(parse_message(body))
    image = image_of(record)

    # Then the image is the object as S3 stored it: spaces, '+', ':' and '%20' are not decoded
    assert record.is_object_created
    assert image.bucket == "clp-uploads-example"
    assert image.key == "produce/crate 7/2026-11-26T01:58:12 apple+pear%20(ripe).JPG"
    assert image.version_id == "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"
    assert image.etag == "0123456789abcdef0123456789abcdef"
    assert image.size == 204511
    assert image.uploaded_at.isoformat() == "2026-11-26T01:58:12+00:00"


def test_eventbridge_keys_keep_every_character_a_notification_would_encode() -> None:
    # Given keys that S3 notifications would deliver as 'a+b.jpg', 'a%2Bb.jpg', '10%3A47.jpg'
    for key in ("produce/a b.jpg", "produce/a+b.jpg", "produce/10:47:07.jpg", "produce/100%25.jpg"):
        # When they arrive in the EventBridge shape
        image = image_of(to_records(parse_message(_eventbridge_body(key=key)))[0])
        # Then each key is used exactly as delivered
        assert image.key == key


@given(st.text(min_size=1, max_size=200))
def test_any_eventbridge_key_is_taken_verbatim(key: str) -> None:
    image = image_of(to_records(parse_message(_eventbridge_body(key=key)))[0])

    assert image.key == key


def test_moto_spelling_of_the_etag_and_its_unix_time_are_accepted() -> None:
    # Given moto's variant: 'eTag' instead of AWS's 'etag', 'time' as epoch seconds
    event = load_event(EVENTBRIDGE)
    del event["detail"]["object"]["etag"]
    event["detail"]["object"]["eTag"] = "feedfacefeedfacefeedfacefeedface"
    event["time"] = 1795658292.0

    image = image_of(to_records(parse_message(json.dumps(event)))[0])

    assert image.etag == "feedfacefeedfacefeedfacefeedface"
    assert image.uploaded_at.isoformat() == "2026-11-26T01:58:12+00:00"


def test_aws_etag_spelling_wins_when_moto_spelling_is_also_present() -> None:
    body = _eventbridge_body(eTag="ignored")

    image = image_of(to_records(parse_message(body))[0])

    assert image.etag == "0123456789abcdef0123456789abcdef"


def test_unversioned_eventbridge_object_is_keyed_on_its_etag() -> None:
    event = load_event(EVENTBRIDGE)
    del event["detail"]["object"]["version-id"]

    image = image_of(to_records(parse_message(json.dumps(event)))[0])

    assert image.version_id is None
    assert image.object_version == "0123456789abcdef0123456789abcdef"


def test_other_s3_eventbridge_events_are_parsed_but_not_object_created() -> None:
    # Given an 'Object Deleted' event (were the rule ever widened)
    event = load_event(EVENTBRIDGE)
    event["detail-type"] = "Object Deleted"
    event["detail"]["reason"] = "DeleteObject"

    [record] = to_records(parse_message(json.dumps(event)))

    assert not record.is_object_created
    assert record.event_name == "Object Deleted:DeleteObject"


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda e: e["detail"]["object"].pop("key"), "detail.object.key: Field required"),
        (lambda e: e["detail"].pop("bucket"), "detail.bucket: Field required"),
        (lambda e: e.update(detail="not an object"), "detail: Input should be"),
        (lambda e: e["detail"]["object"].update(size="big"), "detail.object.size"),
        (lambda e: e.pop("time"), "time: Field required"),
        (lambda e: e.update(source="custom-labels-pipeline"), "source: Input should be 'aws.s3'"),
    ],
    ids=["no-key", "no-bucket", "detail-not-object", "bad-size", "no-time", "not-from-s3"],
)
def test_bad_eventbridge_detail_raises_the_domain_error_naming_the_field(mangle: object, reason: str) -> None:
    event = load_event(EVENTBRIDGE)
    mangle(event)  # type: ignore[operator]

    with pytest.raises(MalformedMessageError, match="not an S3 EventBridge event") as raised:
        to_records(parse_message(json.dumps(event)))
    assert reason in str(raised.value)


def test_the_rule_pattern_selects_exactly_the_documented_event_fields() -> None:
    # Given the pattern the deployed rule and the offline runtime both use
    pattern = object_created_pattern("clp-uploads-example", "produce/")
    event = load_event(EVENTBRIDGE)

    # Then every pattern field names a field of the documented event, with the value it carries
    assert event["source"] in pattern["source"]
    assert event["detail-type"] in pattern["detail-type"]
    assert event["detail"]["bucket"]["name"] in pattern["detail"]["bucket"]["name"]
    [key_filter] = pattern["detail"]["object"]["key"]
    assert event["detail"]["object"]["key"].startswith(key_filter["prefix"])
