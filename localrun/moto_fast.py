"""Adaptations that cut moto's constant cost per request (offline and tests only).

A rehearsal makes five to seven AWS calls per image, and most of each call's host time is moto's own
generic machinery rather than the work of the service it emulates. :func:`install_fast_moto` (process-wide,
what the offline runtime installs) replaces the costliest generic paths of moto 5.2 by ones that give the
same answers for less work. Every request still goes through botocore (parameter validation against the
service model, serialization, the HTTP request moto answers, response parsing); nothing deployed is
affected. Each adaptation, why, and what is preserved:

* **Response serialization.** moto 5.2 serializes an ``ActionResult`` (DynamoDB, SQS, EventBridge, Lambda…)
  by walking the operation's output shape and, for every member of every structure, asking an
  ``XFormedAttributePicker`` where the value is: it builds a context object, joins the key path and runs six
  alias providers (each a new object) before reading the value. A DynamoDB item is a map of
  ``AttributeValue`` structures of ten members each, so a Scan page of a few hundred result items made
  hundreds of thousands of these look-ups (``1.2 s`` per page). When the value is a plain ``dict``, the
  keys the providers yield depend only on the member's shape, its parent structure and the member name (a
  ``dict`` has no ``Meta`` and its class name is ``dict``), so :func:`_picked_value` computes them once
  with moto's own providers and reuses them; the value is then read with moto's own ``get_value`` in the
  same order, and moto's response transformers (by key path) still apply. Objects other than plain dicts
  take moto's path unchanged.
* **Parsing an UpdateExpression.** moto parses the same ``UpdateExpression`` text twice per UpdateItem (and per
  Update action of a transaction): tokenizing and building the AST is a third of the request.
  ``UpdateExpressionParser.make`` is a pure function of the text, and the AST it returns is only read
  (``find_clauses``) or deep-copied by moto's validator before anything changes it, so parsed ASTs are kept
  per text (a bounded cache; a text that fails to parse is not kept and fails the same way every time).
* **Building a DynamoDB item.** moto's ``Item`` stores its attributes in a ``LimitedSizeDict`` that, on every
  insert, re-sums the size of everything already in it to enforce the 400 KB item limit: ``O(attributes²)``
  per item written, and a result item has some twenty attributes. :func:`_item_init` builds the same
  ``LimitedSizeDict`` of ``DynamoType`` values keeping a running total of the same sizes (``bytesize`` of the
  name + ``DynamoType.size()``), and raises moto's ``ItemSizeTooLarge`` at the same attribute, past the same
  limit. The dict is the same type, so later writes to it still check the limit moto's way.
* **Projecting an item.** ``Item.project`` (a ``ProjectionExpression`` on Scan, Query or GetItem) converts the
  whole item to plain JSON once per projected path. For paths that are all top-level attribute names (no
  ``a.b`` or ``a[0]``), :func:`_project` converts it once and picks the same attributes with moto's own
  ``find_nested_key`` and ``merge_dicts``; nested paths take moto's code.
* **Routing a request.** For every request moto lists the methods of the response class with
  ``inspect.getmembers`` (to see whether the action is implemented) and rebuilds the backend's URL table
  from its URL bases and paths. Both are functions of the class and of the backend's URL bases (and of the
  ISO-regions setting), fixed once moto is imported, so they are computed once per class and per
  (backend class, URL bases, ISO setting).
* **Clients of Step Functions tasks.** moto's interpreter creates a new boto3 client (tens of milliseconds:
  the service model, the endpoint rules, the event hooks) for every ``aws-sdk`` and optimized-integration task
  it runs, several per controller loop iteration. :func:`_cached_task_client` keeps one per region and
  service (boto3's low-level clients are thread-safe) for as long as the process's botocore hooks are the
  same: the key holds ``botocore.handlers.BUILTIN_HANDLERS`` (where moto and every
  :class:`~localrun.intercept.Interception`, the emulator's included, register), the default boto3 session
  and whether moto intercepts, so a task after an interception came or went gets a new client, as before
  (moto's ignores a task's ``Credentials``: its clients all sign with placeholder keys).
* **The emulator's S3 read.** DetectCustomLabels with an ``S3Object`` makes Rekognition read the object inside
  AWS; the caller's SDK is not involved. The emulator used to do it with a boto3 GetObject of its own, a
  whole second request (signing, routing, moto's S3 handler, response parsing) per image.
  :func:`moto_s3_reader` reads moto's S3 store directly, as moto's own S3 → EventBridge or S3 → SQS
  deliveries do, under the lock that serializes moto's requests: the same object as moto's GetObject
  answers (``get_object`` of moto's backend with the version), the same "no such object" cases (no bucket,
  no key, no such version, a delete marker, an archived object not restored), which the emulator turns
  into ``InvalidS3ObjectException`` as before. The caller's DetectCustomLabels request itself still goes
  through botocore and the emulator's validation against the rekognition model.
* **Loading a service model.** moto reads each service's botocore model (for serializing responses and
  paginating) through a new botocore ``Loader`` every time, and a new loader lists every service directory
  botocore ships before it reads one (~50 ms each). :func:`_load_service_model` reads through one loader of
  moto's own, so the directory is listed and each model file decoded once for moto; the files read and the
  model returned are the same. Not the clients' loader: botocore changes the model dicts its clients are built
  from (the S3 client takes ``/{Bucket}`` out of request URIs), and moto 5.2.6 routes S3 requests by them.
* **One loader for every botocore session.** Each botocore ``Session`` (boto3's default one, moto's own for
  region lists, the emulator's for the rekognition model, a Step Functions task's) creates its own ``Loader``,
  which lists botocore's data directory and decodes each model or endpoints file again. The data files are
  read-only and a loader only caches what it decoded, so sessions created while the adaptations are installed
  share one loader per data path (``botocore.session.create_loader``): each file is decoded once per process.
* **Decoding botocore's data files.** The loaders above are botocore's ``Loader`` with two changes, same data:
  a file is decoded into plain ``dict`` s rather than ``OrderedDict`` s (twice as fast to decode; a ``dict`` keeps
  the file's key order, and neither botocore nor moto checks the type or uses ``OrderedDict``-only methods), and
  the decoded file is kept pickled on disk (:mod:`localrun.disk_cache`, ``…/custom-labels-pipeline/botocore/``,
  keyed by botocore's version, Python's, the file's path, size and modification time), so a new process does not
  decompress and decode them again (a fresh runtime's set-up: 0.28 s with plain dicts, 0.21 s from the pickles,
  and more with ``OrderedDict`` s). And a loader checks that a service exists by listing that service's
  directory, not every one of the ~420 botocore ships (~14 ms per loader and model kind); an unknown name gets
  botocore's own ``UnknownServiceError``.
* **Routing rules.** werkzeug compiles two URL builders (Python code generated, then ``exec``) for every rule when
  the rule is added to a map; moto adds one rule per path of a REST service at its first request (Lambda's 89
  took ~50 ms) and only matches URLs, never builds one. moto's ``SmithyRule`` compiles each builder when it first
  builds a URL (the same builder, later).
* **JSONPath.** moto's interpreter parses a JSONPath text with jsonpath-ng at every evaluation (a new PLY
  parser each time, ~0.4 ms), among them the ``ResultPath`` ``$`` it applies after every Task state, JSONata ones
  included. A parsed path is a function of its text and holds nothing of an evaluation (``find`` reads the data
  it is given, ``update_or_create`` changes it), so one parsed path per text serves every evaluation.
* **A backend's regions.** Each new account backend of a service (every world, every ``mock_aws``) asks botocore
  for the service's regions in every partition (~10 ms a service: moto's ``lru_cache`` there is keyed by the
  backend instance, so it never hits). The list depends only on the service name and botocore's endpoint data:
  :func:`_generate_regions` computes it once per service.
"""

