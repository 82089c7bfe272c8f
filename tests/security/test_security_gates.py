"""Security gates on the synthesized template: cdk-nag acknowledgments, checkov, an IAM walk, encryption,
TLS-only policies and confused-deputy conditions on service principals. Results are recorded for
docs/reliability.md."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import infra.nag
from infra.app import build_app
from tests.support.paths import ROOT
from tests.support.reliability import record
from tests.support.stack import Synthesized

SUITE = "security"
SCOPED_SERVICES = ("rekognition", "s3", "sqs", "dynamodb", "events", "states", "lambda")
# Actions AWS only authorises on "*" (no resource-level permissions): none of the scoped services' actions
# the stack uses today. Add an action here only with the AWS reference that says so.
STAR_ONLY_ACTIONS: dict[str, str] = {}
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _policy_documents(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    documents: list[tuple[str, dict[str, Any]]] = []
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        kind = resource["Type"]
        if kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents.append((logical_id, props["PolicyDocument"]))
        elif kind == "AWS::IAM::Role":
            documents += [(logical_id, p["PolicyDocument"]) for p in props.get("Policies", [])]
    return documents


def test_every_nag_acknowledgment_has_a_reason_and_no_blanket_iam5(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the stack built while recording every acknowledgment made through infra.nag
    recorded: list[tuple[str, str]] = []
    real = infra.nag.Acknowledgment

    def recording(*, id: str, reason: str) -> Any:
        recorded.append((id, reason))
        return real(id=id, reason=reason)

    monkeypatch.setattr(infra.nag, "Acknowledgment", recording)
    build_app(outdir=str(tmp_path))

    # Then each has a reason a reviewer can read, and IAM5 is only ever acknowledged per finding
    assert recorded
    short = [(i, r) for i, r in recorded if len(r.strip()) < 20]
    blanket_iam5 = [i for i, _ in recorded if i.endswith("AwsSolutions-IAM5")]
    assert not short, short
    assert not blanket_iam5, blanket_iam5
    ids = sorted({i for i, _ in recorded})
    record(
        SUITE,
        "cdk-nag AwsSolutions acknowledgments",
        f"{len(recorded)} acknowledgments ({len(ids)} distinct)",
        "each reason ≥ 20 chars, IAM5 only per finding",
        "; ".join(ids),
    )


def test_no_star_resource_on_scoped_service_actions(synthesized: Synthesized) -> None:
    # Given every Allow statement of every IAM policy in the template
    offending = []
    walked = 0
    for logical_id, document in _policy_documents(synthesized.json):
        for statement in _as_list(document["Statement"]):
            if statement.get("Effect") != "Allow":
                continue
            walked += 1
            resources = _as_list(statement.get("Resource", []))
            if "*" not in resources:
                continue
            for action in _as_list(statement["Action"]):
                service = action.split(":")[0]
                if service in SCOPED_SERVICES and action not in STAR_ONLY_ACTIONS:
                    offending.append((logical_id, action))
    # Then no rekognition/s3/sqs/dynamodb/events/states/lambda action is granted on "*"
    assert walked > 0
    assert not offending, offending
    record(
        SUITE,
        "IAM walk",
        f"{walked} Allow statements",
        "no '*' resource on " + "/".join(SCOPED_SERVICES),
        f"0 offending statements; star-only exceptions: {sorted(STAR_ONLY_ACTIONS) or 'none'}",
    )


def test_encryption_at_rest_everywhere(synthesized: Synthesized) -> None:
    # Given every data store of the template
    buckets = synthesized.resources("AWS::S3::Bucket")
    queues = synthesized.resources("AWS::SQS::Queue")
    topics = synthesized.resources("AWS::SNS::Topic")
    tables = synthesized.resources("AWS::DynamoDB::Table")
    # Then buckets have default encryption, queues SSE, topics a KMS key
    assert all("BucketEncryption" in b["Properties"] for b in buckets.values())
    assert all(
        q["Properties"].get("SqsManagedSseEnabled") or "KmsMasterKeyId" in q["Properties"] for q in queues.values()
    )
    assert all("KmsMasterKeyId" in t["Properties"] for t in topics.values())
    # DynamoDB encrypts every table at rest (AWS owned key) and cannot be turned off; a CMK is not required.
    assert all(
        t["Properties"].get("SSESpecification", {}).get("SSEEnabled", True) is not False for t in tables.values()
    )
    record(
        SUITE,
        "encryption at rest",
        f"{len(buckets)} buckets, {len(queues)} queues, {len(tables)} tables, {len(topics)} topics",
        "S3 SSE, SQS SSE, SNS KMS, DynamoDB default (log groups: CloudWatch default encryption)",
        "all encrypted",
    )


def _tls_only(document: dict[str, Any]) -> bool:
    return any(
        s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
        for s in _as_list(document["Statement"])
    )


def test_tls_only_and_no_public_access(synthesized: Synthesized) -> None:
    # Given every bucket and queue with its resource policy
    bucket_policies = synthesized.resources("AWS::S3::BucketPolicy")
    queue_policies = synthesized.resources("AWS::SQS::QueuePolicy")
    buckets = synthesized.resources("AWS::S3::Bucket")
    queues = synthesized.resources("AWS::SQS::Queue")

    # Then every one has a TLS-only deny, public access is blocked, and no Allow has a '*' principal
    assert len(bucket_policies) == len(buckets)
    assert sum(len(p["Properties"]["Queues"]) for p in queue_policies.values()) == len(queues)
    for policy in [*bucket_policies.values(), *queue_policies.values()]:
        document = policy["Properties"]["PolicyDocument"]
        assert _tls_only(document)
        for statement in _as_list(document["Statement"]):
            if statement["Effect"] == "Allow":
                assert statement.get("Principal") not in ("*", {"AWS": "*"}), statement
    for bucket in buckets.values():
        assert all(bucket["Properties"]["PublicAccessBlockConfiguration"].values())
    record(
        SUITE,
        "TLS-only, no public access",
        f"{len(bucket_policies)} bucket + {len(queue_policies)} queue policies",
        "aws:SecureTransport deny everywhere, public access blocked",
        "all pass",
    )


def _service_principal(statement: dict[str, Any]) -> bool:
    principal = statement.get("Principal")
    return isinstance(principal, dict) and "Service" in principal


# The resource types whose policy can grant a service principal, and the property that holds the policy.
_POLICY_PROPERTY = {
    "AWS::SQS::QueuePolicy": "PolicyDocument",
    "AWS::S3::BucketPolicy": "PolicyDocument",
    "AWS::SNS::TopicPolicy": "PolicyDocument",
    "AWS::KMS::Key": "KeyPolicy",
}


def _service_grants_bound(resource: dict[str, Any]) -> list[bool]:
    """For each service-principal grant of a resource policy or Lambda permission: does it name its source?"""
    props = resource.get("Properties", {})
    if resource["Type"] == "AWS::Lambda::Permission":
        if not str(props.get("Principal", "")).endswith(".amazonaws.com"):
            return []
        return ["SourceArn" in props or "SourceAccount" in props]
    if resource["Type"] not in _POLICY_PROPERTY:
        return []
    bound = []
    for statement in _as_list(props[_POLICY_PROPERTY[resource["Type"]]]["Statement"]):
        if statement["Effect"] == "Allow" and _service_principal(statement):
            conditions = json.dumps(statement.get("Condition", {}))
            bound.append("aws:SourceArn" in conditions or "aws:SourceAccount" in conditions)
    return bound


def _eventbridge_queue_grants(synthesized: Synthesized) -> int:
    """EventBridge grants on the queues, each asserted to come from one of the stack's rules; no S3 grant at all."""
    rules = set(synthesized.resources("AWS::Events::Rule"))
    grants = 0
    for policy in synthesized.resources("AWS::SQS::QueuePolicy").values():
        for statement in _as_list(policy["Properties"]["PolicyDocument"]["Statement"]):
            service = statement["Principal"].get("Service") if _service_principal(statement) else None
            assert service != "s3.amazonaws.com", statement
            if service == "events.amazonaws.com" and statement["Effect"] == "Allow":
                grants += 1
                source = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
                assert source["Fn::GetAtt"][0] in rules and source["Fn::GetAtt"][1] == "Arn", statement
    return grants


