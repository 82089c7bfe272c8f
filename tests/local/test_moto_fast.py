"""localrun/moto_fast.py: moto's answers byte for byte, for less work per request."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import base_backend
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.parsing.expressions import UpdateExpressionParser
from moto.s3.models import s3_backends

from localrun import moto_fast
from localrun.emulator import CustomLabelsEmulator
from localrun.intercept import Interception, success_response
from localrun.moto_adapt import MOTO_CONFIG, install_sdk_field_names
from localrun.moto_fast import install_fast_moto, moto_s3_reader, remove_fast_moto
from localrun.resources import create_results_table
from tests.support import ids
from tests.support.backfill import wait_for_execution
from tests.support.emulator import PROJECT_ARN, VERSION_ARN
from tests.support.images import image

TABLE = ids.TABLE
BUCKET = ids.BUCKET


@pytest.fixture
def moto_only() -> Iterator[None]:
    """moto's own code for the test (the adaptations are put back as they were after it)."""
    was = moto_fast.installed()
    remove_fast_moto()
    try:
        yield
    finally:
        if was:
            install_fast_moto()


def _bodies(client: Any, event: str) -> list[bytes]:
    """The raw HTTP bodies ``client`` receives for ``event`` (``after-call.<service>.<Operation>``)."""
    bodies: list[bytes] = []
    client.meta.events.register(event, lambda http_response, **_: bodies.append(http_response.content))
    return bodies


def _with_and_without(call: Callable[[], Any]) -> tuple[Any, Any]:
    """``call()`` answered by moto's own code, then with the adaptations installed."""
    remove_fast_moto()
    by_moto = call()
    install_fast_moto()
    return by_moto, call()


# Every DynamoDB attribute type, nested: what the serializer must reproduce exactly.
EVERY_TYPE = {
    "s": {"S": "text"},
    "n": {"N": "12.5"},
    "b": {"B": b"\x00\x01bytes"},
    "ss": {"SS": ["a", "b"]},
    "ns": {"NS": ["1", "2.5"]},
    "bs": {"BS": [b"x", b"\xff"]},
    "flag": {"BOOL": False},
    "nothing": {"NULL": True},
    "empty_list": {"L": []},
    "nested": {"M": {"list": {"L": [{"S": "y"}, {"N": "3"}, {"M": {"deep": {"BOOL": True}}}]}}},
}


def test_dynamodb_responses_are_byte_for_byte_moto_s(moto_only: None) -> None:
    # Given a table with items carrying every attribute type
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=ids.REGION)
        create_results_table(ddb, TABLE)
        for i in range(30):
            ddb.put_item(TableName=TABLE, Item={"pk": {"S": f"obj#{i:03d}"}, "sk": {"S": "result"}, **EVERY_TYPE})
        scans = _bodies(ddb, "after-call.dynamodb.Scan")
        gets = _bodies(ddb, "after-call.dynamodb.GetItem")
        updates = _bodies(ddb, "after-call.dynamodb.UpdateItem")
        key = {"pk": {"S": "obj#007"}, "sk": {"S": "result"}}

        def update_and_read() -> Any:
            updated = ddb.update_item(
                TableName=TABLE,
                Key=key,
                UpdateExpression="SET n = :n REMOVE nothing",
                ExpressionAttributeValues={":n": {"N": "7"}},
                ReturnValues="ALL_NEW",  # the same item both times: the first update made it so
            )
            ddb.scan(TableName=TABLE, FilterExpression="flag = :f", ExpressionAttributeValues={":f": {"BOOL": False}})
            ddb.get_item(TableName=TABLE, Key=key)
            # Top-level names (one absent), then nested paths
            ddb.scan(
                TableName=TABLE, ProjectionExpression="pk, b, nested, #n, absent", ExpressionAttributeNames={"#n": "n"}
            )
            ddb.scan(TableName=TABLE, ProjectionExpression="nested.list[2], ss")
            return updated

        # When the same update and reads are answered by moto's code, then with the adaptations
        by_moto, fast = _with_and_without(update_and_read)

    # Then the HTTP bodies are identical, and so are the parsed answers
    assert scans[:3] == scans[3:] and b'"B": "AAFieXRlcw=="' in scans[0]
    assert b'"flag"' not in scans[1] and b'"n": {"N": "7"}' in scans[1]
    assert b'"deep"' in scans[2] and b'"flag"' not in scans[2]
    assert gets[0] == gets[1]
    assert updates[0] == updates[1]
    expected = {**key, **{k: v for k, v in EVERY_TYPE.items() if k != "nothing"}, "n": {"N": "7"}}
    assert by_moto["Attributes"] == fast["Attributes"] == expected


