"""The control table: one lock item and a ledger of sessions per model (docs/controller.md).

* lock:   ``pk = MODEL#<name>``, ``sk = LOCK`` - owner execution, ``expires_at`` (epoch seconds),
  ``model_owned`` (a controller started the model and has not confirmed it stopped).
* ledger: ``pk = MODEL#<name>``, ``sk = SESSION#<ISO execution start>#<execution name>`` - one
  item per session with its times, messages processed, IU-seconds and estimated cost.

``expires_at`` is the TTL attribute: DynamoDB eventually deletes expired locks (housekeeping
only; the controller's conditional put already treats an expired lock as free).
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy, aws_dynamodb as dynamodb
from constructs import Construct

from infra import constants


class ControlTable(Construct):
    """On-demand, point-in-time recovery, AWS-managed encryption, retained on stack deletion."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        string = dynamodb.AttributeType.STRING
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=constants.CONTROL_TABLE_PK, type=string),
            sort_key=dynamodb.Attribute(name=constants.CONTROL_TABLE_SK, type=string),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            time_to_live_attribute=constants.CONTROL_TABLE_TTL_ATTRIBUTE,
            # The ledger is the cost history of every model session: never lost with the stack.
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
