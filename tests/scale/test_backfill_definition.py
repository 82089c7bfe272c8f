"""The deployed backfill definition itself: structure, AWS validation (asl-validator) and the exact
extent of the test-only moto transform."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from infra import constants
from infra.statemachines import (
    BACKFILL_DEFINITION_PATH,
    DefinitionError,
    backfill_definition,
    backfill_substitutions,
    placeholders,
    substitute,
)
from tests.support.backfill import THREE_MODELS
from tests.support.moto_backfill import moto_backfill_definition

REPO = Path(__file__).resolve().parents[2]


def _document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(backfill_definition())
    return document


def test_is_a_distributed_map_over_listobjectsv2_batched_for_sendmessagebatch() -> None:
    states = _document()["States"]
    backfill = states["Backfill"]
    assert backfill["Type"] == "Map"
    assert backfill["ItemReader"]["Resource"] == "arn:aws:states:::s3:listObjectsV2"
    assert backfill["ItemReader"]["Arguments"]["Bucket"] == "${BucketName}"
    assert backfill["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}
    assert backfill["ItemBatcher"]["MaxItemsPerBatch"] == constants.BACKFILL_ITEMS_PER_BATCH == 10
    assert set(backfill["ItemBatcher"]["BatchInput"]) == {"skip_existing"}
    assert backfill["MaxConcurrency"] == constants.BACKFILL_MAX_CONCURRENCY
    # Results go to S3 so millions of objects cannot overflow the 256 KiB payload
    assert backfill["ResultWriter"]["Resource"] == "arn:aws:states:::s3:putObject"
    assert backfill["ResultWriter"]["Arguments"]["Prefix"] == "${ResultsPrefix}${ModelName}"
    children = backfill["ItemProcessor"]["States"]
    assert children["Enqueue"]["Resource"] == "arn:aws:states:::aws-sdk:sqs:sendMessageBatch"
    find = children["FindResults"]["ItemProcessor"]["States"]["FindResult"]
    assert find["Resource"] == "arn:aws:states:::aws-sdk:dynamodb:query"
    assert find["Arguments"]["ExpressionAttributeValues"][":sk"]["S"] == "${ResultKeyPrefix}"
    assert states["StartController"]["Resource"] == "arn:aws:states:::aws-sdk:sfn:startExecution"
    assert "'trigger': 'backfill'" in states["StartController"]["Arguments"]["Input"]


def test_every_placeholder_has_a_value_and_no_value_is_unused() -> None:
    from infra.config import parse_config

    config = parse_config(THREE_MODELS)
    values = backfill_substitutions(
        config,
        config.model("produce"),
        bucket_name="b",
        queue_url="q",
        results_table_name="t",
        controller_state_machine_arn="arn",
        region="us-east-1",
    )
    assert placeholders(backfill_definition()) == set(values)
    substituted = substitute(backfill_definition(), values)
    assert "${" not in substituted


@pytest.mark.parametrize("kwargs", [{"items_per_batch": 11}, {"items_per_batch": 0}, {"max_concurrency": 0}])
def test_batch_and_concurrency_are_bounded(kwargs: dict[str, int]) -> None:
    with pytest.raises(DefinitionError):
        backfill_definition(**kwargs)  # type: ignore[arg-type]


def test_the_moto_transform_changes_only_what_moto_cannot_run() -> None:
    real = json.loads(backfill_definition())
    copy = json.loads(moto_backfill_definition(backfill_definition()))
    real_map, copy_map = real["States"]["Backfill"], copy["States"]["Backfill"]
    # ItemBatcher becomes a batch-of-one ItemSelector of the same shape; ResultWriter goes; children STANDARD
    assert "ItemBatcher" not in copy_map and "ResultWriter" not in copy_map
    assert copy_map["ItemSelector"] == {
        "Items": [real_map["ItemSelector"]],
        "BatchInput": real_map["ItemBatcher"]["BatchInput"],
    }
    assert copy_map["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] == "STANDARD"
    # The child states are the deployed ones (only aws-sdk error names lower-cased for moto)
    assert (
        json.dumps(copy_map["ItemProcessor"]["States"]).lower()
        == json.dumps(real_map["ItemProcessor"]["States"]).lower()
    )
    for key in ("ItemReader", "MaxConcurrency", "Label", "Assign", "Next"):
        assert copy_map[key] == real_map[key]
    for name in ("Init", "StartController?", "Done"):
        assert copy["States"][name] == real["States"][name]


@pytest.mark.skipif(shutil.which("npx") is None, reason="node is needed for asl-validator")
@pytest.mark.parametrize("substituted", [False, True], ids=["file", "substituted"])
def test_asl_validator_accepts_the_deployed_definition(substituted: bool, tmp_path: Path) -> None:
    validator = REPO / "node_modules" / ".bin" / "asl-validator"
    if not validator.exists():
        pytest.skip("node_modules not installed (make test installs it)")
    path = BACKFILL_DEFINITION_PATH
    if substituted:
        from infra.config import parse_config

        config = parse_config(THREE_MODELS)
        definition = substitute(
            backfill_definition(),
            backfill_substitutions(
                config,
                config.model("produce"),
                bucket_name="clp-uploads",
                queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/clp-produce-detect",
                results_table_name="clp-results",
                controller_state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:clp-produce-controller",
                region="us-east-1",
            ),
        )
        path = tmp_path / "backfill.asl.json"
        path.write_text(definition)
    completed = subprocess.run(
        [str(validator), "--json-path", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