def test_sqs_and_lambda_responses_are_byte_for_byte_moto_s(moto_only: None) -> None:
    # Given a queue with attributes and a message, and an event source mapping
    with mock_aws():
        sqs = boto3.client("sqs", region_name=ids.REGION)
        url = sqs.create_queue(QueueName="q", Attributes={"VisibilityTimeout": "45"})["QueueUrl"]
        attributes = _bodies(sqs, "after-call.sqs.GetQueueAttributes")
        listed = _bodies(sqs, "after-call.sqs.ListQueues")

        def read() -> Any:
            sqs.list_queues()
            return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]

        # When read by moto's code, then with the adaptations
        by_moto, fast = _with_and_without(read)

    # Then the bodies are identical
    assert attributes[0] == attributes[1] and listed[0] == listed[1]
    assert by_moto == fast and fast["VisibilityTimeout"] == "45"


def _shape_of(node: Any) -> Any:
    """A moto expression tree as plain data (node types, attributes, children), to compare two trees."""
    if isinstance(node, list | tuple):
        return [_shape_of(child) for child in node]
    if hasattr(node, "__dict__"):  # every attribute but the back-link to the parent node
        return (type(node).__name__, {name: _shape_of(value) for name, value in vars(node).items() if name != "parent"})
    return node


def test_an_update_expression_is_parsed_once_and_its_tree_never_changes(moto_only: None) -> None:
    # Given the adaptations
    install_fast_moto()
    expression = "SET event_published = :true REMOVE publish_claim, publish_claim_expires_at"
    tree = UpdateExpressionParser.make(expression)
    pristine = copy.deepcopy(tree)
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=ids.REGION)
        create_results_table(ddb, TABLE)
        key = {"pk": {"S": "obj"}, "sk": {"S": "result"}}
        ddb.put_item(TableName=TABLE, Item={**key, "publish_claim": {"S": "token"}})

        # When the expression updates items (an existing one, a new one) and a transaction uses it
        for pk in ("obj", "other"):
            ddb.update_item(
                TableName=TABLE,
                Key={"pk": {"S": pk}, "sk": {"S": "result"}},
                UpdateExpression=expression,
                ExpressionAttributeValues={":true": {"BOOL": True}},
            )
        other = {"pk": {"S": "third"}, "sk": {"S": "result"}}
        update = {"TableName": TABLE, "Key": other, "UpdateExpression": expression}
        ddb.transact_write_items(
            TransactItems=[{"Update": {**update, "ExpressionAttributeValues": {":true": {"BOOL": True}}}}]
        )
        item = ddb.get_item(TableName=TABLE, Key=key)["Item"]
        third = ddb.get_item(TableName=TABLE, Key=other)["Item"]
        with pytest.raises(ClientError):  # a text that does not parse fails every time
            ddb.update_item(TableName=TABLE, Key=key, UpdateExpression="SET = broken")

    # Then the updates did what moto does, the tree is shared and unchanged
    assert item == {**key, "event_published": {"BOOL": True}}
    assert third == {**other, "event_published": {"BOOL": True}}
    assert UpdateExpressionParser.make(expression) is tree
    assert _shape_of(tree) == _shape_of(pristine)


def test_routing_tables_are_moto_s(moto_only: None) -> None:
    # Given moto's own URL tables for the backends the runtime uses
    with mock_aws():
        boto3.client("s3", region_name=ids.REGION).list_buckets()
        backend = s3_backends[ids.ACCOUNT]["aws"]
        ddb = dynamodb_backends[ids.ACCOUNT][ids.REGION]
        by_moto = (backend.urls, ddb.urls)
        # When computed with the adaptations (twice: the second from the cache)
        install_fast_moto()
        first, second = (backend.urls, ddb.urls), (backend.urls, ddb.urls)
    # Then they are the same tables, and a caller cannot change the cached one
    assert first == by_moto == second
    second[0].clear()
    assert backend.urls == by_moto[0]
    assert isinstance(base_backend.BaseBackend.__dict__["urls"], property)