from __future__ import annotations

import json
import os
import pickle
import stat
import sys
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import boto3
import botocore
from botocore import handlers as botocore_handlers, session as botocore_session
from botocore.exceptions import DataNotFoundError
from botocore.loaders import JSONFileLoader, Loader, instance_cache
from botocore.utils import merge_dicts
from moto import settings as moto_settings
from moto.core import (
    base_backend as moto_base_backend,
    models as moto_core_models,
    responses as moto_responses,
    routing as moto_routing,
    serialize as moto_serialize,
    utils as moto_utils,
)
from moto.core.constants import MISSING
from moto.core.model import Shape  # moto hands the serializer its own Shape subclasses
from moto.core.utils import get_value
from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models import dynamo_type
from moto.dynamodb.models.utilities import bytesize, find_nested_key
from moto.dynamodb.parsing import expressions as moto_expressions
from moto.s3.models import FakeKey, s3_backends
from moto.s3.utils import ARCHIVE_STORAGE_CLASSES
from moto.stepfunctions.parser.asl.component.common.path import result_path as moto_result_path
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (  # noqa: F401  # imports the users
    state_task_service_aws_sdk,
)
from moto.stepfunctions.parser.asl.utils import boto_client as moto_boto_client, json_path as moto_json_path
from werkzeug.routing import Rule as WerkzeugRule

