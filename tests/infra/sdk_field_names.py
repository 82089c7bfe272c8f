"""What AWS, not moto, calls the fields of a Step Functions Task: the naming rule and a checker.

moto matches aws-sdk argument names loosely and builds results with its own casing, so a definition
that moto runs can still be rejected by AWS (the controller shipped ``UUID`` to
``lambda:updateEventSourceMapping``; AWS wants ``Uuid``). The sources this module follows:

* AWS Step Functions developer guide, "Learning to use AWS service SDK integrations"
  (supported-services-awssdk.html): aws-sdk parameters are PascalCase "even if the native service API
  is in camelCase" (``startSyncExecution`` takes ``StateMachineArn``); an API field ``Equals`` is
  called ``EqualsValue``; the resource is ``arn:aws:states:::aws-sdk:serviceName:apiAction``, with the
  service names of that page's table (``sfn`` for Step Functions, ``eventbridge`` for EventBridge).
* aws/aws-step-functions-data-science-sdk-python#198: Step Functions rejects ``SNSTopicArn`` in an
  aws-sdk Textract task ("The field "SNSTopicArn" is not supported by Step Functions"): the names are
  the Java SDK v2's, the PascalCase of the member's snake_case form (``SnsTopicArn``).
* re:Post "step function dynamodb query with boolean filter": aws-sdk DynamoDB takes ``Bool`` where
  the optimized integration takes ``BOOL`` ("internally the step-function uses JAVA SDK"); Java SDK v2
  calls the ``NULL`` member ``nul`` (``null`` is a Java keyword), so Step Functions says ``Nul``.
* Optimized integrations (``arn:aws:states:::dynamodb:putItem`` ...) take the service API's own
  member names (``BOOL``, ``TableName``; connect-ddb.html, connect-eventbridge.html); Step Functions'
  own API is camelCase and its optimized integration (connect-stepfunctions.html) capitalises it
  (``StateMachineArn``, ``Input``).
* The Map state's ``ResultWriter`` takes ``Bucket`` and ``Prefix`` (input-output-resultwriter.html),
  which are not a PutObject request: they are checked against that list, not botocore.

Request and result shapes come from botocore's service models (the same JSON models every AWS SDK is
generated from).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import botocore.session
import jsonata  # type: ignore[import-untyped]  # jsonata-python ships no type information
from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape

from localrun.moto_adapt import sfn_field_name

# aws-sdk service names (Step Functions docs table) that are not botocore's.
AWS_SDK_SERVICE_ALIASES = {"sfn": "stepfunctions", "eventbridge": "events"}
# Optimized integrations: resource service -> botocore service.
OPTIMIZED_SERVICES = {
    "dynamodb": "dynamodb",
    "events": "events",
    "sqs": "sqs",
    "sns": "sns",
    "states": "stepfunctions",
    "s3": "s3",
    "lambda": "lambda",
}
RESULT_WRITER_ARGUMENTS = {"Bucket", "Prefix"}

_RESOURCE = re.compile(r"^arn:(?:aws|\$\{Partition\}):states:::(?:(aws-sdk):)?([a-z0-9-]+):([A-Za-z0-9]+)(?:\.\w+)?$")
_RESULT_READ = re.compile(r"\$states\.result((?:\.[A-Za-z_][A-Za-z0-9_]*|\[[^\]]*\])+)")
_SEGMENT = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[([^\]]*)\]")
_PREDICATE_FIELD = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:=|!=|<|>|in\b)")


# One naming rule for the static check and the offline runtime's moto adaptation (which makes moto take and
# return exactly these names); tests/infra/test_sdk_field_names.py pins it on known cases.
sfn_sdk_name = sfn_field_name


def sfn_optimized_name(member: str) -> str:
    """The name an optimized integration uses: the API's own, first letter capitalised (``BOOL``, ``Input``)."""
    return member[:1].upper() + member[1:]


@dataclass(frozen=True)
class Integration:
    """One Task resource mapped to a botocore operation and the naming rule its fields follow."""

    resource: str
    kind: str  # "aws-sdk" | "optimized"
    operation: OperationModel

    def name_of(self, member: str) -> str:
        return sfn_sdk_name(member) if self.kind == "aws-sdk" else sfn_optimized_name(member)


class UnknownIntegrationError(ValueError):
    """A resource that maps to no botocore operation (a new alias or a typo: either way, look at it)."""


_SESSION = botocore.session.get_session()


