"""PutEvents on the pipeline's bus with retries of only the entries EventBridge reports as failed.

Shared by the detect function (a result's events) and the review package (``Custom Labels Reviewed``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from lambdas.common.contract import EVENT_SOURCE

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

# botocore's EventBridge model (data/events/2014-02-03/service-2.json, shape PutEventsRequestEntryList) allows
# 1 to 10 entries per PutEvents call.
MAX_ENTRIES_PER_CALL = 10


class PutEventsError(Exception):
    """Some entries were still rejected (or the call failed) after every attempt."""


def entries(bus_name: str, events: Sequence[tuple[str, dict[str, Any]]]) -> list[dict[str, str]]:
    """PutEvents entries of ``(detail type, detail)`` pairs on ``bus_name``, in order."""
    if not 1 <= len(events) <= MAX_ENTRIES_PER_CALL:
        raise ValueError(f"PutEvents takes 1 to {MAX_ENTRIES_PER_CALL} entries, not {len(events)}")
    return [
        {
            "Source": EVENT_SOURCE,
            "DetailType": detail_type,
            "Detail": json.dumps(detail, separators=(",", ":")),
            "EventBusName": bus_name,
        }
        for detail_type, detail in events
    ]


def failed_entries(sent: list[dict[str, str]], response: dict[str, Any]) -> tuple[list[dict[str, str]], str]:
    """The entries of ``sent`` that ``response`` reports failed, and the first error, as text.

    EventBridge answers one result entry per request entry, in request order, and a failed one carries
    ``ErrorCode``; the caller must "detect unsuccessful entries and include them in a subsequent call" (EventBridge
    User Guide, "Sending events with PutEvents", eb-putevents.html, "Handling failures with PutEvents").
    """
    if response.get("FailedEntryCount", 0) == 0:
        return [], ""
    results = response.get("Entries", [])
    failed = [entry for entry, result in zip(sent, results, strict=False) if result.get("ErrorCode")]
    first: dict[str, Any] = next((r for r in results if r.get("ErrorCode")), {})
    return failed or sent, f"{first.get('ErrorCode')}: {first.get('ErrorMessage')}"


class EventBridgeSender:
    """Sends up to ten events in one PutEvents call; resends only the failed ones, with capped backoff."""

    def __init__(
        self,
        client: EventBridgeClient,
        bus_name: str,
        attempts: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._bus = bus_name
        self._attempts = attempts
        self._sleep = sleep

    def send(self, events: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Put every ``(detail type, detail)`` on the bus; raises PutEventsError when some never got there."""
        pending = entries(self._bus, events)
        last_error = "unknown"
        for attempt in range(self._attempts):
            try:
                response = self._client.put_events(Entries=pending)  # type: ignore[arg-type]
            except ClientError as exc:
                last_error = exc.response["Error"]["Code"]
            else:
                pending, last_error = failed_entries(pending, dict(response))
                if not pending:
                    return
            self._sleep(min(2.0, 0.1 * 2**attempt))
        raise PutEventsError(f"PutEvents failed after {self._attempts} attempts ({last_error})")