from localrun import disk_cache
from localrun.moto_adapt import moto_request_lock

_PickerKey = tuple[int, int, str]
# (member shape, its parent structure, member name) -> the keys moto's alias providers yield for a dict.
# The shapes are kept in the entry so their ids cannot be reused while it exists.
_MAX_PICKER_KEYS = 100_000
_possible_keys: dict[_PickerKey, tuple[Shape, Any, tuple[str, ...]]] = {}


def _keys_for_dict(picker: Any, value: dict[str, Any], key: str, shape: Shape) -> tuple[str, ...]:
    parent = getattr(shape, "parent", None)
    cache_key = (id(shape), id(parent), key)
    entry = _possible_keys.get(cache_key)
    if entry is not None and entry[0] is shape and entry[1] is parent:
        return entry[2]
    context = moto_serialize.AttributePickerContext(obj=value, key=key, shape=shape)
    keys = tuple(picker.get_possible_keys(context))
    if len(_possible_keys) >= _MAX_PICKER_KEYS:  # shapes are moto's cached models: a bound that is never hit
        _possible_keys.clear()
    _possible_keys[cache_key] = (shape, parent, keys)
    return keys


def _picked_value(serializer: Any, value: Any, key: str, shape: Shape) -> Any:
    """``ResponseSerializer.get_value``, with the alias look-up of a plain dict member computed once."""
    picker = serializer._value_picker
    if (
        type(value) is not dict
        or type(picker) is not moto_serialize.XFormedAttributePicker
        or picker.alias_providers is not moto_serialize.DEFAULT_ALIAS_PROVIDERS
    ):
        return _moto_get_value(serializer, value, key, shape)
    found = None
    for possible_key in _keys_for_dict(picker, value, key, shape):
        # moto's get_value reads a dotted key as a path; any other key of a dict is a plain look-up.
        candidate = get_value(value, possible_key, MISSING) if "." in possible_key else value.get(possible_key, MISSING)
        if candidate is not MISSING:
            found = candidate
            break
    transformers = picker.response_transformers
    if transformers:  # as AttributePicker.__call__: the first transformer whose path ends the key path
        key_path = f"{'.'.join(serializer.path)}.{key}"
        for transform_path, transform in transformers.items():
            if key_path.endswith(transform_path):
                return transform(found)
    return found


_moto_get_value = moto_serialize.ResponseSerializer.get_value

# -- building an item --------------------------------------------------------------------------------------------

# moto's LimitedSizeDict limit (it allows a little over the documented 400 KB, as AWS does in practice).
_ITEM_SIZE_LIMIT = 405000
_moto_item_init = dynamo_type.Item.__init__


def _item_init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
    """``Item.__init__`` with the size limit checked on a running total instead of a re-sum per attribute."""
    self.hash_key = hash_key
    self.range_key = range_key
    values = dynamo_type.LimitedSizeDict()
    total = 0
    for key, value in attrs.items():
        typed = dynamo_type.DynamoType(value)
        total += bytesize(key) + typed.size()
        if total > _ITEM_SIZE_LIMIT:
            raise ItemSizeTooLarge
        dict.__setitem__(values, key, typed)
    self.attrs = values


_moto_project = dynamo_type.Item.project


def _project(self: Any, projection_expressions: list[list[str]]) -> Any:
    """``Item.project``, converting the item to plain JSON once when every path is a top-level name."""
    if any(len(path) != 1 or "[" in path[0] for path in projection_expressions):
        return _moto_project(self, projection_expressions)
    regular = self.to_regular_json()
    result: dict[str, Any] = {}
    for path in projection_expressions:
        merge_dicts(result, find_nested_key(path, regular))
    return dynamo_type.Item(
        hash_key=self.hash_key,
        range_key=self.range_key,
        attrs=dynamo_type.serializer.serialize(result)["M"],  # type: ignore[arg-type]  # as moto's project
    )


