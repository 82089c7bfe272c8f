"""What every state machine of the pipeline gets: a vended-logs log group and its own service role."""

from __future__ import annotations

from aws_cdk import Stack, aws_iam as iam, aws_logs as logs
from constructs import Construct

from infra import constants
from infra.config import PipelineConfig
from infra.constructs.detection import log_retention
from infra.constructs.naming import stack_instance_suffix


def state_machine_logs_and_role(
    scope: Construct, *, name: str, config: PipelineConfig, description: str
) -> tuple[logs.LogGroup, iam.Role]:
    """``Logs`` and ``Role`` in ``scope`` for the state machine ``name``.

    The role trusts Step Functions of this account only (confused-deputy guard); the log group sits under
    the vendedlogs prefix, which keeps CloudWatch Logs' resource policy small however many machines log, and
    ends in the stack instance's suffix because it is retained (see :func:`stack_instance_suffix`).
    """
    log_group = logs.LogGroup(
        scope,
        "Logs",
        log_group_name=f"{constants.STATES_LOG_GROUP_PREFIX}{name}-{stack_instance_suffix()}",
        retention=log_retention(config.log_retention_days),
    )
    role = iam.Role(
        scope,
        "Role",
        assumed_by=iam.ServicePrincipal(
            "states.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Stack.of(scope).account}}
        ),
        description=description,
    )
    return log_group, role
