"""The typed pipeline configuration: defaults load, bad input fails naming the field."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from infra.config import DEFAULT_CDK_JSON, ConfigError, load_config, parse_config
from tests.support import ids

VERSION_ARN = ids.version_arn("parts", "parts.2026-02-01T00.00.00", account=ids.SAMPLE_ACCOUNT)
PROJECT_ARN = ids.project_arn("parts", account=ids.SAMPLE_ACCOUNT)
FLOW_ARN = "arn:aws:sagemaker:us-east-1:111122223333:flow-definition/produce-review"


def _block() -> dict[str, Any]:
    block: dict[str, Any] = json.loads(DEFAULT_CDK_JSON.read_text())["context"]["pipeline"]
    return copy.deepcopy(block)


def _second_model(**overrides: Any) -> dict[str, Any]:
    model = {"name": "parts", "project_arn": PROJECT_ARN, "project_version_arn": VERSION_ARN, "prefix": "parts/"}
    model.update(overrides)
    return model


def test_default_cdk_json_is_a_working_example() -> None:
    config = load_config()

    model = config.models[0]
    assert model.name == "produce-quality"
    assert model.version_name == "produce-quality.2026-01-01T00.00.00"
    assert model.region == "us-east-1"
    assert config.model_for_key("produce/a.jpg") is model
    assert config.model_for_key("other/a.jpg") is None


def test_a_json_string_from_the_cli_context_is_accepted() -> None:
    config = parse_config(json.dumps(_block()))

    assert config.models[0].prefix == "produce/"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b["models"][0].update(project_version_arn="arn:aws:s3:::nope"), "models.0.project_version_arn"),
        (lambda b: b["models"][0].update(min_confidence=101), "models.0.min_confidence"),
        (lambda b: b["models"][0].update(tps_per_inference_unit=0), "models.0.tps_per_inference_unit"),
        (lambda b: b["models"][0].update(prefix="/produce"), "models.0.prefix"),
        (lambda b: b["models"][0].update(name="Produce Quality"), "models.0.name"),
        (lambda b: b["models"][0].update(unknown_field=1), "models.0.unknown_field"),
        (lambda b: b["models"][0]["lifecycle"].update(max_inference_units=0), "max_inference_units"),
        (lambda b: b["models"][0]["lifecycle"].update(schedules=[]), "schedules"),
        (lambda b: b.update(log_retention_days=31), "log_retention_days"),
        (lambda b: b.update(models=[]), "pipeline.models"),
        (lambda b: b["models"].append(_second_model(prefix="produce/fruit/")), "prefixes overlap"),
        (lambda b: b["models"].append(_second_model(name="produce-quality")), "duplicate model names"),
        (lambda b: b["models"][0].update(review={"min_confidence": 101}), "models.0.review.min_confidence"),
        (lambda b: b["models"][0].update(review={"audit_fraction": 2}), "models.0.review.audit_fraction"),
        (
            lambda b: b["models"][0].update(review={"label_min_confidence": {"rotten": -1}}),
            "models.0.review.label_min_confidence.rotten",
        ),
        (lambda b: b["models"][0].update(review={"label_min_confidence": {"": 90}}), "review.label_min_confidence"),
        (
            lambda b: b["models"][0].update(review={"a2i_flow_definition_arn": "arn:aws:s3:::bucket"}),
            "models.0.review.a2i_flow_definition_arn",
        ),
        (lambda b: b["models"][0].update(review={"enable": True}), "models.0.review.enable"),
        (
            lambda b: b["models"][0].update(review={"enabled": True, "a2i_flow_definition_arn": FLOW_ARN}),
            "a2i_flow_definition_arn needs a2i_output_s3_uri",
        ),
        (
            lambda b: b["models"][0].update(
                review={"a2i_flow_definition_arn": FLOW_ARN, "a2i_output_s3_uri": "s3://Not_A_Bucket/a2i"}
            ),
            "models.0.review.a2i_output_s3_uri",
        ),
        (
            # The output location travels in the detect function's REVIEW_POLICY too: it counts towards the 2 KB.
            lambda b: b["models"][0].update(
                review={
                    "enabled": True,
                    # ~1 KB of overrides alone fits; with a 1014-character output location it does not
                    "label_min_confidence": {f"label-{n:03d}": 90 for n in range(50)},
                    "a2i_flow_definition_arn": FLOW_ARN,
                    "a2i_output_s3_uri": "s3://produce-a2i-output/" + "p" * 990,
                }
            ),
            "fit in Lambda's 4 KB of environment",
        ),
        (
            lambda b: b["models"][0].update(
                review={"enabled": True, "label_min_confidence": {f"label-{n:03d}": 90 for n in range(200)}}
            ),
            "fit in Lambda's 4 KB of environment",
        ),
    ],
)
def test_invalid_config_fails_naming_the_field(mutate: Any, field: str) -> None:
    block = _block()
    mutate(block)

    with pytest.raises(ConfigError) as error:
        parse_config(block)

    assert field in str(error.value)


def test_project_and_version_arns_must_agree() -> None:
    block = _block()
    block["models"][0]["project_arn"] = PROJECT_ARN  # project "parts", version of "produce-quality"

    with pytest.raises(ConfigError, match="disagree on the project"):
        parse_config(block)


def test_lock_ttl_must_cover_a_whole_session() -> None:
    block = _block()
    block["models"][0]["lifecycle"].update(lock_ttl_minutes=60, max_runtime_minutes=240)

    with pytest.raises(ConfigError, match="lock_ttl_minutes"):
        parse_config(block)


def test_lock_ttl_leaves_slack_for_the_stop_timeout_polls_and_retries() -> None:
    # Given exactly start timeout + max runtime + stop timeout (what the old check allowed, with no slack)
    block = _block()
    block["models"][0]["lifecycle"].update(
        start_timeout_minutes=45, max_runtime_minutes=240, lock_ttl_minutes=300, poll_interval_seconds=60
    )

    # Then it is refused, naming the minimum: + one drain poll (60 s) + two start/stop polls + 10 min retries
    with pytest.raises(ConfigError, match=r"lock_ttl_minutes must be >= 313"):
        parse_config(block)
    # and omitted, the TTL (= the execution timeout) is that minimum
    del block["models"][0]["lifecycle"]["lock_ttl_minutes"]
    lifecycle = parse_config(block).models[0].lifecycle
    assert lifecycle.effective_lock_ttl_minutes == lifecycle.minimum_lock_ttl_minutes == 313


def test_a_poll_interval_that_would_exhaust_the_execution_history_is_refused() -> None:
    # Given a 5 s poll over a 240 min max runtime: ~2,900 drain iterations of 14 history events each
    block = _block()
    block["models"][0]["lifecycle"].update(poll_interval_seconds=5, max_runtime_minutes=240)

    # Then the config fails before Step Functions would fail the execution at 25,000 events
    with pytest.raises(ConfigError, match=r"execution history events .* fails an execution past 25000"):
        parse_config(block)
    # while a 15 s poll over the same runtime fits (~13,400 events)
    block["models"][0]["lifecycle"]["poll_interval_seconds"] = 15
    assert parse_config(block).models[0].lifecycle.history_events_estimate < 20_000


@pytest.mark.parametrize("field", ["poll_interval_seconds", "start_poll_interval_seconds"])
def test_zero_second_polls_are_refused(field: str) -> None:
    block = _block()
    block["models"][0]["lifecycle"][field] = 0

    with pytest.raises(ConfigError, match=field):
        parse_config(block)


def test_malformed_json_and_non_objects_are_rejected() -> None:
    with pytest.raises(ConfigError, match="not valid JSON"):
        parse_config("{nope")
    with pytest.raises(ConfigError, match="expected an object"):
        parse_config([1])


def test_cdk_json_without_a_pipeline_block_is_rejected(tmp_path: Any) -> None:
    path = tmp_path / "cdk.json"
    path.write_text(json.dumps({"context": {}}))

    with pytest.raises(ConfigError, match=r"no context\.pipeline"):
        load_config(path)


@pytest.mark.parametrize(
    ("tps", "max_iu", "override", "expected"),
    [(5, 1, None, 5), (0.5, 1, None, 2), (5, 4, None, 20), (900, 2, None, 1000), (5, 1, 7, 7)],
)
def test_event_source_concurrency_follows_the_model_tps(
    tps: float, max_iu: int, override: int | None, expected: int
) -> None:
    block = _block()
    model = block["models"][0]
    model.update(tps_per_inference_unit=tps, max_concurrency=override)
    model["lifecycle"].update(min_inference_units=1, max_inference_units=max_iu)

    config = parse_config(block)

    assert config.models[0].effective_max_concurrency == expected


def test_unknown_model_lookup_lists_known_names() -> None:
    config = load_config()

    with pytest.raises(KeyError, match="produce-quality"):
        config.model("nope")
    assert config.model("produce-quality").prefix == "produce/"


def test_review_is_off_unless_a_model_enables_it() -> None:
    # Given the shipped cdk.json (no review block) and the same model with one
    block = _block()
    reviewed = _block()
    reviewed["models"][0]["review"] = {
        "enabled": True,
        "min_confidence": 90,
        "label_min_confidence": {"rotten": 95},
        "no_label": False,
        "audit_fraction": 0.05,
        "a2i_flow_definition_arn": FLOW_ARN,
        "a2i_output_s3_uri": "s3://produce-a2i-output/reviews/",
    }
    # When both are parsed
    default = parse_config(block).models[0].review
    review = parse_config(reviewed).models[0].review
    # Then the default reviews nothing, and the block is read as written
    assert default.enabled is False
    assert (review.enabled, review.min_confidence, review.no_label, review.audit_fraction) == (True, 90, False, 0.05)
    assert review.threshold("rotten") == 95
    assert review.threshold("ripe") == 90
    assert review.a2i_flow_definition_arn == FLOW_ARN
    assert review.a2i_output_location == ("produce-a2i-output", "reviews")
