"""``localrun/state.py``: an offline world saved to disk and loaded into a fresh moto world, the table created as
the runtime creates it, written back when the block succeeds."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from infra import constants
from infra.config import load_config
from localrun.resources import results_table_definition
from localrun.state import LocalState, StateError
from localrun.world import Names, World

CONFIG = load_config()
REGION = CONFIG.models[0].region


def _item(key: str, review: str | None = None) -> dict[str, dict[str, str]]:
    item = {"pk": {"S": f"OBJ#clp-uploads-local/{key}"}, "sk": {"S": "RESULT#arn#v1"}, "status": {"S": "DETECTED"}}
    if review:
        item["review"] = {"S": review}
    return item


def _saved(root: Path, items: list[dict[str, dict[str, str]]]) -> LocalState:
    """A state saved from a live moto world holding ``items`` (as ``clp demo`` saves its runtime's)."""
    images = root / "dataset" / "images"
    images.mkdir(parents=True)
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        World(CONFIG, lambda service: boto3.client(service, region_name=REGION)).create_results_table()
        for item in items:
            client.put_item(TableName=Names.results_table, Item=item)
        state = LocalState(root)
        assert state.save(client, CONFIG, images_dir=images, manifest=None, table=Names.results_table) == len(items)
    return state


def test_a_saved_world_comes_back_with_the_runtime_table_and_is_written_back(tmp_path: Path) -> None:
    # Given a saved world of 30 items (more than one BatchWriteItem)
    items = [_item(f"k{i:02d}.jpg", "PENDING" if i % 3 == 0 else None) for i in range(30)]
    state = _saved(tmp_path, items)
    assert json.loads((state.dir / "results.jsonl").read_text().splitlines()[0]) == items[0]  # DynamoDB JSON

    # When it is loaded and one item changes
    with state.world() as world:
        dynamodb = world.client("dynamodb")
        table = dynamodb.describe_table(TableName=world.names.results_table)["Table"]
        loaded = dynamodb.scan(TableName=world.names.results_table)["Items"]
        dynamodb.update_item(
            TableName=world.names.results_table,
            Key={"pk": items[0]["pk"], "sk": items[0]["sk"]},
            UpdateExpression="SET review = :r",
            ExpressionAttributeValues={":r": {"S": "REVIEWED"}},
        )
        world.client("events").put_events(
            Entries=[
                {
                    "Source": constants.EVENT_SOURCE,
                    "DetailType": "Custom Labels Reviewed",
                    "Detail": json.dumps({"result_id": "r"}),
                    "EventBusName": world.names.bus,
                }
            ]
        )

    # Then the table had the runtime's definition (indexes included) and every item, and the change is on disk
    definition = results_table_definition(Names.results_table)
    assert table["KeySchema"] == definition["KeySchema"]
    assert sorted(i["IndexName"] for i in table["GlobalSecondaryIndexes"]) == sorted(
        i["IndexName"] for i in definition["GlobalSecondaryIndexes"]
    )
    assert len(loaded) == 30
    reviews = [item.get("review", {}).get("S") for item in state.items()]
    assert reviews[0] == "REVIEWED"
    assert reviews.count("PENDING") == 9
    # and what was published on the bus is in events.jsonl
    (event,) = state.events()
    assert event["detail-type"] == "Custom Labels Reviewed"
    assert event["detail"] == {"result_id": "r"}


def test_a_failed_block_leaves_the_saved_world_as_it_was(tmp_path: Path) -> None:
    state = _saved(tmp_path, [_item("a.jpg", "PENDING")])
    before = (state.dir / "results.jsonl").read_bytes()
    with pytest.raises(RuntimeError, match="boom"), state.world() as world:
        world.client("dynamodb").delete_item(
            TableName=world.names.results_table, Key={"pk": _item("a.jpg")["pk"], "sk": _item("a.jpg")["sk"]}
        )
        raise RuntimeError("boom")
    assert (state.dir / "results.jsonl").read_bytes() == before


def test_the_config_and_sources_round_trip(tmp_path: Path) -> None:
    state = _saved(tmp_path, [])
    assert state.config() == CONFIG
    assert state.images_dir == (tmp_path / "dataset" / "images").resolve()
    assert state.manifest is None


def test_no_saved_world_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(StateError, match=r"no saved offline run .* run `clp demo --output"):
        LocalState(tmp_path).config()