def test_service_principals_are_bound_to_this_account_or_resource(synthesized: Synthesized) -> None:
    # Given every resource policy (queues, buckets, keys, topics) and Lambda permission
    grants = {
        logical_id: _service_grants_bound(resource) for logical_id, resource in synthesized.json["Resources"].items()
    }
    checked = sum(len(bound) for bound in grants.values())
    unbound = [logical_id for logical_id, bound in grants.items() for ok in bound if not ok]
    # Then each names the source (SourceArn or SourceAccount)
    assert checked > 0
    assert not unbound, unbound
    # And EventBridge may send to a queue only on behalf of one of this stack's own rules (a rule ARN names its
    # account; uploads reach the queues through EventBridge), and no queue grants S3 anything any more
    eventbridge_grants = _eventbridge_queue_grants(synthesized)
    # ... one on each detect queue and one on each dead-letter queue
    assert eventbridge_grants == 2 * len(synthesized.config.models)
    record(
        SUITE,
        "service principals (confused deputy)",
        f"{checked} service-principal grants",
        "aws:SourceArn or aws:SourceAccount on each; EventBridge→SQS only from the stack's own rules; no S3 grant",
        "all bound",
    )


def test_checkov_passes_with_only_reasoned_skips(synthesized: Synthesized) -> None:
    # Given the checked-in config whose every skip has a reason
    config = ROOT / ".checkov.yaml"
    skips = re.findall(r"^\s*-\s*(CKV\w+)\s*#\s*reason:\s*(.+)$", config.read_text(), flags=re.MULTILINE)
    listed = re.findall(r"^\s*-\s*(CKV\w+)", config.read_text(), flags=re.MULTILINE)
    assert len(skips) == len(listed)
    assert all(len(reason.strip()) >= 20 for _, reason in skips)
    checkov = str(CHECKOV) if CHECKOV.exists() else shutil.which("checkov")
    if checkov is None:
        pytest.skip("checkov is not installed (make test installs it in .venv-checkov)")

    # When checkov scans the synthesized template
    completed = subprocess.run(
        [checkov, "-f", str(synthesized.template_path), "--config-file", str(config), "-o", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(completed.stdout)
    report = report[0] if isinstance(report, list) else report
    summary = report["summary"]

    # Then no check failed, and the skipped ones are exactly those of the config
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert not failed, failed
    assert summary["passed"] > 0
    record(
        SUITE,
        "checkov (cloudformation)",
        f"checkov {summary['checkov_version']} on the synthesized template",
        "0 failed; skips only from .checkov.yaml, each with a reason",
        f"{summary['passed']} passed, {summary['failed']} failed, {summary['skipped']} skipped "
        f"({', '.join(sorted({s for s, _ in skips}))})",
    )
