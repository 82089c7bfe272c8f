"""Start an Amazon A2I human loop for a result waiting for review (StartHumanLoop, custom task type)."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Final, Protocol

from botocore.exceptions import ClientError

from lambdas.a2i.errors import HumanLoopStartError
from lambdas.a2i.models import TaskInput
from lambdas.common.observability import logger
from lambdas.review.models import PendingReview

# botocore sagemaker-a2i-runtime 2019-11-07, StartHumanLoopRequest.HumanLoopName: 1-63, ^[a-z0-9](-*[a-z0-9])*$.
HUMAN_LOOP_NAME_MAX: Final = 63
HUMAN_LOOP_NAME_PREFIX: Final = "clp-"
_PLAIN: Final = re.compile(r"^[a-z0-9]+$")
# The same model's StartHumanLoop errors: ConflictException is "the same name as another active human loop but
# ... different input data"; the input of a redelivered request is byte-identical (sorted keys, same result), so
# the conflict means the loop for this result exists already.
ALREADY_STARTED: Final = "ConflictException"


class A2iRuntimeClient(Protocol):
    """The part of boto3's ``sagemaker-a2i-runtime`` client the starter uses."""

    def start_human_loop(self, **kwargs: Any) -> dict[str, Any]: ...


def human_loop_name(result_id: str) -> str:
    """A deterministic loop name for a result: ``clp-<result_id>`` (result ids are 32 lower-case hex digits), or
    ``clp-<sha256 of it>`` cut to 63 characters for any other id. A redelivery asks for the same name."""
    body = result_id if _PLAIN.match(result_id) else hashlib.sha256(result_id.encode()).hexdigest()
    return (HUMAN_LOOP_NAME_PREFIX + body)[:HUMAN_LOOP_NAME_MAX]


def input_content(pending: PendingReview) -> str:
    """``HumanLoopInput.InputContent``: :class:`TaskInput` as JSON, keys sorted so a redelivery sends the same."""
    document = TaskInput.of(pending).model_dump(mode="json", by_alias=True)
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


class HumanLoopStarter:
    """Starts one human loop per pending result, at most once per result (the name is derived from its id)."""

    def __init__(self, client: A2iRuntimeClient, flow_definition_arn: str) -> None:
        self._client = client
        self._flow_definition_arn = flow_definition_arn

    def start(self, pending: PendingReview) -> str:
        """Start the loop of ``pending``; returns its name. A loop already started for it counts as started."""
        name = human_loop_name(pending.result_id)
        try:
            self._client.start_human_loop(
                HumanLoopName=name,
                FlowDefinitionArn=self._flow_definition_arn,
                HumanLoopInput={"InputContent": input_content(pending)},
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == ALREADY_STARTED:
                logger.info("human loop already started", extra={"human_loop": name, "result_id": pending.result_id})
                return name
            raise HumanLoopStartError(f"StartHumanLoop {name} failed: {code}: {exc}") from exc
        logger.info("human loop started", extra={"human_loop": name, "result_id": pending.result_id})
        return name
