"""The storage and event contract (design §5): every key, prefix, index name and ARN shape in one place.

Event source and detail types, the results and control tables' key names, the builders of every key the
pipeline writes or queries, and the parsing of Rekognition ARNs. The Lambda, the CLI, the offline runtime,
the constructs (and through ``controller_substitutions`` the controller ASL) and the bench import these;
tests/unit/test_contract.py fails on a key prefix or ARN pattern written anywhere else.

Lives with the Lambda code because the deployed asset contains only ``lambdas/`` (so: standard library
only); ``infra/constants.py`` re-exports the names so the CDK app uses the very same values.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

EVENT_SOURCE: Final = "custom-labels-pipeline"
DETAIL_TYPE_DETECTED: Final = "Custom Labels Detected"
DETAIL_TYPE_FAILED: Final = "Custom Labels Detection Failed"
DETAIL_TYPE_MODEL_STARTED: Final = "Model Started"
DETAIL_TYPE_MODEL_STOPPED: Final = "Model Stopped"
DETAIL_TYPE_REVIEW_REQUESTED: Final = "Custom Labels Review Requested"
DETAIL_TYPE_REVIEWED: Final = "Custom Labels Reviewed"

RESULTS_PK: Final = "pk"
RESULTS_SK: Final = "sk"
GSI_LABEL_BY_CONFIDENCE: Final = "by_label_confidence"
GSI_LABEL_BY_TIME: Final = "by_label_time"
GSI_LABEL_PK: Final = "label_key"
GSI_CONFIDENCE_SK: Final = "confidence_sort"
GSI_TIME_SK: Final = "detected_sort"

# One transaction writes the result and one item per distinct label (DynamoDB: 100 items at most).
MAX_LABELS_PER_RESULT: Final = 99

# -- results table keys (docs/results.md) -----------------------------------------------------------------
# result item: pk = OBJ#<bucket>/<key>, sk = RESULT#<project version ARN>#<object version>
# label item:  pk = OBJ#<bucket>/<key>, sk = LABEL#<project version ARN>#<object version>#<label>
OBJECT_PK_PREFIX: Final = "OBJ#"
RESULT_SK_PREFIX: Final = "RESULT#"
LABEL_SK_PREFIX: Final = "LABEL#"


def object_pk(bucket: str, key: str) -> str:
    """Partition of every item of one S3 object (all its versions, all models)."""
    return f"{OBJECT_PK_PREFIX}{bucket}/{key}"


def result_sk_prefix(project_version_arn: str | None = None) -> str:
    """``begins_with`` operand selecting the results of one model version, or of every model (``None``)."""
    return f"{RESULT_SK_PREFIX}{project_version_arn}#" if project_version_arn is not None else RESULT_SK_PREFIX


def result_sk(project_version_arn: str, object_version: str) -> str:
    """Sort key of the result of one object version under one model version."""
    return f"{result_sk_prefix(project_version_arn)}{object_version}"


def label_sk(project_version_arn: str, object_version: str, label_name: str) -> str:
    """Sort key of the label item written beside a result (one per distinct label)."""
    return f"{LABEL_SK_PREFIX}{project_version_arn}#{object_version}#{label_name}"


def label_index_pk(model_name: str, label_name: str) -> str:
    """Partition of the label indexes: labels are only comparable within one model."""
    return f"{model_name}#{label_name}"


# -- review (docs/results.md "Review") ----------------------------------------------------------------------
# A result the review policy selects carries review = PENDING and the keys of the sparse by_review index:
# review_key = <model>#<state>, review_sort = <detected_at>#<bucket>/<key> (oldest first within a model).
BY_REVIEW_INDEX: Final = "by_review"
REVIEW_PK: Final = "review_key"
REVIEW_SK: Final = "review_sort"
REVIEW_PENDING: Final = "PENDING"
REVIEW_REVIEWED: Final = "REVIEWED"
REVIEW_STATES: Final = (REVIEW_PENDING, REVIEW_REVIEWED)


def review_key(model_name: str, state: str) -> str:
    """Partition of the by_review index: one model's results in one review state (PENDING or REVIEWED)."""
    if state not in REVIEW_STATES:
        raise ValueError(f"review state must be one of {', '.join(REVIEW_STATES)}, not {state!r}")
    return f"{model_name}#{state}"


def review_sort(detected_at: str, bucket: str, key: str) -> str:
    """Sort key of the by_review index: detection time (ISO 8601 UTC, sorts as text), then the object."""
    return f"{detected_at}#{bucket}/{key}"