# -- parsing and routing -----------------------------------------------------------------------------------------

_Parser: Any = moto_expressions.UpdateExpressionParser  # type: ignore[attr-defined]  # an untyped module
_moto_make_update_expression = _Parser.__dict__["make"]  # the classmethod object


@lru_cache(maxsize=1024)
def _parsed_update_expression(expression: str) -> Any:
    return _moto_make_update_expression.__func__(_Parser, expression)


def _make_update_expression(cls: Any, expression_str: str) -> Any:
    if cls is not _Parser:  # a subclass parses its own way
        return _moto_make_update_expression.__func__(cls, expression_str)
    return _parsed_update_expression(expression_str)


_moto_method_names_from_class = moto_utils.method_names_from_class


@lru_cache(maxsize=512)
def _method_names_from_class(clazz: Any) -> list[str]:
    return _moto_method_names_from_class(clazz)


def _method_names(clazz: Any) -> list[str]:
    return list(_method_names_from_class(clazz))  # a fresh list, as moto's: callers may not share it


_moto_urls = moto_base_backend.BaseBackend.__dict__["urls"]
_urls: dict[tuple[type, tuple[str, ...], bool], dict[str, Any]] = {}


def _backend_urls(self: Any) -> dict[str, Any]:
    key = (type(self), tuple(self.url_bases), bool(moto_settings.enable_iso_regions()))
    urls = _urls.get(key)
    if urls is None:
        urls = _urls[key] = _moto_urls.fget(self)
    return dict(urls)


# -- the emulator's S3 read ---------------------------------------------------------------------------------------


def moto_s3_reader(
    account_id: str, partition: str = "aws"
) -> Callable[[str, str, str | None], tuple[int, Callable[[], bytes]]]:
    """A ``localrun.emulator.S3Reader`` over moto's S3 store of ``account_id`` (active mock required)."""

    def read(bucket: str, key: str, version: str | None) -> tuple[int, Callable[[], bytes]]:
        with moto_request_lock():
            backend = s3_backends[account_id][partition]
            try:
                found = backend.get_object(bucket, key, version_id=version)
            except Exception as exc:  # moto's MissingBucket and the like: no such object either way
                raise LookupError(f"s3://{bucket}/{key}: {exc}") from exc
            if not isinstance(found, FakeKey):
                raise LookupError(f"s3://{bucket}/{key} (version {version}): no such object")
            if found.storage_class in ARCHIVE_STORAGE_CLASSES and 'ongoing-request="false"' not in (
                found.response_dict.get("x-amz-restore", "")
            ):
                raise LookupError(f"s3://{bucket}/{key}: archived ({found.storage_class})")
        return found.size, lambda: found.value

    return read


# -- service models ----------------------------------------------------------------------------------------------

_moto_load_service_model = moto_utils._load_service_model


_botocore_create_loader = botocore_session.create_loader


# Decoded data files kept on disk: a process reads some 40 of the ~1,300 botocore ships.
DATA_CACHE_ENTRIES = 256


class _JSONFileLoader(JSONFileLoader):
    """botocore's file loader, decoding into plain dicts, kept pickled on disk (see the module docstring)."""

    def _load_file(self, full_path: str, open_method: Callable[..., Any]) -> Any:
        try:
            found = os.stat(full_path)
        except OSError:
            return None
        if not stat.S_ISREG(found.st_mode):
            return None
        key = f"{botocore.__version__}\n{sys.version_info[:2]}\n{full_path}\n{found.st_size}\n{found.st_mtime_ns}"
        cached_at = disk_cache.cache_file("botocore", key)
        data = disk_cache.load(cached_at)
        if data is disk_cache.MISSING:
            with open_method(full_path, "rb") as fp:
                data = json.loads(fp.read().decode("utf-8"))
            disk_cache.write(cached_at, pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL), keep=DATA_CACHE_ENTRIES)
        return data


