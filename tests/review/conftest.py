"""The world of tests/review: a real Label Studio (``label-studio`` from PyPI, installed by ``make test`` into
``.venv-labelstudio``), started once per session on 127.0.0.1 and a free port, SQLite in a temporary directory,
stopped (its process group) at the end; and offline runs saved by ``clp demo`` / the runtime for it to review.

No skip: a missing or broken server fails the fixture, so the tests fail (clp.review.server.ServerError says how
to install it). The Label Studio tests share the xdist group ``labelstudio`` (one worker, one server).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from label_studio_sdk import LabelStudio
from typer.testing import CliRunner

from clp.main import app
from clp.review.server import Credentials, LocalLabelStudio
from infra.config import load_config
from lambdas.review.models import ReviewPolicy
from localrun.emulator import Manifest
from localrun.rehearsal import Rehearsal
from localrun.runtime import LOCAL_TABLE, OfflineRuntime, RuntimeOptions
from localrun.state import LocalState
from tests.support.images import write_image

GROUP = "labelstudio"
FAST = ["--time-scale", "100000"]
runner = CliRunner()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that uses the server runs in the one worker that started it."""
    for item in items:
        if "studio" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group(GROUP))


@pytest.fixture(scope="session")
def labelstudio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLabelStudio]:
    root = tmp_path_factory.mktemp("labelstudio")
    files = root / "files"  # LOCAL_FILES_DOCUMENT_ROOT: the offline runs the tests push live under it
    files.mkdir()
    server = LocalLabelStudio(data_dir=root / "data", document_root=files, credentials=Credentials.generate())
    with server:
        yield server


@dataclass
class Studio:
    """The running server, a plain SDK client of it (the tests' "annotator"), and ``clp review`` against it."""

    server: LocalLabelStudio
    client: LabelStudio

    @property
    def files(self) -> Path:
        return self.server.document_root

    def options(self) -> list[str]:
        return ["--url", self.server.url, "--token", self.server.credentials.token, "--document-root", str(self.files)]

    def clp(self, *args: str) -> Any:
        return runner.invoke(app, ["review", *args, *self.options()])

    def clp_json(self, *args: str) -> dict[str, Any]:
        result = self.clp(*args, "--json")
        assert result.exit_code == 0, result.output + result.stderr
        document: dict[str, Any] = json.loads(result.stdout)
        return document

    def project(self, title: str) -> Any:
        (found,) = [p for p in self.client.projects.list() if p.title == title]
        return self.client.projects.get(found.id)

    def tasks(self, project_id: int) -> list[Any]:
        return list(self.client.tasks.list(project=project_id, fields="all"))

    def annotate(self, task_id: int, result: list[dict[str, Any]], **extra: Any) -> Any:
        return self.client.annotations.create(task_id, result=result, **extra)


@pytest.fixture
def studio(labelstudio_server: LocalLabelStudio) -> Studio:
    """The server with no project: every test starts from a clean slate (project titles are per model)."""
    client = LabelStudio(base_url=labelstudio_server.url, api_key=labelstudio_server.credentials.token)
    for project in list(client.projects.list()):
        client.projects.delete(project.id)
    return Studio(labelstudio_server, client)


@pytest.fixture(scope="session")
def demo_template(labelstudio_server: LocalLabelStudio) -> Path:
    """One small ``clp demo`` run (12 images; the demo's review policy leaves some PENDING), saved under the
    server's document root; tests copy it so each has its own state."""
    output = labelstudio_server.document_root / "demo-template"
    result = runner.invoke(app, ["demo", "--images", "12", "--output", str(output), *FAST])
    assert result.exit_code == 0, result.output + result.stderr
    return output


@pytest.fixture
def demo_output(demo_template: Path, studio: Studio, request: pytest.FixtureRequest) -> Path:
    """A copy of the demo run, this test's own (the state is written back by every push and pull)."""
    target = studio.files / f"demo-{request.node.name}".replace("[", "-").replace("]", "")
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(demo_template, target)
    return target


@pytest.fixture(scope="session")
def detection_template(labelstudio_server: LocalLabelStudio) -> Path:
    """An object-detection model's offline run, saved as ``clp demo`` saves one: two images whose manifest boxes
    the emulator replays at 95 % confidence, under a policy that reviews anything below 99."""
    root = labelstudio_server.document_root / "detection-template"
    images = root / "dataset" / "images"
    write_image(images / "shelf 1.png", "PNG", (200, 100), (10, 200, 10))
    write_image(images / "shelf 2.png", "PNG", (120, 160), (200, 10, 10))
    lines = [
        {
            "source-ref": f"images/{name}",
            "bounding-box": {
                "image_size": [{"width": width, "height": height, "depth": 3}],
                "annotations": [{"class_id": 0, "left": left, "top": top, "width": 40, "height": 20}],
            },
            "bounding-box-metadata": {
                "class-map": {"0": "logo"},
                "objects": [{"confidence": 0.95}],
                "type": "groundtruth/object-detection",
            },
        }
        for name, width, height, left, top in (("shelf 1.png", 200, 100, 20, 10), ("shelf 2.png", 120, 160, 60, 80))
    ]
    manifest = root / "dataset" / "logos.manifest"
    manifest.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    base = load_config()
    model = base.models[0].model_copy(update={"review": ReviewPolicy(enabled=True, min_confidence=99.0)})
    config = base.model_copy(update={"models": (model,)})
    options = RuntimeOptions(time_scale=None, manifest=Manifest.load(manifest))
    with OfflineRuntime(config, options) as runtime:
        keys = runtime.upload_directory(images)
        assert Rehearsal(runtime).run(keys, timeout_seconds=300).completed
        LocalState(root).save(
            runtime.client("dynamodb"), config, images_dir=images, manifest=manifest, table=LOCAL_TABLE
        )
    return root


@pytest.fixture
def detection_output(detection_template: Path, studio: Studio) -> Path:
    target = studio.files / "detection"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(detection_template, target)
    return target