def test_region_lists_are_moto_s_for_every_service(moto_only: None) -> None:
    # Given moto's own region list of each service the runtime uses, from a fresh backend instance
    services = ("s3", "sqs", "dynamodb", "lambda", "events", "stepfunctions", "cloudwatch", "iam", "scheduler")
    by_moto = {
        name: base_backend.AccountSpecificBackend(name, ids.ACCOUNT, dict, True, None).regions for name in services
    }
    # When computed with the adaptations, for two new instances each
    install_fast_moto()
    adapted = [
        {
            name: base_backend.AccountSpecificBackend(name, ids.ACCOUNT, dict, True, ["xx-test-1"]).regions
            for name in services
        }
        for _ in range(2)
    ]
    # Then the lists are moto's, the additional regions still follow, and each instance has a list of its own
    for lists in adapted:
        assert lists == {name: [*regions, "xx-test-1"] for name, regions in by_moto.items()}
    assert len(by_moto["s3"]) > 10 and len(by_moto["dynamodb"]) > 10  # real lists (IAM, a global service, has none)
    adapted[0]["s3"].append("changed")
    assert adapted[1]["s3"][-1] == "xx-test-1"


# -- the emulator's S3 read ---------------------------------------------------------------------------------------


@pytest.fixture
def versioned_bucket() -> Iterator[Any]:
    with mock_aws():
        s3 = boto3.client("s3", region_name=ids.REGION)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield s3


def test_the_reader_returns_what_get_object_returns_version_by_version(versioned_bucket: Any) -> None:
    # Given two versions of one key
    s3 = versioned_bucket
    first = s3.put_object(Bucket=BUCKET, Key="a.png", Body=image(colour=(1, 2, 3)))["VersionId"]
    s3.put_object(Bucket=BUCKET, Key="a.png", Body=image(colour=(4, 5, 6)))
    read = moto_s3_reader(ids.ACCOUNT)

    # When read with and without a version, Then the sizes and bytes are GetObject's
    for version in (first, None):
        request = {"Bucket": BUCKET, "Key": "a.png"} | ({"VersionId": version} if version else {})
        expected = s3.get_object(**request)
        size, data = read(BUCKET, "a.png", version)
        assert size == expected["ContentLength"]
        assert data() == expected["Body"].read()


def test_the_reader_finds_no_object_where_get_object_fails(versioned_bucket: Any) -> None:
    # Given a key deleted behind a delete marker and one that exists
    s3 = versioned_bucket
    s3.put_object(Bucket=BUCKET, Key="gone.png", Body=image())
    s3.delete_object(Bucket=BUCKET, Key="gone.png")
    s3.put_object(Bucket=BUCKET, Key="here.png", Body=image())
    read = moto_s3_reader(ids.ACCOUNT)

    # When reading what GetObject cannot return, Then each is "no such object"
    for bucket, key, version in (
        ("no-such-bucket", "here.png", None),
        (BUCKET, "missing.png", None),
        (BUCKET, "gone.png", None),
        (BUCKET, "here.png", "not-a-version"),
    ):
        with pytest.raises(ClientError):
            s3.get_object(Bucket=bucket, Key=key, **({"VersionId": version} if version else {}))
        with pytest.raises(LookupError):
            read(bucket, key, version)


def test_the_emulator_with_a_reader_rejects_as_with_a_client(versioned_bucket: Any) -> None:
    # Given an emulator reading moto's store, a running model, one image and one oversized declared object
    reads: list[str] = []

    def reader(bucket: str, key: str, version: str | None) -> tuple[int, Callable[[], bytes]]:
        if key == "huge.png":
            return 16 * 1024 * 1024, lambda: reads.append(key) or b""  # type: ignore[func-returns-value]
        return moto_s3_reader(ids.ACCOUNT)(bucket, key, version)

    versioned_bucket.put_object(Bucket=BUCKET, Key="x.png", Body=image())
    emu = CustomLabelsEmulator(s3_reader=reader)
    emu.add_model(project_arn=PROJECT_ARN, project_version_arn=VERSION_ARN, status="RUNNING")

    def detect(key: str) -> str:
        try:
            emu.detect_custom_labels(ProjectVersionArn=VERSION_ARN, Image={"S3Object": {"Bucket": BUCKET, "Name": key}})
        except ClientError as exc:
            return str(exc.response["Error"]["Code"])
        return "ok"

    # When detecting an existing, a missing and an oversized object
    # Then the first is read, the second is InvalidS3Object, the third too large before any byte is read
    assert detect("x.png") == "ok"
    assert detect("missing.png") == "InvalidS3ObjectException"
    assert detect("huge.png") == "ImageTooLargeException"
    assert reads == []


