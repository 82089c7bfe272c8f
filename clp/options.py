"""The options every operator command shares (docs/cli.md, How the stack is found)."""

from __future__ import annotations

from typing import Annotated

import typer

StackOption = Annotated[
    str | None, typer.Option("--stack", help="CloudFormation stack name (default: cdk.json's pipeline.stack_name).")
]
RegionOption = Annotated[str | None, typer.Option("--region", help="AWS region (default: your AWS configuration).")]
ModelOption = Annotated[str | None, typer.Option("--model", help="Model name (default: all models, or the only one).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout (for scripts).")]
