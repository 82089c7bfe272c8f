"""Adaptations that let moto's Step Functions interpreter run the real controller definition.

Offline and in tests only — the deployed definition is never changed for moto:
* moto 5.2 ships its JSONata interpreter without an evaluator: ``install_moto_jsonata`` plugs in
  jsonata-python (see ``localrun/moto_jsonata.py``).
* moto names aws-sdk errors with the lower-case service name (``rekognition.ThrottlingException``)
  where AWS uses PascalCase (``Rekognition.ThrottlingException``): :func:`moto_definition` rewrites
  those ``ErrorEquals`` prefixes in the definition text before the state machine is created in moto.
* Step Functions' aws-sdk integrations name request and response fields after the AWS SDK for Java v2
  (the PascalCase of the member's snake_case form: ``UUID`` -> ``Uuid``, ``SNSTopicArn`` ->
  ``SnsTopicArn``, DynamoDB's ``BOOL`` / ``NULL`` -> ``Bool`` / ``Nul``). moto hands the arguments to boto3
  unchanged (so it accepted botocore's ``UUID``, which AWS rejects) and returns boto3's names.
  :func:`install_sdk_field_names` makes moto's aws-sdk tasks take exactly the Step Functions names
  (anything else fails the task) and return them, as AWS does.
* Wait states and retries sleep in real time: callers pass scaled (or zero) intervals as input.
* moto's backends are not thread-safe, and the offline runtime is threaded (detect handler workers,
  Step Functions executions, the rehearsal): DynamoDB's TransactWriteItems deep-copies the whole table
  while other threads write to it ("dictionary changed size during iteration"), SQS's ReceiveMessage
  races on the queue's message list. :func:`serialize_moto_requests` runs one moto request at a time.
* moto parses a state machine's definition with its ANTLR grammar when the state machine is created and again
  at every execution (half a second to a second for the controller's): :func:`cache_parsed_definitions` parses
  each definition text once per machine (the parse is kept on disk) and gives each execution a copy. The
  definition names resources whose ids moto draws at random (the event source mapping's UUID):
  :func:`seed_moto_ids` makes them the same in every world a process builds, so the same definition text
  comes back and is not parsed again.
"""

from __future__ import annotations

import functools
import pickle
import re
import threading
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import moto
from botocore import xform_name
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape
from moto.core.responses import BaseResponse
from moto.moto_api._internal import mock_random
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk as aws_sdk,
)
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from localrun import disk_cache

MOTO_CONFIG: Any = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
# aws-sdk services whose error prefix moto spells in lower case (optimized integrations are unaffected).
AWS_SDK_ERROR_PREFIXES = ("Rekognition", "Lambda", "Sqs", "CloudWatch")
_ERROR_NAME = re.compile(r'"(' + "|".join(AWS_SDK_ERROR_PREFIXES) + r')\.([A-Za-z]+)"')


def moto_definition(definition: str) -> str:
    """Rewrite ``"Rekognition.X"``-style error names to moto's ``"rekognition.X"``."""
    return _ERROR_NAME.sub(lambda m: f'"{m.group(1).lower()}.{m.group(2)}"', definition)


_MOTO_REQUEST_LOCK = threading.RLock()


def moto_request_lock() -> threading.RLock:
    """The lock :func:`serialize_moto_requests` holds while moto answers, for code reading moto's stores directly."""
    return _MOTO_REQUEST_LOCK