def test_the_item_size_limit_is_moto_s_to_the_byte(moto_only: None) -> None:
    # Given items of 40 attributes just under and just over moto's limit (405,000 bytes of names + values)
    def item(pk: str, total: int) -> dict[str, Any]:
        names = [f"a{i:02d}" for i in range(40)]  # 3 bytes each
        keys = {"pk": {"S": pk}, "sk": {"S": "s"}}
        room = total - sum(len(k) + len(v["S"]) for k, v in keys.items()) - 3 * len(names)
        sizes = [room // len(names)] * len(names)
        sizes[-1] += room - sum(sizes)
        return {**keys, **{n: {"S": "x" * size} for n, size in zip(names, sizes, strict=True)}}

    def put_both() -> list[str]:
        outcomes = []
        with mock_aws():
            ddb = boto3.client("dynamodb", region_name=ids.REGION)
            create_results_table(ddb, TABLE)
            for pk, total in (("fits", 405_000), ("over", 405_001)):
                try:
                    ddb.put_item(TableName=TABLE, Item=item(pk, total))
                    stored = ddb.get_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": "s"}})["Item"]
                    outcomes.append(f"stored {sum(len(k) + len(v['S']) for k, v in stored.items())}")
                except ClientError as exc:
                    outcomes.append(f"{exc.response['Error']['Code']}: {exc.response['Error']['Message']}")
        return outcomes

    # When put by moto's code, then with the adaptations
    by_moto, fast = _with_and_without(put_both)

    # Then the same item fits, the same is rejected, with the same error
    assert by_moto == fast
    assert fast[0] == "stored 405000" and fast[1].startswith("ValidationException")


def test_step_functions_tasks_share_a_client_until_the_botocore_hooks_change(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the adaptations, and a count of the clients moto's interpreter really creates
    install_fast_moto()
    created: list[str] = []
    create = moto_fast._moto_boto_client_for

    def counting(region: str, service: str, state_credentials: Any = None) -> Any:
        created.append(service)
        return create(region, service, state_credentials)

    monkeypatch.setattr(moto_fast, "_moto_boto_client_for", counting)
    moto_fast._task_client.cache_clear()
    definition = json.dumps(
        {
            "StartAt": "Describe",
            "States": {
                "Describe": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::aws-sdk:rekognition:describeProjectVersions",
                    "Parameters": {"ProjectArn": PROJECT_ARN},
                    "End": True,
                }
            },
        }
    )
    install_sdk_field_names()
    with mock_aws(config=MOTO_CONFIG):
        sfn = boto3.client("stepfunctions", region_name=ids.REGION)
        arn = sfn.create_state_machine(name="m", definition=definition, roleArn=f"arn:aws:iam::{ids.ACCOUNT}:role/r")[
            "stateMachineArn"
        ]

        def run(name: str) -> dict[str, Any]:
            return wait_for_execution(sfn, sfn.start_execution(stateMachineArn=arn, name=name)["executionArn"], 10)

        statuses = []
        # When three executions run their task under the emulator, then one under an interception installed since
        with CustomLabelsEmulator() as emulator:
            emulator.add_model(project_arn=PROJECT_ARN, project_version_arn=VERSION_ARN, status="RUNNING")
            statuses += [
                json.loads(run(f"a{i}")["output"])["ProjectVersionDescriptions"][0]["Status"] for i in range(3)
            ]
        answer = success_response({"ProjectVersionDescriptions": [{"Status": "FAILED"}]})
        with Interception("before-call.rekognition.DescribeProjectVersions", lambda **_: answer):
            statuses.append(json.loads(run("b")["output"])["ProjectVersionDescriptions"][0]["Status"])

    # Then the first three shared one client, and the fourth got a new one, which the interception answers
    assert created == ["rekognition", "rekognition"]
    assert statuses == ["RUNNING", "RUNNING", "RUNNING", "FAILED"]


def test_botocore_sessions_share_one_loader_while_installed(moto_only: None) -> None:
    # Given two botocore sessions created before the adaptations
    import botocore.session

    before = [botocore.session.Session().get_component("data_loader") for _ in range(2)]
    # When two more are created with them installed, and two after they are removed
    install_fast_moto()
    during = [botocore.session.Session().get_component("data_loader") for _ in range(2)]
    remove_fast_moto()
    after = [botocore.session.Session().get_component("data_loader") for _ in range(2)]
    # Then only the sessions created while installed share a loader, and it reads the same models
    assert before[0] is not before[1] and after[0] is not after[1]
    assert during[0] is during[1]
    assert during[0].load_service_model("sqs", "service-2") == before[0].load_service_model("sqs", "service-2")


def test_moto_reads_service_models_botocore_clients_have_not_changed(moto_only: None) -> None:
    # Given the adaptations, and an S3 request made by a boto3 client (botocore's S3 customization takes
    # "/{Bucket}" out of the request URI in the model dict the client was built from; moto 5.2.6 routes S3
    # requests by those URIs: shared, the demo's first bucket failed with "URL rule '' must start with a slash")
    import botocore.loaders

    from localrun import moto_fast

    install_fast_moto()
    with mock_aws():
        s3 = boto3.client("s3", region_name=ids.REGION)
        s3.create_bucket(Bucket="routing-check")
        # When moto loads the S3 model through the adaptation
        moto_model = moto_fast._load_service_model("s3", "service-2")
        # Then it is botocore's file as shipped, and S3 requests still route in moto
        pristine = botocore.loaders.create_loader().load_service_model("s3", "service-2")
        for operation in ("CreateBucket", "PutBucketVersioning", "PutObject"):
            assert moto_model["operations"][operation]["http"] == pristine["operations"][operation]["http"]
        s3.put_bucket_versioning(Bucket="routing-check", VersioningConfiguration={"Status": "Enabled"})
        assert s3.get_bucket_versioning(Bucket="routing-check")["Status"] == "Enabled"


# The models a rehearsal loads, of every kind botocore reads (service, endpoint rules, waiters, paginators, and an
# sdk-extras file merged into S3's service model).
_MODELS = [
    ("s3", "service-2"),
    ("s3", "endpoint-rule-set-1"),
    ("dynamodb", "service-2"),
    ("dynamodb", "waiters-2"),
    ("sqs", "service-2"),
    ("stepfunctions", "paginators-1"),
    ("rekognition", "service-2"),
]


@pytest.mark.parametrize(("service", "kind"), _MODELS)
def test_the_adapted_loader_reads_botocore_s_models(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, service: str, kind: str
) -> None:
    # Given a fresh cache directory, botocore's own loader and the adapted one (plain dicts, kept on disk)
    import botocore.loaders

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    expected = botocore.loaders.create_loader().load_service_model(service, kind)
    # When the adapted loader reads the model, decoding the files, and a second one (a new process) reads it
    decoded = moto_fast._create_loader().load_service_model(service, kind)
    monkeypatch.setattr(moto_fast.json, "loads", _must_not_decode)
    kept = moto_fast._create_loader().load_service_model(service, kind)
    # Then both are botocore's model, key for key and in botocore's order, the second read from the cache
    assert decoded == expected and kept == expected
    assert json.dumps(decoded) == json.dumps(expected) == json.dumps(kept)
    assert type(kept) is dict
    assert list((tmp_path / "custom-labels-pipeline" / "botocore").glob("*.pickle"))


def _must_not_decode(*_: Any, **__: Any) -> Any:
    raise AssertionError("decoded again: the cached file was not used")


def test_the_adapted_loader_refuses_what_botocore_refuses(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Given the adapted loader and botocore's
    import botocore.loaders

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    ours, theirs = moto_fast._create_loader(), botocore.loaders.create_loader()

    def refusal(loader: Any, name: str, kind: str) -> str:
        try:
            loader.load_service_model(name, kind)
        except Exception as error:
            return f"{type(error).__name__}: {error}"
        raise AssertionError(f"{name} {kind} was loaded")

    # When asked for a service botocore does not ship, paths posing as one, or a kind a service lacks
    for name, kind in [
        ("no-such-service", "service-2"),
        ("../s3", "service-2"),
        ("s3/2006-03-01", "service-2"),
        (".", "service-2"),
        ("", "service-2"),
        ("sts", "waiters-2"),
    ]:
        # Then the same error, naming every service botocore knows
        assert refusal(ours, name, kind) == refusal(theirs, name, kind)
        assert refusal(ours, name, kind).startswith("UnknownServiceError")
    assert ours.list_available_services("service-2") == theirs.list_available_services("service-2")


def test_a_damaged_or_outdated_cache_file_is_decoded_again(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Given a model read once through the cache, and its cache file damaged
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    expected = moto_fast._create_loader().load_service_model("sqs", "service-2")
    cached = list((tmp_path / "custom-labels-pipeline" / "botocore").glob("*.pickle"))
    assert cached
    for path in cached:
        path.write_bytes(b"not a pickle")
    # When a new loader reads it
    again = moto_fast._create_loader().load_service_model("sqs", "service-2")
    # Then it is decoded from botocore's file and the cache file rewritten
    assert again == expected
    assert all(path.read_bytes() != b"not a pickle" for path in cached)


def test_a_data_file_changed_on_disk_is_not_answered_from_the_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given a model file of our own on the data path, read once through the cache
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    model = tmp_path / "models" / "clp-example" / "2020-01-01" / "service-2.json"
    model.parent.mkdir(parents=True)
    model.write_text(json.dumps({"version": "1", "metadata": {"serviceId": "one"}, "operations": {}, "shapes": {}}))
    data_path = str(tmp_path / "models")
    assert moto_fast._create_loader(data_path).load_service_model("clp-example", "service-2")["version"] == "1"
    # When the file changes (its size and time with it)
    model.write_text(json.dumps({"version": "22", "metadata": {"serviceId": "two"}, "operations": {}, "shapes": {}}))
    os.utime(model, ns=(model.stat().st_atime_ns, model.stat().st_mtime_ns + 1_000_000))
    # Then a new loader reads the new content
    assert moto_fast._create_loader(data_path).load_service_model("clp-example", "service-2")["version"] == "22"


def test_moto_routing_rules_build_urls_as_werkzeug_s(moto_only: None) -> None:
    # Given a moto routing rule built with werkzeug's eager URL builder, and one built with the adaptation's
    from moto.core.routing import SmithyRule, _create_map
    from moto.core.utils import get_service_model

    operation = get_service_model("lambda").operation_model("Invoke")

    def bound_rule() -> Any:
        rule = SmithyRule(
            string="/2015-03-31/functions/<FunctionName>/invocations", operations=[operation], methods=["POST"]
        )
        _create_map([rule])
        return rule

    eager = bound_rule()
    install_fast_moto()
    lazy = bound_rule()
    # When each builds a URL, with and without an unknown argument
    # Then they build the same ones
    for values, append_unknown in (
        ({"FunctionName": "f n"}, True),
        ({"FunctionName": "f", "x": "1"}, True),
        ({"FunctionName": "f", "x": "1"}, False),
    ):
        assert lazy.build(values, append_unknown) == eager.build(values, append_unknown)
    assert "_compile_builder" in SmithyRule.__dict__
    remove_fast_moto()
    assert "_compile_builder" not in SmithyRule.__dict__


def test_a_json_path_is_parsed_once_and_finds_what_moto_s_parse_finds(moto_only: None) -> None:
    # Given moto's JSONPath parsers, and the adaptation's
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    data = {"a": [{"b": 1}, {"b": 2}], "c": {"d": "x"}}
    paths = ["$", "$.a[0].b", "$.a[*].b", "$.c.d", "$.a[?(@.b > 1)].b"]
    by_moto = [json_path.extract_json(path, copy.deepcopy(data)) for path in paths]
    updated_by_moto = result_path.parse("$.c.e").update_or_create(copy.deepcopy(data), 5)
    install_fast_moto()
    # When paths are evaluated twice through the adaptation
    first = [json_path.extract_json(path, copy.deepcopy(data)) for path in paths]
    second = [json_path.extract_json(path, copy.deepcopy(data)) for path in paths]
    # Then they find the same values, from one parsed path per text, and updates still change only their data
    assert first == second == by_moto
    assert json_path.parse("$.a[0].b") is json_path.parse("$.a[0].b")
    assert result_path.parse("$.c.e").update_or_create(copy.deepcopy(data), 5) == updated_by_moto
    assert result_path.parse("$.c.e").update_or_create(copy.deepcopy(data), 6)["c"]["e"] == 6
    with pytest.raises(Exception, match="Parse error"):
        json_path.parse("$..[")
