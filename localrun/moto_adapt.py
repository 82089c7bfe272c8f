"""Adaptations that let moto's Step Functions interpreter run the real controller definition.

Offline and in tests only — the deployed definition is never changed for moto:
* moto 5.2 ships its JSONata interpreter without an evaluator: ``install_moto_jsonata`` plugs in
  jsonata-python (see ``infra/statemachines/moto_jsonata.py``).
* moto names aws-sdk errors with the lower-case service name (``rekognition.ThrottlingException``)
  where AWS uses PascalCase (``Rekognition.ThrottlingException``): :func:`moto_definition` rewrites
  those ``ErrorEquals`` prefixes in the definition text before the state machine is created in moto.
* Wait states and retries sleep in real time: callers pass scaled (or zero) intervals as input.
"""

from __future__ import annotations

import re
from typing import Any

MOTO_CONFIG: Any = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
# aws-sdk services whose error prefix moto spells in lower case (optimized integrations are unaffected).
AWS_SDK_ERROR_PREFIXES = ("Rekognition", "Lambda", "Sqs", "CloudWatch")
_ERROR_NAME = re.compile(r'"(' + "|".join(AWS_SDK_ERROR_PREFIXES) + r')\.([A-Za-z]+)"')


def moto_definition(definition: str) -> str:
    """Rewrite ``"Rekognition.X"``-style error names to moto's ``"rekognition.X"``."""
    return _ERROR_NAME.sub(lambda m: f'"{m.group(1).lower()}.{m.group(2)}"', definition)