def integration_for(resource: str) -> Integration:
    """Map ``arn:aws:states:::aws-sdk:lambda:updateEventSourceMapping`` (or an optimized ARN) to botocore."""
    match = _RESOURCE.match(resource)
    if not match:
        raise UnknownIntegrationError(f"not a Step Functions service integration ARN: {resource}")
    sdk, service, action = match.groups()
    if sdk:
        botocore_service = AWS_SDK_SERVICE_ALIASES.get(service, service)
    elif service in OPTIMIZED_SERVICES:
        botocore_service = OPTIMIZED_SERVICES[service]
    else:
        raise UnknownIntegrationError(f"no botocore service known for optimized integration {resource}")
    if botocore_service not in _SESSION.get_available_services():
        raise UnknownIntegrationError(f"{resource}: botocore has no service {botocore_service!r}")
    model = _SESSION.get_service_model(botocore_service)
    operation = action[:1].upper() + action[1:]
    if operation not in model.operation_names:
        raise UnknownIntegrationError(f"{resource}: {botocore_service} has no operation {operation}")
    return Integration(resource, "aws-sdk" if sdk else "optimized", model.operation_model(operation))


@dataclass(frozen=True)
class Finding:
    """A field name AWS would reject (or a result field AWS never returns)."""

    state: str
    where: str
    key: str
    expected: str | None
    shape: str

    def __str__(self) -> str:
        hint = f"expected {self.expected!r}" if self.expected else "no such member"
        return f"state {self.state!r}: {self.where} key {self.key!r} is not a member of {self.shape} ({hint})"


def _expected(integration: Integration, shape: StructureShape, key: str) -> str | None:
    for member in shape.members:
        if key.lower() in (member.lower(), integration.name_of(member).lower()) or key == member:
            return integration.name_of(member)
    return None


# ----- static values and JSONata expressions as "skeletons" of the JSON they produce -----

Skeleton = dict[str, list[Any]] | tuple[str, list[Any]] | None  # object | ("list", items) | scalar/unknown


def expression_skeletons(expression: str) -> list[Skeleton]:
    """The object/array shapes a JSONata expression can produce, from its object and array literals.

    Keys that are string literals are kept; ``$merge`` of literals merges them, conditions give both
    branches, ``$map`` gives its function's body as list items; anything else (a variable, a path, a
    string built by ``$string``) is unknown and not checked.
    """
    return _node_skeletons(jsonata.Jsonata(expression).ast)


def _node_skeletons(node: Any) -> list[Skeleton]:
    kind, value = getattr(node, "type", None), getattr(node, "value", None)
    if kind == "unary" and value == "{":
        return [_object_skeleton(node)]
    if kind == "unary" and value == "[":
        return [_array_skeleton(node)]
    if kind == "condition":
        return _node_skeletons(node.then) + (_node_skeletons(node._else) if node._else is not None else [])
    if kind == "block":
        return _node_skeletons(node.expressions[-1]) if node.expressions else [None]
    if kind == "function" and node.procedure is not None:
        return _function_skeletons(getattr(node.procedure, "value", None), node.arguments or [])
    return [None]


def _is_array_constructor(node: Any) -> bool:
    return getattr(node, "type", None) == "unary" and getattr(node, "value", None) == "["


def _object_skeleton(node: Any) -> Skeleton:
    obj: dict[str, list[Any]] = {}
    for key_node, value_node in node.lhs_object or []:
        if getattr(key_node, "type", None) == "string":
            obj.setdefault(key_node.value, []).extend(_node_skeletons(value_node))
    return obj


def _array_skeleton(node: Any) -> Skeleton:
    items: list[Any] = []
    for item in node.expressions or []:
        nested = _is_array_constructor(item)
        for skeleton in _node_skeletons(item):
            # An array constructor flattens the arrays its items evaluate to, except nested constructors.
            if isinstance(skeleton, tuple) and not nested:
                items.extend(skeleton[1])
            else:
                items.append(skeleton)
    return ("list", items)


def _function_skeletons(name: object, arguments: list[Any]) -> list[Skeleton]:
    if name == "merge" and arguments:
        return [_merged_skeleton(_node_skeletons(arguments[0]))]
    if name == "map" and len(arguments) > 1 and getattr(arguments[1], "type", None) == "lambda":
        return [("list", _node_skeletons(arguments[1].body))]
    return [None]


def _merged_skeleton(skeletons: list[Skeleton]) -> Skeleton:
    """``$merge`` of an array of objects: their keys together (a key in several keeps every value)."""
    merged: dict[str, list[Any]] = {}
    for skeleton in skeletons:
        for part in skeleton[1] if isinstance(skeleton, tuple) else [skeleton]:
            if isinstance(part, dict):
                for key, values in part.items():
                    merged.setdefault(key, []).extend(values)
    return merged


def _value_skeletons(value: Any) -> list[Skeleton]:
    if isinstance(value, str) and value.startswith("{%") and value.endswith("%}"):
        return expression_skeletons(value[2:-2])
    if isinstance(value, dict):
        return [{key: _value_skeletons(item) for key, item in value.items()}]
    if isinstance(value, list):
        return [("list", [s for item in value for s in _value_skeletons(item)])]
    return [None]


