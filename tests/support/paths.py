"""Folders of the repository the tests read from and write to."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"  # real sample events (S3 in SQS, EventBridge)
EVENT_SCHEMAS = ROOT / "docs" / "events"  # JSON Schemas of the result events the pipeline publishes
BUILD = ROOT / "build"
