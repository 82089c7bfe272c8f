"""Every command's exit statuses, as docs/cli.md's table gives them: 0 done, 1 an error, 2 invalid usage,
3 not done (``clp stop``). The operator commands run against the moto world of tests/ops/conftest.py;
preflight against real clients behind botocore Stubbers (tests/ops/test_preflight.py's account)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import boto3
import pytest
from typer.testing import CliRunner

from clp.main import app
from tests.support.deployed import BUCKET, STACK, Deployed
from tests.support.ids import MODEL, REGION, VERSION_ARN
from tests.support.preflight import REGION as PREFLIGHT_REGION, StubbedAccount

runner = CliRunner()


def _model_started_by_hand(deployed: Deployed, monkeypatch: pytest.MonkeyPatch) -> None:
    deployed.harness.emulator.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=1)
    deployed.harness.clock.advance(3600)


def _no_region(deployed: Deployed, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")


def _uploads_bucket(deployed: Deployed, monkeypatch: pytest.MonkeyPatch) -> None:
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)


def _control_table_gone(deployed: Deployed, monkeypatch: pytest.MonkeyPatch) -> None:
    deployed.harness.ddb.delete_table(TableName=deployed.harness.table_name)


@dataclass(frozen=True)
class Case:
    args: list[str]
    code: int
    stderr: str  # what the one-line message (or click's usage error) says
    given: Callable[[Deployed, pytest.MonkeyPatch], None] | None = None
    region: list[str] = field(default_factory=lambda: ["--region", REGION])


CASES = {
    "status ok": Case(["status"], 0, ""),
    "status unknown stack": Case(["status", "--stack", "Nope"], 1, "stack 'Nope' does not exist"),
    "status no region": Case(["status"], 1, "You must specify a region", _no_region, []),
    "status unknown option": Case(["status", "--bogus"], 2, "No such option"),
    "start ok": Case(["start", "--model", MODEL], 0, ""),
    "start several models": Case(["start"], 1, "choose one with --model"),
    "start bad window": Case(["start", "--model", MODEL, "--window-minutes", "0"], 2, "--window-minutes"),
    "stop nothing to stop": Case(["stop", "--model", MODEL], 0, ""),
    "stop unknown model": Case(["stop", "--model", "bananas"], 1, "unknown model 'bananas'"),
    "stop aws error": Case(
        ["stop", "--model", MODEL], 1, "AWS GetItem failed: ResourceNotFoundException", _control_table_gone
    ),
    "stop bad timeout": Case(["stop", "--model", MODEL, "--timeout", "0"], 2, "--timeout"),
    "stop model running outside": Case(["stop", "--model", MODEL], 3, "not stopped", _model_started_by_hand),
    "results ok": Case(["results", "--key", "produce/a.jpg"], 0, ""),
    "results no manifest": Case(["results", "--key", "a", "--stack", "SomethingElse"], 1, "no PipelineManifest"),
    "results neither key nor label": Case(["results"], 2, "give exactly one of --key or --label"),
    "results bad --by": Case(["results", "--label", "x", "--by", "size"], 2, "--by must be"),
    "cost ok": Case(["cost"], 0, ""),
    "cost unknown stack": Case(["cost", "--stack", "Nope"], 1, "does not exist"),
    "cost bad date": Case(["cost", "--since", "yesterday"], 2, "--since"),
    "redrive dry run": Case(["redrive", "--model", MODEL, "--dry-run"], 0, ""),
    "redrive several models": Case(["redrive", "--dry-run"], 1, "choose one with --model"),
    "redrive unknown option": Case(["redrive", "--all"], 2, "No such option"),
    "backfill dry run": Case(["backfill", f"s3://{BUCKET}/produce/", "--dry-run"], 0, "", _uploads_bucket),
    "backfill other bucket": Case(["backfill", "s3://elsewhere/produce/"], 1, "is not the pipeline's uploads bucket"),
    "backfill unknown stack": Case(["backfill", f"s3://{BUCKET}/produce/", "--stack", "Nope"], 1, "does not exist"),
    "backfill not an s3 url": Case(["backfill", "https://x/y"], 2, "expected s3://bucket/prefix"),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_operator_commands_exit_with_the_documented_status(
    deployed: Deployed, monkeypatch: pytest.MonkeyPatch, case: Case
) -> None:
    # Given the deployed stack, and what the case adds to it
    if case.given is not None:
        case.given(deployed, monkeypatch)

    # When the command runs (its own --stack after the default one: the last value wins)
    result = runner.invoke(app, [case.args[0], "--stack", STACK, *case.region, *case.args[1:]])

    # Then it exits with the documented status; a failure says why on stderr and prints nothing on stdout
    assert result.exit_code == case.code, result.output
    if case.code == 0:
        assert "error" not in result.stderr
        return
    assert case.stderr in result.stderr and result.stdout == ""
    if case.code != 2 or "Usage:" not in result.stderr:  # click's own usage errors come with the usage line
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "code", "given"),
    [
        (["--region", PREFLIGHT_REGION], 0, "everything ok"),
        ([], 1, "no region"),
        (["--region", PREFLIGHT_REGION, "--config", "/nonexistent/cdk.json"], 2, "no config"),
    ],
    ids=["every check passes", "a finding", "invalid --config"],
)
def test_preflight_exits_with_the_documented_status(
    monkeypatch: pytest.MonkeyPatch, account: StubbedAccount, args: list[str], code: int, given: str
) -> None:
    # Given an account that answers every check, or no region anywhere
    if given == "everything ok":
        account.everything_ok()
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")

    # When preflight runs
    result = runner.invoke(app, ["preflight", "--json", *args])

    # Then its exit status is the documented one, and every stubbed answer was asked for
    assert result.exit_code == code, result.output
    account.assert_all_asked()
    if code == 2:
        assert "config file not found: /nonexistent/cdk.json" in result.stderr
