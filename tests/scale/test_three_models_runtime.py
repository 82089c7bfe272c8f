"""Three models in one offline runtime: one model's session never touches another model."""

from __future__ import annotations

from pathlib import Path

from infra.config import PipelineConfig
from localrun.rehearsal import Progress, Rehearsal
from localrun.runtime import LOCAL_BUCKET, OfflineRuntime, RuntimeOptions


def _state(runtime: OfflineRuntime, name: str) -> tuple[str, bool, str]:
    """(model status, lock held, mapping state) of model ``name``."""
    assert runtime.emulator is not None
    resources = runtime.models[name]
    status = runtime.emulator.status(resources.model.project_version_arn)
    lock = Rehearsal(runtime, resources.model).lock_held()
    mapping = runtime.client("lambda").get_event_source_mapping(UUID=resources.mapping_uuid)["State"]
    return status, lock, mapping


def test_a_session_of_one_model_leaves_the_other_two_stopped(three_models: PipelineConfig, tmp_path: Path) -> None:
    options = RuntimeOptions(start_delay_seconds=300.0, stop_delay_seconds=60.0)
    with OfflineRuntime(three_models, options) as runtime:
        # Given each model has its own queue, mapping and controller
        resources = runtime.models
        assert len({r.queue_url for r in resources.values()}) == 3
        assert len({r.mapping_uuid for r in resources.values()}) == 3
        assert len({r.state_machine_arn for r in resources.values()}) == 3
        # ... a backlog for "logos" and uploads for "parts" (routed by prefix)
        s3 = runtime.client("s3")
        logos = Rehearsal(runtime, three_models.model("logos"))
        assert logos.queue_depth() == 0  # configuring ingest (EventBridge) queues nothing
        for i in range(4):
            s3.put_object(Bucket=LOCAL_BUCKET, Key=f"logos/backlog-{i}.jpg", Body=b"not an image")
        parts_keys = [f"parts/p{i}.jpg" for i in range(5)]
        for key in parts_keys:
            s3.put_object(Bucket=LOCAL_BUCKET, Key=key, Body=b"not an image either")
        assert logos.queue_depth() == 4  # exactly the 4 backlog images, nothing else

        # When a session of "parts" runs to completion (sampling the others throughout)
        seen: list[tuple[str, bool, str]] = []

        def sample(_: Progress) -> None:
            seen.extend(_state(runtime, name) for name in ("logos", "produce"))

        result = Rehearsal(runtime, three_models.model("parts")).run(
            parts_keys, trigger="backlog", timeout_seconds=120, progress=sample
        )

        # Then "parts" labelled its images (non-images are terminal FAILED results) and stopped
        assert result.completed
        assert sorted(r.key for r in result.results) == parts_keys
        assert result.final_status == "STOPPED"
        assert len(result.sessions) == 1
        # ... while "logos" and "produce" never started, never locked, never enabled their mapping
        assert seen
        assert set(seen) == {("STOPPED", False, "Disabled")}
        assert runtime.emulator is not None
        for name in ("logos", "produce"):
            assert runtime.emulator.billing(three_models.model(name).project_version_arn).sessions == ()
        # ... and the logos backlog is still waiting on its own queue, unlabelled
        assert logos.queue_depth() == 4  # exactly the 4 backlog images, nothing else
        assert logos.results() == {}
