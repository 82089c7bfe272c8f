"""Every name, size and timeout of the pipeline in one place.

The CDK app, the offline runtime and the tests read these so that a change here changes all of them.
"""

from __future__ import annotations

from typing import Final

# Event and table contract (design §5), shared with the Lambda code.
from lambdas.common.contract import (
    BY_REVIEW_INDEX as BY_REVIEW_INDEX,
    CONTROL_TABLE_CLEANUP_SK as CONTROL_TABLE_CLEANUP_SK,
    CONTROL_TABLE_LOCK_SK as CONTROL_TABLE_LOCK_SK,
    CONTROL_TABLE_PK as CONTROL_TABLE_PK,
    CONTROL_TABLE_SK as CONTROL_TABLE_SK,
    CONTROL_TABLE_TTL_ATTRIBUTE as CONTROL_TABLE_TTL_ATTRIBUTE,
    DETAIL_TYPE_DETECTED as DETAIL_TYPE_DETECTED,
    DETAIL_TYPE_FAILED as DETAIL_TYPE_FAILED,
    DETAIL_TYPE_MODEL_STARTED as DETAIL_TYPE_MODEL_STARTED,
    DETAIL_TYPE_MODEL_STOPPED as DETAIL_TYPE_MODEL_STOPPED,
    DETAIL_TYPE_REVIEW_REQUESTED as DETAIL_TYPE_REVIEW_REQUESTED,
    DETAIL_TYPE_REVIEWED as DETAIL_TYPE_REVIEWED,
    EVENT_SOURCE as EVENT_SOURCE,
    GSI_CONFIDENCE_SK as GSI_CONFIDENCE_SK,
    GSI_LABEL_BY_CONFIDENCE as GSI_LABEL_BY_CONFIDENCE,
    GSI_LABEL_BY_TIME as GSI_LABEL_BY_TIME,
    GSI_LABEL_PK as GSI_LABEL_PK,
    GSI_TIME_SK as GSI_TIME_SK,
    MAX_LABELS_PER_RESULT as MAX_LABELS_PER_RESULT,
    RESULTS_PK as RESULTS_PK,
    RESULTS_SK as RESULTS_SK,
    REVIEW_PK as REVIEW_PK,
    REVIEW_SK as REVIEW_SK,
)

# Lambda.
LAMBDA_PYTHON_RUNTIME: Final = "python3.14"
POWERTOOLS_VERSION: Final = "3.37.0"  # keep equal to the pinned aws-lambda-powertools in pyproject.toml
# Public SSM parameter AWS publishes for every Powertools layer release (resolved at deploy time).
POWERTOOLS_LAYER_SSM_PARAMETER: Final = (
    f"/aws/service/powertools/python/arm64/{LAMBDA_PYTHON_RUNTIME}/{POWERTOOLS_VERSION}"
)
DETECT_FUNCTION_TIMEOUT_SECONDS: Final = 60
DETECT_FUNCTION_MEMORY_MB: Final = 512
DETECT_HANDLER: Final = "lambdas.detect.handler.handler"
METRICS_NAMESPACE: Final = "CustomLabelsPipeline"
SERVICE_NAME: Final = "custom-labels-pipeline"

# SQS.
SQS_BATCH_SIZE: Final = 10
SQS_MAX_BATCHING_WINDOW_SECONDS: Final = 1
# AWS recommends a queue visibility timeout of at least six times the function timeout.
QUEUE_VISIBILITY_TIMEOUT_SECONDS: Final = 6 * DETECT_FUNCTION_TIMEOUT_SECONDS
QUEUE_RETENTION_DAYS: Final = 14
DLQ_MAX_RECEIVE_COUNT: Final = 5
# Event source mapping MaximumConcurrency bounds (AWS limits).
ESM_MIN_CONCURRENCY: Final = 2
ESM_MAX_CONCURRENCY: Final = 1000
# Expected wall time of one DetectCustomLabels call, used to size concurrency from the model's TPS:
# N concurrent pollers each doing ~1/latency calls per second saturate N/latency TPS.
DETECT_CALL_SECONDS_ESTIMATE: Final = 1.0

# Lambda caps a function's environment variables at 4 KB in aggregate (Lambda Developer Guide, "Lambda quotas",
# "Function environment variables"); a model's review policy travels as one of them (REVIEW_POLICY, JSON) and may
# take half, leaving the rest for the names, ARNs and URLs the function also needs.
REVIEW_POLICY_ENV_MAX_BYTES: Final = 2048

# Lambda handler settings.
# A record whose model is not RUNNING goes back on the queue as a new message after this delay,
# so it is never dead-lettered for that reason (SQS allows at most 900 s).
NOT_READY_REQUEUE_DELAY_SECONDS: Final = 60

# Amazon A2I (infra/constructs/review.py; docs/a2i.md), per model whose review names a flow definition.
A2I_START_HANDLER: Final = "lambdas.a2i.start_handler.handler"
A2I_INGEST_HANDLER: Final = "lambdas.a2i.handler.handler"
# One StartHumanLoop call, or one output.json read + one conditional UpdateItem + one PutEvents.
A2I_FUNCTION_TIMEOUT_SECONDS: Final = 30
A2I_FUNCTION_MEMORY_MB: Final = 256
# Both rules' delivery to their function: retried by EventBridge, then kept in the construct's dead-letter queue
# (RetryPolicy allows 0-185 retries and an event age of 60 s to 24 h: botocore's events model, shape RetryPolicy).
A2I_RULE_RETRY_ATTEMPTS: Final = 8
A2I_RULE_MAX_EVENT_AGE_HOURS: Final = 24

