"""``clp preflight``: what only the target AWS account can answer, asked before CloudFormation asks it.

The checks themselves are :class:`clp.preflight.Preflight` (read-only: Get, Describe, Validate).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from clp import preflight
from clp.deployment import Clients, pipeline_config
from clp.errors import EXIT_ERROR
from clp.handling import handle_errors
from clp.options import JsonOption, RegionOption, StackOption
from clp.preflight import Row, Status
from clp.render import out, print_json, table
from infra.config import DEFAULT_CDK_JSON

ConfigOption = Annotated[
    Path, typer.Option("--config", help="cdk.json whose 'pipeline' block configures the pipeline.")
]
_COLOURS = {
    Status.OK: "green",
    Status.FINDING: "bold red",
    Status.WARNING: "yellow",
    Status.NOTE: "yellow",
    Status.SKIPPED: "dim",
}


def render(rows: list[Row], *, stack: str, region: str | None) -> None:
    shown = table("check", "subject", "status", "detail", title=f"preflight · {stack} · {region or 'no region'}")
    for row in rows:
        shown.add_row(row.check, row.subject, f"[{_COLOURS[row.status]}]{row.status}[/]", row.detail)
    out.print(shown)
    count = preflight.findings(rows)
    if count:
        out.print(f"[bold red]{count} finding(s)[/]: fix them before `make deploy`", highlight=False)
    else:
        out.print("[green]every check passed[/]", highlight=False)


@handle_errors
def preflight_command(
    stack: StackOption = None,
    region: RegionOption = None,
    config_path: ConfigOption = DEFAULT_CDK_JSON,
    as_json: JsonOption = False,
) -> None:
    """Check, read-only, what only your AWS account can answer before a deploy; changes nothing.

    1. A region and working credentials (sts:GetCallerIdentity); every model ARN in that account and region.

    2. Every controller and backfill definition through Step Functions' ValidateStateMachineDefinition.
    ERROR diagnostics are findings; WARNING diagnostics are shown but are not findings.

    3. The public Powertools layer parameter (ssm:GetParameter) and the layer version it names
    (lambda:GetLayerVersionByArn): it exists and lists python3.14 and arm64.

    4. Every model version (rekognition:DescribeProjectVersions): it exists and is STOPPED, FAILED,
    TRAINING_COMPLETED or COPYING_COMPLETED. RUNNING is a note: the controller never stops it.

    5. The Amazon A2I flow definition of every model whose review names one (sagemaker:DescribeFlowDefinition):
    in the target account and region, Active, and its OutputConfig.S3OutputPath equal to review.a2i_output_s3_uri.

    Region: --region, else AWS_REGION, else AWS_DEFAULT_REGION or your profile's region. --stack only
    names the stand-ins for what CloudFormation names at deploy time.

    Exit status: 0 when every check passes, 1 on any finding, 2 on invalid usage (bad --config).
    """
    config = pipeline_config(config_path)
    name = stack or config.stack_name
    target, source = preflight.resolve_region(region)
    checks = preflight.Preflight(Clients(target), config, stack=name, region=target, region_source=source)
    rows = checks.run()
    count = preflight.findings(rows)
    if as_json:
        document = {"stack": name, "region": target, "account": checks.account, "ok": count == 0}
        print_json({**document, "findings": count, "checks": [asdict(row) for row in rows]})
    else:
        render(rows, stack=name, region=target)
    if count:
        raise typer.Exit(EXIT_ERROR)
