"""Glue to botocore's rekognition service model: request validation and wire-faithful responses.

Responses are not handed to the caller as hand-made dicts: they are encoded as the JSON body the
service would send and parsed by botocore's own JSON-protocol parser against the operation's
output shape (or, for errors, the way botocore's endpoint parses an error and its modeled fields).
So timestamps come back as ``datetime``, unknown keys are dropped, and a ``ClientError`` carries
exactly what a real error response would give.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any

import botocore.session
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.model import OperationModel, ServiceModel, Shape, StringShape, StructureShape
from botocore.parsers import create_parser
from botocore.validate import validate_parameters

from localrun.emulator.errors import EmulatedServiceError

SERVICE_NAME = "rekognition"


@cache
def service_model() -> ServiceModel:
    """Return botocore's rekognition service model (loaded once)."""
    return botocore.session.get_session().get_service_model(SERVICE_NAME)


def operation_model(name: str) -> OperationModel:
    """Return the operation model for an API name such as ``DetectCustomLabels``."""
    return service_model().operation_model(name)


def validate_request(op: OperationModel, params: Mapping[str, Any]) -> None:
    """Validate ``params`` as the client and then the service would.

    Client side: botocore's ``ParamValidator`` (required members, types, minimums) raises
    ``botocore.exceptions.ParamValidationError``. Service side: the model's ``max``, ``pattern``
    and ``enum`` constraints, which botocore does not check, give ``ValidationException``.
    """
    shape = op.input_shape
    if shape is None:
        return
    validate_parameters(dict(params), shape)
    problems: list[str] = []
    _check_constraints(params, shape, "", problems)
    if problems:
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        raise EmulatedServiceError("ValidationException", f"{count} validation {noun} detected: " + "; ".join(problems))


def _member_path(prefix: str, name: str) -> str:
    # The service names members in camelCase in its validation messages ("image.s3Object.bucket").
    camel = name[:1].lower() + name[1:]
    return f"{prefix}.{camel}" if prefix else camel


def _check_constraints(value: Any, shape: Shape, path: str, problems: list[str]) -> None:
    kind = shape.type_name
    if kind == "structure" and isinstance(value, Mapping) and isinstance(shape, StructureShape):
        _check_structure(value, shape, path, problems)
    elif kind == "list" and isinstance(value, list | tuple):
        _check_list(value, shape, path, problems)
    elif kind in ("string", "blob") and isinstance(value, str | bytes | bytearray):
        _check_text(value, shape, path, problems)
    elif kind in ("integer", "long", "float", "double") and isinstance(value, int | float):
        _check_number(value, shape, path, problems)


def _check_structure(value: Mapping[str, Any], shape: StructureShape, path: str, problems: list[str]) -> None:
    for name, member in shape.members.items():
        if name in value and value[name] is not None:
            _check_constraints(value[name], member, _member_path(path, name), problems)


def _check_list(value: list[Any] | tuple[Any, ...], shape: Shape, path: str, problems: list[str]) -> None:
    meta = shape.metadata
    if "max" in meta and len(value) > meta["max"]:
        problems.append(
            f"Value at '{path}' failed to satisfy constraint: "
            f"Member must have length less than or equal to {meta['max']}"
        )
    item_shape: Shape | None = getattr(shape, "member", None)
    if item_shape is not None:
        for index, item in enumerate(value):
            _check_constraints(item, item_shape, f"{path}.{index + 1}.member", problems)


def _check_text(value: str | bytes | bytearray, shape: Shape, path: str, problems: list[str]) -> None:
    meta = shape.metadata
    shown = "<bytes>" if isinstance(value, bytes | bytearray) else str(value)
    if "max" in meta and len(value) > meta["max"]:
        problems.append(
            f"Value '{shown}' at '{path}' failed to satisfy constraint: "
            f"Member must have length less than or equal to {meta['max']}"
        )
    if shape.type_name == "string" and "pattern" in meta and not re.fullmatch(meta["pattern"], str(value)):
        problems.append(
            f"Value '{shown}' at '{path}' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {meta['pattern']}"
        )
    if isinstance(shape, StringShape) and shape.enum and value not in shape.enum:
        problems.append(
            f"Value '{shown}' at '{path}' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(shape.enum)}]"
        )