def serialize_moto_requests() -> None:
    """Serialize every request moto answers (idempotent; process-wide, offline only).

    Re-entrant, so a request that causes another inside moto (an S3 notification sent to SQS, an
    EventBridge target) does not deadlock. Under the GIL, moto's pure-Python backends lose little.
    """
    dispatch = BaseResponse._dispatch
    if getattr(dispatch, "_clp_serialized", False):
        return

    @functools.wraps(dispatch)
    def serialized(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _MOTO_REQUEST_LOCK:
            return dispatch(self, *args, **kwargs)

    serialized._clp_serialized = True  # type: ignore[attr-defined]
    BaseResponse._dispatch = serialized  # type: ignore[method-assign]


# Java keywords / Object methods the Java SDK v2 renames (snake_case form -> Step Functions name).
_JAVA_RENAMES = {"null": "Nul", "equals": "EqualsValue"}


def sfn_field_name(member: str) -> str:
    """The name Step Functions' aws-sdk integrations give botocore member ``member``: the AWS SDK for Java
    v2's, the PascalCase of its snake_case form (``UUID`` -> ``Uuid``, ``SNSTopicArn`` -> ``SnsTopicArn``)."""
    snake = xform_name(member)
    if snake in _JAVA_RENAMES:
        return _JAVA_RENAMES[snake]
    return "".join(part[:1].upper() + part[1:] for part in snake.split("_"))


class SdkFieldNameError(ValueError):
    """An aws-sdk task argument that is not the Step Functions name of a member of the request shape."""


def sdk_request_to_boto(value: Any, shape: Shape, where: str = "") -> Any:
    """``value`` with Step Functions field names turned into botocore's; raises :class:`SdkFieldNameError`
    for a key that is not the exact Step Functions name of a member (AWS is as strict)."""
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        members = {sfn_field_name(name): (name, member) for name, member in shape.members.items()}
        converted: dict[str, Any] = {}
        for key, item in value.items():
            if key not in members:
                expected = sorted(members)
                raise SdkFieldNameError(
                    f"{where or shape.name}: {key!r} is not a field; Step Functions expects {expected}"
                )
            name, member = members[key]
            converted[name] = sdk_request_to_boto(item, member, f"{where}.{key}" if where else key)
        return converted
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [sdk_request_to_boto(item, shape.member, f"{where}[]") for item in value]
    if isinstance(shape, MapShape) and isinstance(value, dict):  # map keys are data, only values are shapes
        return {key: sdk_request_to_boto(item, shape.value, f"{where}.{key}") for key, item in value.items()}
    return value


def sdk_response_from_boto(value: Any, shape: Shape | None) -> Any:
    """A boto3 response with botocore's member names turned into Step Functions'."""
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        return {
            sfn_field_name(key): sdk_response_from_boto(item, shape.members.get(key)) for key, item in value.items()
        }
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [sdk_response_from_boto(item, shape.member) for item in value]
    if isinstance(shape, MapShape) and isinstance(value, dict):
        return {key: sdk_response_from_boto(item, shape.value) for key, item in value.items()}
    return value


@functools.lru_cache(maxsize=64)
def _service_model(service: str) -> ServiceModel:
    # boto3's default session: its loader has the models the runtime's clients already read (a new botocore
    # session would list botocore's data directory and decode the model again, ~35 ms per service).
    session: botocore.session.Session = boto3._get_default_session()._session
    return session.get_service_model(service)


@functools.lru_cache(maxsize=256)
def _operation(service: str, snake_action: str) -> OperationModel:
    model = _service_model(service)
    for name in model.operation_names:
        if xform_name(name) == snake_action:
            return model.operation_model(name)
    raise SdkFieldNameError(f"{service} has no operation {snake_action}")


def install_sdk_field_names() -> None:
    """Make moto's aws-sdk tasks speak Step Functions' field names, both ways (idempotent, offline only)."""
    service_class: Any = aws_sdk.StateTaskServiceAwsSdk
    if getattr(service_class, "_clp_sdk_field_names", False):
        return

    def normalise_parameters(self: Any, parameters: dict[str, Any], *_: Any, **__: Any) -> None:
        operation = _operation(self._get_boto_service_name(), self._get_boto_service_action())
        converted = sdk_request_to_boto(parameters, operation.input_shape) if operation.input_shape else parameters
        parameters.clear()
        parameters.update(converted)

    def normalise_response(self: Any, response: Any, *_: Any, **__: Any) -> None:
        operation = _operation(self._get_boto_service_name(), self._get_boto_service_action())
        if isinstance(response, dict) and operation.output_shape is not None:
            converted = sdk_response_from_boto(response, operation.output_shape)
            response.clear()
            response.update(converted)

    service_class._normalise_parameters = normalise_parameters
    service_class._normalise_response = normalise_response
    service_class._clp_sdk_field_names = True


def asl_cache_dir() -> Path:
    """Where parsed definitions are kept between processes: ``$XDG_CACHE_HOME/custom-labels-pipeline/asl``."""
    return disk_cache.cache_dir("asl")


def _cache_file(definition: str) -> Path:
    # moto's version is part of the key: a parsed program is moto's own component tree.
    return disk_cache.cache_file("asl", f"{moto.__version__}\n{definition}")


# Definitions kept on disk: the most recently used (tests create definitions with unique texts; a user has a
# handful). About 40 KB each.
ASL_CACHE_ENTRIES = 64


def _read_cached(path: Path) -> bytes | None:
    return disk_cache.read_bytes(path)  # a truncated or foreign file is parsed again and rewritten


def _write_cached(path: Path, data: bytes) -> None:
    disk_cache.write(path, data, keep=ASL_CACHE_ENTRIES)


@functools.lru_cache(maxsize=32)
def _parsed_program(definition: str) -> bytes:
    """The pickled program of ``definition``: from the disk cache, or parsed with moto's ANTLR grammar once."""
    path = _cache_file(definition)
    cached = _read_cached(path)
    if cached is not None:
        return cached
    program = AmazonStateLanguageParser.parse(definition)[0]
    data = pickle.dumps(program, protocol=pickle.HIGHEST_PROTOCOL)
    _write_cached(path, data)
    return data


def cache_parsed_definitions() -> None:
    """Parse each state machine definition once, not once per execution (idempotent; process-wide, offline only).

    moto's execution worker parses the definition with its ANTLR grammar at every StartExecution: about half a
    second of host time for the controller definition, which the re-check schedule starts every 10 simulated
    minutes. The parsed program is kept pickled per definition text, and every execution evaluates its own
    unpickled copy (~6 ms; a fresh object tree, so no state an execution leaves on the program's components
    can reach another execution). The pickles are also kept on disk (:func:`asl_cache_dir`, keyed by moto's
    version and the definition text), so a new process — each ``clp local run`` — does not parse again; an
    unreadable cache file is parsed again and replaced. Only this module writes there (a pickle runs code when
    loaded: the directory must be the user's own, as ``~/.cache`` is); deleting it only costs a parse.
    """
    worker: Any = ExecutionWorker
    if getattr(worker, "_clp_cached_parse", False):
        return

    def entrypoint(self: Any) -> Any:
        return pickle.loads(_parsed_program(self._evaluation_details.state_machine_details.definition))

    backend: Any = StepFunctionsParserBackend
    validate_uncached = backend._validate_definition

    def validate(definition: str) -> None:
        # CreateStateMachine / UpdateStateMachine validate by parsing too (a second per controller definition):
        # a definition parsed once is valid; one that fails gets moto's own InvalidDefinition from its parse.
        try:
            _parsed_program(definition)
        except Exception:
            validate_uncached(definition)

    worker._get_evaluation_entrypoint = entrypoint
    backend._validate_definition = staticmethod(validate)
    worker._clp_cached_parse = True


def seed_moto_ids(seed: int = 0) -> None:
    """Seed the random source moto draws resource ids from (offline only).

    The same world then gets the same ids (event source mapping UUIDs, revision ids) in every run: runs are
    reproducible, and a controller definition, whose substitutions name the mapping, is the same text each
    time, so :func:`cache_parsed_definitions` parses it once per process.
    """
    mock_random.seed(seed)
