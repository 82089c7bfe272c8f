"""CDK infrastructure of the Custom Labels Pipeline.

``from infra import CustomLabelsPipeline, PipelineConfig`` is the public API for a CDK app of one's own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infra.config import PipelineConfig
    from infra.pipeline import CustomLabelsPipeline

__all__ = ["CustomLabelsPipeline", "PipelineConfig"]


def __getattr__(name: str) -> Any:
    # Resolved on first use: clp and the offline runtime import infra.config and infra.constants, and must
    # not pay for loading aws_cdk (the jsii runtime starts a node process) to do so.
    if name == "CustomLabelsPipeline":
        from infra.pipeline import CustomLabelsPipeline  # noqa: PLC0415  (lazy: see above)

        return CustomLabelsPipeline
    if name == "PipelineConfig":
        from infra.config import PipelineConfig  # noqa: PLC0415

        return PipelineConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
