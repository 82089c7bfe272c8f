"""Pipeline configurations for tests: the project's own (cdk.json), widened to more models, and model blocks
in cdk.json's shape for the tests that write a configuration of their own."""

from __future__ import annotations

from typing import Any

from infra.config import ModelConfig, PipelineConfig, load_config
from tests.support import ids


def pipeline_config(models: int = 1, lifecycle: dict[str, Any] | None = None) -> PipelineConfig:
    """The project's config; ``models=2`` adds a second model on its own prefix; ``lifecycle`` overrides."""
    base = load_config()
    first = base.models[0]
    if lifecycle:
        first = first.model_copy(update={"lifecycle": first.lifecycle.model_copy(update=lifecycle)})
        base = base.model_copy(update={"models": (first, *base.models[1:])})
    extra: list[ModelConfig] = []
    for n in range(1, models):
        extra.append(
            first.model_copy(
                update={
                    "name": f"{first.name}-{n + 1}",
                    "prefix": f"model{n + 1}/",
                    "project_arn": first.project_arn.replace(ids.MODEL, f"model{n + 1}"),
                    "project_version_arn": first.project_version_arn.replace(ids.MODEL, f"model{n + 1}"),
                }
            )
        )
    return base.model_copy(update={"models": (*base.models, *extra)})


def model_block(
    name: str,
    prefix: str,
    lifecycle: dict[str, Any] | None = None,
    *,
    region: str = ids.REGION,
    account: str = ids.ACCOUNT,
) -> dict[str, Any]:
    """One model as the ``models`` list of cdk.json's ``pipeline`` block holds it (version ``<name>.v1``)."""
    block: dict[str, Any] = {
        "name": name,
        "project_arn": ids.project_arn(name, account=account, region=region),
        "project_version_arn": ids.version_arn(name, account=account, region=region),
        "prefix": prefix,
    }
    if lifecycle is not None:
        block["lifecycle"] = lifecycle
    return block