# Logs: CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS: Final = 30
LOG_RETENTION_CHOICES: Final = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 3653)

# Model controller
CONTROLLER_ASL_FILE: Final = "controller.asl.json"  # in infra/statemachines/, shared by CDK, offline runtime and tests
# The control table's key names and its lock / cleanup / ledger sort keys: lambdas/common/contract.py.
# Stopping a Custom Labels model takes a few minutes; past this the execution ends and the cleanup marker makes
# the next execution adopt the model and retry the stop.
CONTROLLER_STOP_TIMEOUT_MINUTES: Final = 15
# An execution's TimeoutSeconds (= the lock TTL) must exceed the session's own deadlines (start timeout + max
# runtime + stop timeout) by one poll of each loop plus this allowance for retries' back-off (6 attempts of
# up to 60 s each per retried state), so that the execution never times out before its teardown has run.
CONTROLLER_TIMEOUT_RETRY_ALLOWANCE_MINUTES: Final = 10
# Step Functions fails a STANDARD execution past 25,000 history events (AWS quota, "Quotas related to state
# machine executions"). History events of one loop iteration, as Step Functions records them: Task state =
# TaskStateEntered, TaskScheduled, TaskStarted, TaskSucceeded, TaskStateExited (5); Wait and Choice = entered +
# exited (2 each). Drain loop: WaitPoll + ReadQueue + CheckStopRequest + DrainDecision; start / stop loops:
# Wait + DescribeProjectVersions + Choice. tests/controller measures these numbers on moto's history.
STEP_FUNCTIONS_HISTORY_QUOTA: Final = 25_000
CONTROLLER_DRAIN_LOOP_EVENTS: Final = 14
CONTROLLER_START_STOP_LOOP_EVENTS: Final = 9
# Everything outside the loops (about 50 states) plus retries: what a session may use besides its loops.
CONTROLLER_FIXED_EVENTS_ALLOWANCE: Final = 1_000
# Configurations must leave this share of the quota unused (retries, operator stop requests, slow deletes).
CONTROLLER_HISTORY_BUDGET: Final = 20_000
# How long a start usually takes; the backlog trigger fires this much before the latency target is missed.
CONTROLLER_START_LATENCY_MARGIN_MINUTES: Final = 15
# The backlog alarm's evaluation period (SQS publishes queue metrics once a minute).
CONTROLLER_BACKLOG_PERIOD_MINUTES: Final = 1
# Periodic re-check while a backlog alarm stays in ALARM (an alarm rule only fires on transitions).
CONTROLLER_RECHECK_MINUTES: Final = 10
# Retries of an EventBridge Scheduler / rule delivery to StartExecution.
CONTROLLER_TRIGGER_RETRY_ATTEMPTS: Final = 3
CONTROLLER_TRIGGER_MAX_EVENT_AGE_MINUTES: Final = 15
# Alarm periods: the Rekognition InServiceInferenceUnits metric and the Step Functions execution metrics.
CONTROLLER_ALARM_PERIOD_MINUTES: Final = 5
# Log groups of the state machines (controller, backfill): vendedlogs keeps CloudWatch Logs' resource policy small.
STATES_LOG_GROUP_PREFIX: Final = "/aws/vendedlogs/states/"
# ${BacklogAlarmName} of a controller without a backlog alarm (mode `scheduled`). Not empty: cfn-lint
# (E1029) reads an empty DefinitionSubstitutions value as a missing one.
NO_BACKLOG_ALARM: Final = "-"
# CloudWatch limits an alarm's evaluation range (period x evaluation periods) to one day.
CLOUDWATCH_MAX_EVALUATION_RANGE_MINUTES: Final = 24 * 60

# Scale and operations
BACKFILL_ASL_FILE: Final = "backfill.asl.json"  # in infra/statemachines/, shared by CDK, tests and benchmarks
# sqs:SendMessageBatch takes at most 10 entries: one child execution of the Distributed Map per batch.
BACKFILL_ITEMS_PER_BATCH: Final = 10
# Child executions of the Distributed Map at once (AWS allows up to 10,000). Each issues <= 10 DynamoDB
# queries and one SendMessageBatch, so 100 stays far below SQS's and on-demand DynamoDB's limits.
BACKFILL_MAX_CONCURRENCY: Final = 100
# Where the Distributed Map writes its result files (manifest + per-batch outputs) in the uploads bucket.
# No model prefix may overlap it, so these files never reach a detect queue.
BACKFILL_RESULTS_PREFIX: Final = "_backfill-runs/"
# Operator alarms of the monitoring construct.
MONITORING_PERIOD_MINUTES: Final = 5
# The detect function's errors: ALARM from this many errored invocations in one period.
LAMBDA_ERRORS_ALARM_THRESHOLD: Final = 1
# Session cost: the controller's "Model Stopped" event, read from its execution log by a metric filter.
SESSION_COST_METRIC: Final = "SessionCostUSD"
