"""The controller's named retry policies: a fragment says ``"Retry": {"$retry": "<name>"}``.

Every policy retries only throttling and server-side errors, with one shared back-off. Error names are
Step Functions' spelling of the service's errors: ``<Service>.<Java exception class>`` for aws-sdk
integrations (AWS docs, "AWS SDK service integrations"), the service's own prefix for the optimized ones.
Each name is an error shape botocore models for the operations the policy is used with
(``botocore/data/<service>/*/service-2.json``); tests/controller/test_controller_definition.py
``test_retries_name_only_retryable_errors_the_service_models_list`` checks that against every Retry of
the deployed document.
"""

from __future__ import annotations

from typing import Any, Final

# Full jitter so that controllers of several models throttled at once do not retry in step; six attempts
# at 2 s doubling, capped at 60 s, ride out about two minutes of throttling before the Catch takes over.
BACKOFF: Final[dict[str, Any]] = {
    "IntervalSeconds": 2,
    "BackoffRate": 2,
    "MaxAttempts": 6,
    "MaxDelaySeconds": 60,
    "JitterStrategy": "FULL",
}

RETRY_POLICIES: Final[dict[str, tuple[str, ...]]] = {
    # Optimized getItem/putItem/updateItem/deleteItem. botocore dynamodb error shapes of those operations:
    # ProvisionedThroughputExceededException, RequestLimitExceeded, ThrottlingException, InternalServerError
    # (the last two without "Exception" in the shape name get it appended, as the Java class does).
    "dynamodb": (
        "DynamoDB.ProvisionedThroughputExceededException",
        "DynamoDB.RequestLimitExceededException",
        "DynamoDB.ThrottlingException",
        "DynamoDB.InternalServerErrorException",
    ),
    # aws-sdk describeProjectVersions/startProjectVersion/stopProjectVersion. botocore rekognition error
    # shapes: ThrottlingException, ProvisionedThroughputExceededException, InternalServerError.
    # ResourceInUseException is not retried: StartModel and StopModel catch it to re-read the status.
    "rekognition": (
        "Rekognition.ThrottlingException",
        "Rekognition.ProvisionedThroughputExceededException",
        "Rekognition.InternalServerErrorException",
    ),
    # Optimized putEvents. FailedEntry is Step Functions' own error for a non-zero FailedEntryCount (AWS docs,
    # "Add EventBridge events with Step Functions"); InternalException is botocore events' only PutEvents
    # error shape.
    "eventbridge": (
        "EventBridge.FailedEntry",
        "EventBridge.InternalException",
    ),
    # aws-sdk getQueueAttributes. botocore sqs: RequestThrottled is the operation's only throttling shape.
    "sqs": ("Sqs.RequestThrottledException",),
    # aws-sdk updateEventSourceMapping. botocore lambda error shapes: TooManyRequestsException,
    # ServiceException, and ResourceInUseException / ResourceConflictException, which a mapping still
    # updating from the previous call returns and which clear on their own.
    "lambda": (
        "Lambda.TooManyRequestsException",
        "Lambda.ServiceException",
        "Lambda.ResourceInUseException",
        "Lambda.ResourceConflictException",
    ),
}


def retry(name: str) -> list[dict[str, Any]]:
    """The ``Retry`` field of a task using policy ``name`` (one retrier)."""
    return [{"ErrorEquals": list(RETRY_POLICIES[name]), **BACKOFF}]


__all__ = ["BACKOFF", "RETRY_POLICIES", "retry"]