class _Loader(Loader):
    """botocore's ``Loader`` that checks a service is known by looking at that service's directory only."""

    FILE_LOADER_CLASS = _JSONFileLoader

    @instance_cache
    def load_service_model(self, service_name: str, type_name: str, api_version: str | None = None) -> Any:
        if not self._known(service_name, type_name):
            # botocore's own answer: UnknownServiceError naming every service it knows
            return super().load_service_model(service_name, type_name, api_version)
        # The rest is botocore's Loader.load_service_model (botocore 1.44) as it is.
        if api_version is None:
            api_version = self.determine_latest_version(service_name, type_name)
        full_path = os.path.join(service_name, api_version, type_name)
        model = self.load_data(full_path)
        extras = self._find_extras(service_name, type_name, api_version)  # type: ignore[attr-defined]
        self._extras_processor.process(model, extras)  # type: ignore[attr-defined]
        return model

    def _known(self, service_name: str, type_name: str) -> bool:
        """Whether ``list_available_services(type_name)`` would list ``service_name``: a directory of that name
        in the search path with an API version holding a ``type_name`` file."""
        if not service_name or service_name in (".", "..") or os.sep in service_name or "/" in service_name:
            return False
        try:
            return bool(self.list_api_versions(service_name, type_name))
        except DataNotFoundError:
            return False


def _create_loader(search_path_string: str | None = None) -> Loader:
    """``botocore.loaders.create_loader`` with :class:`_Loader`."""
    if search_path_string is None:
        return _Loader()
    paths = [os.path.expanduser(os.path.expandvars(path)) for path in search_path_string.split(os.pathsep)]
    return _Loader(extra_search_paths=paths)


@lru_cache(maxsize=1)
def _moto_loader() -> Loader:
    # moto's own: botocore changes the model dicts its clients are built from (the S3 client's customizations
    # take ``/{Bucket}`` out of request URIs), and moto routes S3 requests by the unchanged ones.
    return _create_loader()


def _load_service_model(service_name: str, model_name: str) -> dict[str, Any]:
    """moto's ``_load_service_model`` through one loader of its own, not a new loader per model: each file is
    listed and decoded once per process for moto."""
    return _moto_loader().load_service_model(service_name, model_name)  # type: ignore[no-any-return]


@lru_cache(maxsize=8)
def _shared_loader(search_path_string: str | None = None) -> Loader:
    """One botocore ``Loader`` per data path for every session created while installed (see the docstring)."""
    return _create_loader(search_path_string)


_moto_generate_regions = moto_base_backend.AccountSpecificBackend.__dict__["_generate_regions"]


@lru_cache(maxsize=256)
def _service_regions(service_name: str) -> tuple[str, ...]:
    session = moto_base_backend.AccountSpecificBackend.get_session()
    return tuple(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions(service_name, partition_name=partition)
    )


def _generate_regions(self: Any, service_name: str) -> list[str]:
    """moto's region list of a service, computed once per service rather than once per backend instance."""
    return list(_service_regions(service_name))


# -- routing rules -----------------------------------------------------------------------------------------------

_werkzeug_compile_builder = WerkzeugRule._compile_builder
_moto_rule_compile_builder = moto_routing.SmithyRule.__dict__.get("_compile_builder")  # None: werkzeug's


