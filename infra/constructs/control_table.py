"""The control table: per model a lock, a cleanup marker and a ledger of sessions (docs/controller.md).

* lock:    ``pk = MODEL#<name>``, ``sk = LOCK`` - owner execution, ``expires_at`` (epoch seconds), while
  draining ``polled_at`` and an operator's ``stop_requested``.
* marker:  ``pk = MODEL#<name>``, ``sk = CLEANUP`` - written before a session starts the model
  (``model_owned``) or enables the mapping (``mapping_enabled``), deleted once both are undone. It has no
  ``expires_at``: TTL never deletes it, so a model the pipeline started is found and stopped by the next
  execution of any trigger, even after its session timed out or its lock was deleted.
* ledger:  ``pk = MODEL#<name>``, ``sk = SESSION#<ISO execution start>#<execution name>`` - one
  item per session with its times, messages processed, IU-seconds and estimated cost.

``expires_at`` is the TTL attribute: DynamoDB deletes expired locks at any time after expiry, often days
later (housekeeping only; the controller's conditional put already treats an expired lock as free, and
nothing the pipeline must remember lives on the lock).
"""

from __future__ import annotations

from constructs import Construct

from infra import constants
from infra.constructs.tables import retained_table


class ControlTable(Construct):
    """On-demand, point-in-time recovery, AWS-managed encryption, retained on stack deletion."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        # The ledger is the cost history of every model session: never lost with the stack (retained_table).
        self.table = retained_table(
            self,
            constants.CONTROL_TABLE_PK,
            constants.CONTROL_TABLE_SK,
            time_to_live_attribute=constants.CONTROL_TABLE_TTL_ATTRIBUTE,
        )
