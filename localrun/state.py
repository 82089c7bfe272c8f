"""The offline world on disk: what ``clp demo`` leaves behind so ``clp review`` (and ``clp results --html``) can
work on it later, in another process, with no AWS account (docs/review.md, "Offline state").

``<output>/state/`` holds

- ``results.jsonl``: every item of the results table, DynamoDB JSON (the wire format of Scan and PutItem), one
  per line, sorted by key so two saves of the same table are the same file;
- ``config.json``: the ``pipeline`` block the run used (what :func:`infra.config.parse_config` reads);
- ``sources.json``: where the run's images and labels manifest are, relative to ``<output>`` (an object's key is
  the model's prefix plus the image's path relative to the images directory, as ``clp local run`` uploads it);
- ``events.jsonl``: the events later commands published on the pipeline's bus (``Custom Labels Reviewed``), one
  EventBridge event per line, appended, so what a downstream consumer would have received can be read back.

:meth:`LocalState.world` loads the table into a fresh moto world, created by :class:`localrun.world.World` exactly
as the offline runtime creates it (same definition, indexes included, same names), with the pipeline's bus, and
writes the table back when the block ends without an error.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from moto import mock_aws

from infra.config import ConfigError, PipelineConfig, parse_config
from lambdas.common import contract
from localrun.world import Names, World

STATE_DIR = "state"
RESULTS_FILE = "results.jsonl"
CONFIG_FILE = "config.json"
SOURCES_FILE = "sources.json"
EVENTS_FILE = "events.jsonl"
_EVENTS_QUEUE = "clp-state-events"
# BatchWriteItem takes at most 25 put or delete requests (DynamoDB API Reference, BatchWriteItem).
_BATCH = 25


class StateError(RuntimeError):
    """The directory holds no saved world, or a file of it cannot be read."""


def _sort_key(item: dict[str, Any]) -> tuple[str, str]:
    return (item[contract.RESULTS_PK]["S"], item[contract.RESULTS_SK]["S"])


def scan_items(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    """Every item of ``table`` (DynamoDB JSON), sorted by key."""
    pages = dynamodb.get_paginator("scan").paginate(TableName=table)
    return sorted((item for page in pages for item in page.get("Items", [])), key=_sort_key)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


@dataclass
class LocalWorld:
    """What :meth:`LocalState.world` yields: clients inside the mock, and the names the runtime uses."""

    config: PipelineConfig
    world: World
    names: Names

    def client(self, service: str) -> Any:
        return self.world.client(service)


class LocalState:
    """The saved offline world under ``root`` (the ``--output`` directory of ``clp demo``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.dir = self.root / STATE_DIR

    # -- saving (inside a live runtime) -----------------------------------------------------------------------

    def save(
        self, dynamodb: Any, config: PipelineConfig, *, images_dir: Path, manifest: Path | None, table: str
    ) -> int:
        """Write ``table``'s items, ``config`` and where the images are; returns the number of items saved.

        ``dynamodb`` is a client of the live world (the runtime's, inside its mock). Replaces an earlier save
        (a new run is a new world); the events file starts empty.
        """
        items = scan_items(dynamodb, table)
        self._write_items(items)
        _write_atomically(self.dir / CONFIG_FILE, json.dumps(config.model_dump(mode="json"), indent=2) + "\n")
        sources = {
            "images": os.path.relpath(images_dir, self.root),
            "manifest": os.path.relpath(manifest, self.root) if manifest is not None else None,
        }
        _write_atomically(self.dir / SOURCES_FILE, json.dumps(sources, indent=2) + "\n")
        _write_atomically(self.dir / EVENTS_FILE, "")
        return len(items)

    def _write_items(self, items: list[dict[str, Any]]) -> None:
        lines = "".join(json.dumps(item, sort_keys=True, ensure_ascii=False) + "\n" for item in items)
        _write_atomically(self.dir / RESULTS_FILE, lines)

    # -- reading ------------------------------------------------------------------------------------------------

    def exists(self) -> bool:
        return (self.dir / RESULTS_FILE).is_file() and (self.dir / CONFIG_FILE).is_file()

    def _require(self) -> None:
        if not self.exists():
            raise StateError(
                f"{self.root} holds no saved offline run ({self.dir / RESULTS_FILE} missing): "
                f"run `clp demo --output {self.root}` first"
            )

    def _read_json(self, name: str) -> Any:
        path = self.dir / name
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise StateError(f"cannot read {path}: {exc}") from exc

    def config(self) -> PipelineConfig:
        """The pipeline config the run used."""
        self._require()
        try:
            return parse_config(self._read_json(CONFIG_FILE))
        except ConfigError as exc:
            raise StateError(f"{self.dir / CONFIG_FILE}: {exc}") from exc

    def _source(self, name: str) -> Path | None:
        self._require()
        sources = self._read_json(SOURCES_FILE) if (self.dir / SOURCES_FILE).is_file() else {}
        value = sources.get(name)
        return (self.root / value).resolve() if value else None

    @property
    def images_dir(self) -> Path:
        """The directory the run uploaded (an object's key = the model's prefix + a path relative to it)."""
        return self._source("images") or (self.root / "dataset" / "images").resolve()

    @property
    def manifest(self) -> Path | None:
        """The labels manifest the emulated model replayed, when the run had one."""
        return self._source("manifest")

    def items(self) -> list[dict[str, Any]]:
        """The saved results table items (DynamoDB JSON)."""
        self._require()
        path = self.dir / RESULTS_FILE
        try:
            with path.open(encoding="utf-8") as lines:
                return [json.loads(line) for line in lines if line.strip()]
        except (OSError, json.JSONDecodeError) as exc:
            raise StateError(f"cannot read {path}: {exc}") from exc

    def events(self) -> list[dict[str, Any]]:
        """The events published on the bus by commands run against this state, oldest first."""
        path = self.dir / EVENTS_FILE
        if not path.is_file():
            return []
        with path.open(encoding="utf-8") as lines:
            return [json.loads(line) for line in lines if line.strip()]

    # -- the world --------------------------------------------------------------------------------------------

    @contextmanager
    def world(self) -> Iterator[LocalWorld]:
        """The saved table in a fresh moto world (with the pipeline's bus); written back when the block succeeds.

        Events published on the bus meanwhile are appended to ``events.jsonl`` (a rule on the bus delivers them
        to a queue, as :meth:`localrun.world.World.capture_events` does for the tests).
        """
        config = self.config()
        items = self.items()
        names = Names()
        region = config.models[0].region
        with mock_aws():
            clients: dict[str, Any] = {}

            def client(service: str) -> Any:
                if service not in clients:
                    clients[service] = boto3.client(  # type: ignore[call-overload]
                        service, region_name=region, config=Config(retries={"mode": "standard"})
                    )
                return clients[service]

            world = World(config, client, names)
            world.create_results_table()
            world.create_bus()
            events_queue = world.capture_events(_EVENTS_QUEUE)
            self._load(client("dynamodb"), names.results_table, items)
            yield LocalWorld(config, world, names)
            self._write_items(scan_items(client("dynamodb"), names.results_table))
            self._append_events(client("sqs"), events_queue)

    @staticmethod
    def _load(dynamodb: Any, table: str, items: list[dict[str, Any]]) -> None:
        for start in range(0, len(items), _BATCH):
            requests = [{"PutRequest": {"Item": item}} for item in items[start : start + _BATCH]]
            pending: dict[str, Any] = {table: requests}
            while pending:  # moto processes every request; AWS may hand some back (UnprocessedItems)
                pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    def _append_events(self, sqs: Any, queue_url: str) -> None:
        events: list[dict[str, Any]] = []
        while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
            events.extend(json.loads(message["Body"]) for message in messages)
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
        if events:
            self.dir.mkdir(parents=True, exist_ok=True)
            with (self.dir / EVENTS_FILE).open("a", encoding="utf-8") as out:
                for event in events:
                    out.write(json.dumps(event, sort_keys=True, ensure_ascii=False) + "\n")