def _lazy_builder(self: Any, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
    """werkzeug's URL builder for a rule, compiled the first time it builds a URL rather than with the rule."""
    built: list[Callable[..., tuple[str, str]]] = []

    def build(rule: Any, *args: Any, **kwargs: Any) -> tuple[str, str]:
        if not built:
            built.append(_werkzeug_compile_builder(rule, append_unknown).__get__(rule, None))
        return built[0](*args, **kwargs)

    return build


# -- JSONPath ------------------------------------------------------------------------------------------------------

_moto_result_path_parse = moto_result_path.parse  # type: ignore[attr-defined]
_moto_json_path_parse = moto_json_path.parse  # type: ignore[attr-defined]
# A parsed path per text (a text that does not parse is not kept, and fails the same way every time).
_result_path_parse = lru_cache(maxsize=1024)(_moto_result_path_parse)
_json_path_parse = lru_cache(maxsize=1024)(_moto_json_path_parse)


# -- installation ------------------------------------------------------------------------------------------------

_moto_boto_client_for = moto_boto_client.boto_client_for
# The modules of moto's interpreter that imported boto_client_for by name (each gets the cached one).
_TASK_CLIENT_USERS = tuple(
    module
    for name, module in list(sys.modules.items())
    if name.startswith("moto.stepfunctions.parser.")
    and getattr(module, "boto_client_for", None) is _moto_boto_client_for
)


@lru_cache(maxsize=64)
def _task_client(region: str, service: str, _hooks: tuple[Any, ...], _session: int, _intercepting: bool) -> Any:
    return _moto_boto_client_for(region, service)


def _cached_task_client(region: str, service: str, state_credentials: Any = None) -> Any:
    """moto's ``boto_client_for``, one client per region, service and set of botocore hooks (moto's ignores
    ``state_credentials``: every task client signs with the same placeholder keys)."""
    del state_credentials
    hooks = tuple(botocore_handlers.BUILTIN_HANDLERS)
    return _task_client(region, service, hooks, id(boto3.DEFAULT_SESSION), moto_core_models.botocore_stubber.enabled)


def _use_task_client(client_for: Callable[..., Any]) -> None:
    moto_boto_client.boto_client_for = client_for
    for module in _TASK_CLIENT_USERS:
        module.boto_client_for = client_for  # type: ignore[attr-defined]


_lock = threading.Lock()
_installed = {"done": False}


def install_fast_moto() -> None:
    """Install the adaptations for the rest of the process (idempotent, thread-safe; offline only)."""
    with _lock:
        if _installed["done"]:
            return
        moto_serialize.ResponseSerializer.get_value = _picked_value  # type: ignore[method-assign,assignment]
        _Parser.make = classmethod(_make_update_expression)
        dynamo_type.Item.__init__ = _item_init  # type: ignore[method-assign]
        dynamo_type.Item.project = _project  # type: ignore[method-assign]
        moto_responses.method_names_from_class = _method_names  # type: ignore[attr-defined]  # the name responses.py calls
        moto_base_backend.BaseBackend.urls = property(_backend_urls)  # type: ignore[method-assign,assignment]
        _use_task_client(_cached_task_client)
        moto_utils._load_service_model = _load_service_model
        moto_base_backend.AccountSpecificBackend._generate_regions = _generate_regions  # type: ignore[method-assign,assignment]
        botocore_session.create_loader = _shared_loader
        moto_routing.SmithyRule._compile_builder = _lazy_builder  # type: ignore[method-assign]
        moto_result_path.parse = _result_path_parse  # type: ignore[attr-defined]
        moto_json_path.parse = _json_path_parse  # type: ignore[attr-defined]
        _installed["done"] = True


def installed() -> bool:
    """Whether the adaptations are in place."""
    with _lock:
        return _installed["done"]


def remove_fast_moto() -> None:
    """Put moto's own code back (tests compare both)."""
    with _lock:
        moto_serialize.ResponseSerializer.get_value = _moto_get_value  # type: ignore[method-assign]
        _Parser.make = _moto_make_update_expression
        dynamo_type.Item.__init__ = _moto_item_init  # type: ignore[method-assign]
        dynamo_type.Item.project = _moto_project  # type: ignore[method-assign]
        moto_responses.method_names_from_class = _moto_method_names_from_class  # type: ignore[attr-defined]
        moto_base_backend.BaseBackend.urls = _moto_urls  # type: ignore[method-assign]
        _use_task_client(_moto_boto_client_for)
        _task_client.cache_clear()
        moto_utils._load_service_model = _moto_load_service_model
        moto_base_backend.AccountSpecificBackend._generate_regions = _moto_generate_regions  # type: ignore[method-assign]
        botocore_session.create_loader = _botocore_create_loader
        if _moto_rule_compile_builder is not None:  # pragma: no cover - moto 5.2.5 defines none
            moto_routing.SmithyRule._compile_builder = _moto_rule_compile_builder  # type: ignore[method-assign]
        elif "_compile_builder" in moto_routing.SmithyRule.__dict__:
            del moto_routing.SmithyRule._compile_builder
        moto_result_path.parse = _moto_result_path_parse  # type: ignore[attr-defined]
        moto_json_path.parse = _moto_json_path_parse  # type: ignore[attr-defined]
        _installed["done"] = False


__all__ = ["install_fast_moto", "installed", "moto_s3_reader", "remove_fast_moto"]
