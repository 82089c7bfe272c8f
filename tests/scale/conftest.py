"""Fixtures of the scale suite: the three-model pipeline (scheduled, on_demand, both), its synthesized stack
(cdk-nag attached), and the backfill's moto world (tests/support/backfill.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.config import PipelineConfig, parse_config
from tests.support.backfill import THREE_MODELS, BackfillEnv, backfill_world
from tests.support.stack import SynthesizedScale


@pytest.fixture(scope="session")
def three_models() -> PipelineConfig:
    return parse_config(THREE_MODELS)


@pytest.fixture(scope="session")
def scale_stack(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedScale:
    """The three-model stack, synthesized once; cdk-nag findings fail synth() here."""
    from tests.support.stack import synthesize_scale

    return synthesize_scale(tmp_path_factory.mktemp("scale.cdk.out"))


@pytest.fixture
def backfill_env(three_models: PipelineConfig) -> Iterator[BackfillEnv]:
    with backfill_world(three_models) as env:
        yield env
