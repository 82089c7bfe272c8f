"""How uploads reach a detect queue: S3 "Object Created" events on the default EventBridge bus.

One definition for the deployed rule (infra/constructs/detection.py), the offline runtime's rule
(localrun/runtime.py) and the handler that reads the events, so the three cannot drift. Lives with the
Lambda code because the deployed asset contains only ``lambdas/``.

Why EventBridge and not S3 event notifications to SQS: writing a bucket's notification configuration makes
S3 send an ``s3:TestEvent`` to every SQS destination (PutBucketNotificationConfiguration, S3 API
reference); on a stopped model's queue it would sit there and age into the backlog alarm, starting a
billed model session for nothing. S3 sends no test event through EventBridge.
"""

from __future__ import annotations

from typing import Any, Final

# Envelope values of S3 events on EventBridge (S3 user guide, "EventBridge event message structure").
S3_EVENT_SOURCE: Final = "aws.s3"
DETAIL_TYPE_OBJECT_CREATED: Final = "Object Created"

# EventBridge retries a failed delivery to the queue as long as it allows (botocore's events model: RetryPolicy
# MaximumRetryAttempts 0-185, MaximumEventAgeInSeconds 60-86400); only then does the event go to the model's
# dead-letter queue, whose alarm pages someone. An upload is never dropped silently.
RETRY_ATTEMPTS: Final = 185
MAX_EVENT_AGE_SECONDS: Final = 86400


def object_created_pattern(bucket_name: str, prefix: str) -> dict[str, Any]:
    """The event pattern matching every object created in ``bucket_name`` under ``prefix``.

    ``bucket_name`` may be a CDK token. No suffix filter: images are recognised by content, and a
    non-image becomes a FAILED result rather than an upload nobody hears about.
    """
    return {
        "source": [S3_EVENT_SOURCE],
        "detail-type": [DETAIL_TYPE_OBJECT_CREATED],
        "detail": {
            "bucket": {"name": [bucket_name]},
            "object": {"key": [{"prefix": prefix}]},
        },
    }