def _check_number(value: float, shape: Shape, path: str, problems: list[str]) -> None:
    meta = shape.metadata
    if "max" in meta and value > meta["max"]:
        problems.append(
            f"Value '{value}' at '{path}' failed to satisfy constraint: "
            f"Member must have value less than or equal to {meta['max']}"
        )


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        # The JSON protocol sends timestamps as epoch seconds.
        return value.timestamp()
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"cannot encode {type(value).__name__}")


def _headers(request_id: str, length: int) -> dict[str, str]:
    return {
        "x-amzn-requestid": request_id,
        "content-type": "application/x-amz-json-1.1",
        "content-length": str(length),
    }


def _parse(op: OperationModel, response_dict: Mapping[str, Any], shape: Shape | None) -> dict[str, Any]:
    parser = create_parser(op.service_model.resolved_protocol)
    # botocore itself passes a possibly-None output shape; the stubs are stricter than the code.
    parsed: dict[str, Any] = parser.parse(response_dict, shape)  # type: ignore[arg-type]
    parsed.setdefault("ResponseMetadata", {})["RetryAttempts"] = 0
    return parsed


def success_response(op: OperationModel, result: Mapping[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
    """Encode ``result`` as the service's JSON body and parse it as botocore would."""
    body = json.dumps(result, default=_json_default).encode()
    headers = _headers(str(uuid.uuid4()), len(body))
    parsed = _parse(op, {"status_code": 200, "headers": headers, "body": body}, op.output_shape)
    return AWSResponse("", 200, HTTPHeaders.from_dict(headers), None), parsed


def error_response(op: OperationModel, error: EmulatedServiceError) -> tuple[AWSResponse, dict[str, Any]]:
    """Encode ``error`` as the service's JSON error body and parse it as botocore's endpoint does."""
    logref = str(uuid.uuid4())
    body = json.dumps({"__type": error.code, "Code": error.code, "Message": error.message, "Logref": logref}).encode()
    headers = _headers(str(uuid.uuid4()), len(body))
    response_dict = {"status_code": error.http_status, "headers": headers, "body": body}
    parsed = _parse(op, response_dict, op.output_shape)
    error_shape = op.service_model.shape_for_error_code(error.code)  # type: ignore[arg-type]  # stub says int
    if error_shape is not None:
        # Same as botocore.endpoint's _add_modeled_error_fields.
        modeled = _parse(op, response_dict, error_shape)
        modeled.pop("ResponseMetadata", None)
        parsed.update(modeled)
    return AWSResponse("", error.http_status, HTTPHeaders.from_dict(headers), None), parsed


def decode_request_body(op: OperationModel, body: bytes | str | None) -> dict[str, Any]:
    """Recover API parameters from a serialized JSON request body (blobs are base64 on the wire)."""
    if not body:
        return {}
    params = json.loads(body)
    if not isinstance(params, dict):
        return {}
    if op.input_shape is not None:
        _decode_blobs(params, op.input_shape)
    return params


def _decode_blobs(value: Any, shape: Shape) -> Any:
    if shape.type_name == "blob" and isinstance(value, str):
        return base64.b64decode(value)
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                value[name] = _decode_blobs(value[name], member)
    elif shape.type_name == "list" and isinstance(value, list):
        item_shape: Shape | None = getattr(shape, "member", None)
        if item_shape is not None:
            value[:] = [_decode_blobs(item, item_shape) for item in value]
    return value


__all__ = [
    "SERVICE_NAME",
    "decode_request_body",
    "error_response",
    "operation_model",
    "service_model",
    "success_response",
    "validate_request",
]
