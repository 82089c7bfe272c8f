"""PutEvents with retries of only the failed entries (lambdas/common/eventbridge.py), on botocore's Stubber."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import boto3
import botocore
import pytest
from botocore.stub import Stubber

from infra.constants import DETAIL_TYPE_DETECTED, DETAIL_TYPE_REVIEW_REQUESTED, EVENT_SOURCE
from lambdas.common.eventbridge import MAX_ENTRIES_PER_CALL, EventBridgeSender, PutEventsError, entries

BUS = "clp-events"
EVENTS: list[tuple[str, dict[str, Any]]] = [
    (DETAIL_TYPE_DETECTED, {"result_id": "r", "status": "DETECTED"}),
    (DETAIL_TYPE_REVIEW_REQUESTED, {"x": 1}),
]


def _client() -> Any:
    return boto3.client("events", region_name="us-east-1")


def test_the_entry_limit_is_botocores() -> None:
    # Given botocore's EventBridge model (what the API validates, not moto)
    path = next((Path(botocore.__file__).parent / "data" / "events").glob("*/service-2.json.gz"))
    shape = json.loads(gzip.decompress(path.read_bytes()))["shapes"]["PutEventsRequestEntryList"]
    # Then one call carries 1 to MAX_ENTRIES_PER_CALL entries, and more (or none) are refused before any call
    assert (shape["min"], shape["max"]) == (1, MAX_ENTRIES_PER_CALL)
    with pytest.raises(ValueError, match="1 to 10"):
        entries(BUS, [(DETAIL_TYPE_DETECTED, {})] * (MAX_ENTRIES_PER_CALL + 1))
    with pytest.raises(ValueError):
        entries(BUS, [])


def test_only_the_entries_eventbridge_reports_failed_are_sent_again() -> None:
    # Given a bus that accepts the first of two entries and throttles the second once
    client = _client()
    both = entries(BUS, EVENTS)
    stub = Stubber(client)
    stub.add_response(
        "put_events",
        {
            "FailedEntryCount": 1,
            "Entries": [{"EventId": "1"}, {"ErrorCode": "ThrottlingException", "ErrorMessage": "x"}],
        },
        {"Entries": both},
    )
    stub.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "2"}]}, {"Entries": [both[1]]})
    sleeps: list[float] = []

    # When both are sent
    with stub:
        EventBridgeSender(client, BUS, sleep=sleeps.append).send(EVENTS)

    # Then the retry carried the failed entry alone (Stubber checks each call's parameters), after one backoff
    stub.assert_no_pending_responses()
    assert sleeps == [0.1]
    assert [entry["DetailType"] for entry in both] == [DETAIL_TYPE_DETECTED, DETAIL_TYPE_REVIEW_REQUESTED]
    assert {entry["Source"] for entry in both} == {EVENT_SOURCE}
    assert json.loads(both[0]["Detail"]) == EVENTS[0][1]


def test_an_entry_failing_every_attempt_raises_naming_the_error() -> None:
    client = _client()
    stub = Stubber(client)
    for _ in range(3):
        stub.add_response(
            "put_events",
            {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "down"}]},
        )

    with stub, pytest.raises(PutEventsError, match="after 3 attempts \\(InternalFailure: down\\)"):
        EventBridgeSender(client, BUS, attempts=3, sleep=lambda _s: None).send(EVENTS[:1])
    stub.assert_no_pending_responses()