@dataclass
class Checker:
    """Check the argument keys and result reads of every Task of a definition; collect findings."""

    findings: list[Finding] = field(default_factory=list)
    checked_keys: int = 0
    checked_reads: int = 0

    def arguments(self, state: str, integration: Integration, arguments: Any) -> None:
        shape = integration.operation.input_shape
        if shape is None:
            return
        for skeleton in _value_skeletons(arguments):
            self._skeleton(state, integration, skeleton, shape, "Arguments")

    def _skeleton(self, state: str, integration: Integration, skeleton: Skeleton, shape: Shape, where: str) -> None:
        if skeleton is None:
            return
        if isinstance(skeleton, tuple):
            if isinstance(shape, ListShape):
                for item in skeleton[1]:
                    self._skeleton(state, integration, item, shape.member, f"{where}[]")
        elif isinstance(shape, MapShape):
            self._map_skeleton(state, integration, skeleton, shape, where)
        elif isinstance(shape, StructureShape):
            self._structure_skeleton(state, integration, skeleton, shape, where)

    def _map_skeleton(
        self, state: str, integration: Integration, skeleton: dict[str, list[Any]], shape: MapShape, where: str
    ) -> None:
        for key, values in skeleton.items():
            self._map_key(state, where, key, shape)
            for value in values:
                self._skeleton(state, integration, value, shape.value, f"{where}.{key}")

    def _structure_skeleton(
        self, state: str, integration: Integration, skeleton: dict[str, list[Any]], shape: StructureShape, where: str
    ) -> None:
        names = {integration.name_of(member): member for member in shape.members}
        for key, values in skeleton.items():
            self.checked_keys += 1
            if key not in names:
                self.findings.append(Finding(state, where, key, _expected(integration, shape, key), shape.name))
                continue
            for value in values:
                self._skeleton(state, integration, value, shape.members[names[key]], f"{where}.{key}")

    def _map_key(self, state: str, where: str, key: str, shape: MapShape) -> None:
        allowed: list[str] = getattr(shape.key, "enum", [])
        if allowed and key not in allowed and not key.startswith("{%"):
            closest = difflib.get_close_matches(key, allowed, n=1)
            self.findings.append(
                Finding(state, where, key, closest[0] if closest else None, f"the keys of {shape.name}")
            )

    def result_reads(self, state: str, integration: Integration, texts: Iterator[str]) -> None:
        """Every ``$states.result.A.B[...]`` path in ``texts`` must exist in the output shape."""
        for text in texts:
            for match in _RESULT_READ.finditer(text):
                self._path(state, integration, match.group(1))

    def _path(self, state: str, integration: Integration, path: str) -> None:
        shape: Shape | None = integration.operation.output_shape
        walked = "$states.result"
        for name, predicate in _SEGMENT.findall(path):
            while isinstance(shape, ListShape):  # JSONata maps a path step over an array
                shape = shape.member
            if shape is None:
                return
            if predicate:
                field_match = _PREDICATE_FIELD.match(predicate)
                if field_match and isinstance(shape, StructureShape):
                    self._member(state, integration, shape, field_match.group(1), f"{walked}[...]")
                walked += f"[{predicate}]"
                continue
            walked += f".{name}"
            if isinstance(shape, MapShape):
                self._map_key(state, walked, name, shape)
                shape = shape.value
                continue
            if not isinstance(shape, StructureShape):
                return
            shape = self._member(state, integration, shape, name, walked)

    def _member(
        self, state: str, integration: Integration, shape: StructureShape, name: str, where: str
    ) -> Shape | None:
        self.checked_reads += 1
        for member, member_shape in shape.members.items():
            if integration.name_of(member) == name:
                return member_shape
        self.findings.append(
            Finding(state, f"result read {where}:", name, _expected(integration, shape, name), shape.name)
        )
        return None


def iter_states(states: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state, recursively into Parallel branches and Map item processors (name paths joined by '/')."""
    for name, state in states.items():
        path = f"{prefix}{name}"
        yield path, state
        for branch in state.get("Branches", []):
            yield from iter_states(branch["States"], f"{path}/")
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                yield from iter_states(state[key]["States"], f"{path}/")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def check_definition(definition: str) -> Checker:
    """Check every Task, ItemReader and ResultWriter of an ASL definition (placeholders may stay in place)."""
    checker = Checker()
    document = json.loads(definition)
    for name, state in iter_states(document["States"]):
        if state.get("Type") == "Task":
            integration = integration_for(state["Resource"])
            checker.arguments(name, integration, state.get("Arguments", {}))
            reads = _strings({k: state.get(k) for k in ("Output", "Assign")})
            checker.result_reads(name, integration, reads)
        if "ItemReader" in state:
            reader = state["ItemReader"]
            checker.arguments(f"{name}.ItemReader", integration_for(reader["Resource"]), reader.get("Arguments", {}))
        if "ResultWriter" in state:
            for key in state["ResultWriter"].get("Arguments", {}):
                checker.checked_keys += 1
                if key not in RESULT_WRITER_ARGUMENTS:
                    expected = next((k for k in RESULT_WRITER_ARGUMENTS if k.lower() == key.lower()), None)
                    checker.findings.append(Finding(f"{name}.ResultWriter", "Arguments", key, expected, "ResultWriter"))
    return checker
