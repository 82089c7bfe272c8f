"""The detect function's wiring: which client and which setting each adapter gets, and the deployed clients."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from lambdas.detect import handler as handler_module
from lambdas.detect.models import ImageRef
from lambdas.detect.settings import Settings
from lambdas.detect.wiring import build_dependencies, deployed_client

ARN = "arn:aws:rekognition:us-east-1:111122223333:project/p/version/p.1/1767225600000"
ENV = {
    "MODEL_NAME": "produce",
    "PROJECT_VERSION_ARN": ARN,
    "MODEL_PREFIX": "produce/",
    "MIN_CONFIDENCE": "55",
    "MAX_RESULTS": "7",
    "RESULTS_TABLE": "results-table",
    "EVENT_BUS_NAME": "events-bus",
    "QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/111122223333/detect",
    "NOT_READY_DELAY_SECONDS": "42",
}
IMAGE = ImageRef(bucket="b", key="produce/a.jpg", version_id="v1", uploaded_at=datetime(2026, 1, 1, tzinfo=UTC))


class _Recorder:
    """A fake client of one service: records (operation, request) and answers like the service would."""

    def __init__(self, service: str, calls: list[tuple[str, str, dict[str, Any]]]) -> None:
        self._service, self._calls = service, calls

    def __getattr__(self, operation: str) -> Any:
        def call(**request: Any) -> dict[str, Any]:
            self._calls.append((self._service, operation, request))
            return {"CustomLabels": [], "FailedEntryCount": 0, "Entries": [{"EventId": "e"}]}

        return call


def _settings() -> Settings:
    return Settings.model_validate(ENV)


def _wired() -> tuple[Any, list[tuple[str, str, dict[str, Any]]]]:
    calls: list[tuple[str, str, dict[str, Any]]] = []
    return build_dependencies(_settings(), lambda service: _Recorder(service, calls)), calls


def test_each_adapter_calls_its_own_service_with_the_settings() -> None:
    # Given dependencies wired on recording clients
    deps, calls = _wired()
    # When each adapter is used once
    deps.detector.detect(IMAGE)
    deps.inspector.exists(IMAGE)
    deps.repository.get(IMAGE, ARN)
    deps.publisher.publish({"status": "DETECTED"})
    deps.requeuer.requeue({"Records": []})
    # Then each call went to the adapter's service, carrying the model, table, bus and queue settings
    by_service = {service: (operation, request) for service, operation, request in calls}
    assert [(s, op) for s, op, _ in calls] == [
        ("rekognition", "detect_custom_labels"),
        ("s3", "head_object"),
        ("dynamodb", "get_item"),
        ("events", "put_events"),
        ("sqs", "send_message"),
    ]
    detect = by_service["rekognition"][1]
    assert (detect["ProjectVersionArn"], detect["MinConfidence"], detect["MaxResults"]) == (ARN, 55.0, 7)
    assert by_service["dynamodb"][1]["TableName"] == "results-table"
    assert by_service["events"][1]["Entries"][0]["EventBusName"] == "events-bus"
    send = by_service["sqs"][1]
    assert (send["QueueUrl"], send["DelaySeconds"]) == (ENV["QUEUE_URL"], 42)


def test_the_clock_is_the_wall_clock_unless_one_is_given() -> None:
    # Given a fixed clock
    fixed = datetime(2030, 5, 6, tzinfo=UTC)
    # When wired with and without it
    given = build_dependencies(_settings(), lambda service: _Recorder(service, []), now=lambda: fixed)
    default, _ = _wired()
    # Then the given clock is used, and the default one tells the current time
    assert given.now() == fixed
    assert abs((default.now() - datetime.now(UTC)).total_seconds()) < 60


def test_publish_retries_back_off_with_the_given_sleep() -> None:
    # Given an events client that fails every entry, and a recording sleep
    class _Failing:
        def put_events(self, **_: Any) -> dict[str, Any]:
            return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "x"}]}

    slept: list[float] = []
    failing = _Failing()
    deps = build_dependencies(
        _settings(),
        lambda service: failing if service == "events" else _Recorder(service, []),
        publish_sleep=slept.append,
    )
    # When a publish gives up
    with pytest.raises(Exception, match="PutEvents failed"):
        deps.publisher.publish({"status": "DETECTED"})
    # Then it waited through the given sleep between attempts
    assert slept and all(s > 0 for s in slept)


@pytest.mark.parametrize(
    ("service", "mode", "attempts"),
    [("rekognition", "adaptive", 8), ("s3", "standard", 6), ("dynamodb", "standard", 6), ("sqs", "standard", 6)],
)
def test_deployed_clients_retry_adaptively_for_rekognition_only(
    monkeypatch: pytest.MonkeyPatch, service: str, mode: str, attempts: int
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    # When the deployed function creates its client for the service
    client = deployed_client(service)
    # Then it has the retry mode and budget chosen for that service
    assert client.meta.service_model.service_name == service
    # (botocore keeps ``max_attempts`` retries as ``total_max_attempts``, the first attempt included)
    assert client.meta.config.retries == {"mode": mode, "total_max_attempts": attempts + 1}


def test_the_handler_creates_its_clients_once_per_container(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the function's environment and a factory that counts the clients it creates
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    created: list[str] = []

    def factory(service: str) -> Any:
        created.append(service)
        return _Recorder(service, [])

    monkeypatch.setattr(handler_module, "deployed_client", factory)
    handler_module.settings.cache_clear()
    handler_module.dependencies.cache_clear()
    try:
        # When the dependencies are asked for twice
        first, second = handler_module.dependencies(), handler_module.dependencies()
    finally:
        handler_module.settings.cache_clear()
        handler_module.dependencies.cache_clear()
    # Then one client per service was created, on the first call only
    assert first is second
    assert sorted(created) == ["dynamodb", "events", "rekognition", "s3", "sqs"]