# -- control table keys (infra/constructs/control_table.py) ---------------------------------------------
CONTROL_TABLE_PK: Final = "pk"
CONTROL_TABLE_SK: Final = "sk"
CONTROL_TABLE_TTL_ATTRIBUTE: Final = "expires_at"
MODEL_PK_PREFIX: Final = "MODEL#"
# The cleanup marker (pk MODEL#<name>, this sk): written before a session starts the model or enables the
# mapping, dropped only when both are undone. It carries no TTL attribute, so DynamoDB TTL (which deletes
# expired locks at any time after expiry) can never make the pipeline forget a model it started.
CONTROL_TABLE_LOCK_SK: Final = "LOCK"
CONTROL_TABLE_CLEANUP_SK: Final = "CLEANUP"
# Ledger items: sk = SESSION#<ISO execution start>#<execution name>.
SESSION_SK_PREFIX: Final = "SESSION#"
# '$' is the character right after '#': the upper bound of a BETWEEN that covers every ledger key.
SESSION_SK_UPPER_BOUND: Final = "SESSION$"


def model_pk(model_name: str) -> str:
    """Partition of one model's lock, cleanup marker and ledger (and the controller's IAM LeadingKeys)."""
    return f"{MODEL_PK_PREFIX}{model_name}"


def session_sk_from(start: str) -> str:
    """Lower bound of the ledger keys of sessions started at or after ``start`` (an ISO date or time)."""
    return f"{SESSION_SK_PREFIX}{start}"


# -- Rekognition ARNs ---------------------------------------------------------------------------------------
# The patterns of Rekognition's own API model (botocore data/rekognition/2016-06-27/service-2.json, shapes
# ProjectArn and ProjectVersionArn), with the parts named.
_NAME_PART: Final = r"[a-zA-Z0-9_.\-]{1,255}"
PROJECT_ARN_PATTERN: Final = re.compile(
    rf"^arn:(?P<partition>[a-z\d-]+):rekognition:(?P<region>[a-z\d-]+):(?P<account>\d{{12}}):"
    rf"project/(?P<project>{_NAME_PART})/(?P<timestamp>[0-9]+)$"
)
PROJECT_VERSION_ARN_PATTERN: Final = re.compile(
    rf"^arn:(?P<partition>[a-z\d-]+):rekognition:(?P<region>[a-z\d-]+):(?P<account>\d{{12}}):"
    rf"project/(?P<project>{_NAME_PART})/version/(?P<version>{_NAME_PART})/(?P<timestamp>[0-9]+)$"
)
PROJECT_ARN_SHAPE: Final = "arn:aws:rekognition:<region>:<account>:project/<project>/<13-digit ts>"
PROJECT_VERSION_ARN_SHAPE: Final = "arn:aws:rekognition:<region>:<account>:project/<project>/version/<version>/<ts>"


class ProjectArnParts(NamedTuple):
    partition: str
    region: str
    account: str
    project: str
    timestamp: str


class ProjectVersionArnParts(NamedTuple):
    partition: str
    region: str
    account: str
    project: str
    version: str
    timestamp: str


def parse_project_arn(arn: str) -> ProjectArnParts | None:
    """The parts of a project ARN, or ``None`` when ``arn`` is not one."""
    match = PROJECT_ARN_PATTERN.match(arn)
    return ProjectArnParts(**match.groupdict()) if match else None


def parse_project_version_arn(arn: str) -> ProjectVersionArnParts | None:
    """The parts of a project version ARN, or ``None`` when ``arn`` is not one."""
    match = PROJECT_VERSION_ARN_PATTERN.match(arn)
    return ProjectVersionArnParts(**match.groupdict()) if match else None


def project_arn(partition: str, region: str, account: str, project: str, timestamp: str) -> str:
    """The project ARN of these parts (the inverse of :func:`parse_project_arn`)."""
    return f"arn:{partition}:rekognition:{region}:{account}:project/{project}/{timestamp}"


def project_version_arn(partition: str, region: str, account: str, project: str, version: str, timestamp: str) -> str:
    """The project version ARN of these parts (the inverse of :func:`parse_project_version_arn`)."""
    return f"arn:{partition}:rekognition:{region}:{account}:project/{project}/version/{version}/{timestamp}"


# -- Amazon A2I flow definition ARNs ------------------------------------------------------------------------
# botocore data/sagemaker/2017-07-24/service-2.json: FlowDefinitionArn
# 'arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]+:[0-9]{12}:flow-definition/.*' (max 1024), with the name part narrowed to
# the shape FlowDefinitionName: '[a-z0-9](-*[a-z0-9]){0,62}'.
FLOW_DEFINITION_ARN_PATTERN: Final = re.compile(
    r"^arn:(?P<partition>aws[a-z\-]*):sagemaker:(?P<region>[a-z0-9\-]+):(?P<account>[0-9]{12}):"
    r"flow-definition/(?P<name>[a-z0-9](?:-*[a-z0-9]){0,62})$"
)
FLOW_DEFINITION_ARN_SHAPE: Final = "arn:<partition>:sagemaker:<region>:<account>:flow-definition/<name>"


def is_flow_definition_arn(arn: str) -> bool:
    """Whether ``arn`` is an Amazon A2I (SageMaker) flow definition ARN."""
    return FLOW_DEFINITION_ARN_PATTERN.match(arn) is not None
