"""What a reliability scenario observed, the invariants every scenario must keep (the claims of issue 5),
and the records ``scripts/reliability_report.py`` renders into docs/reliability.md."""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localrun.rehearsal import RunResult
from tests.support.paths import BUILD

RECORDS = Path(os.environ.get("CLP_RELIABILITY_RECORDS", BUILD / "reliability-records.jsonl"))


def record(suite: str, case: str, injected: str, expected: str, observed: str, passed: bool = True) -> None:
    """Append one observed outcome (JSON lines; the report script renders them)."""
    RECORDS.parent.mkdir(parents=True, exist_ok=True)
    line = {
        "suite": suite,
        "case": case,
        "injected": injected,
        "expected": expected,
        "observed": observed,
        "passed": passed,
    }
    with RECORDS.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line, ensure_ascii=False) + "\n")


@dataclass
class Outcome:
    """Everything a scenario left behind, per model: results, events, queues, DLQs, the model and the lock."""

    runs: dict[str, RunResult]
    uploaded: dict[str, list[str]]
    events: Counter[tuple[str, str, str]]
    result_items: Counter[tuple[str, str]]
    dead_letter_bodies: dict[str, list[str]]
    queued: dict[str, int]
    model_status: dict[str, str]
    mapping_enabled: dict[str, bool]
    lock_held: dict[str, bool]
    image_dead_letters: int
    extra: dict[str, Any] = field(default_factory=dict)

    def statuses(self, model: str) -> Counter[str]:
        return Counter(r.status for r in self.runs[model].results)

    def reasons(self, model: str) -> dict[str, str | None]:
        return {r.key: r.reason for r in self.runs[model].results}

    def summary(self) -> str:
        parts = []
        for name, run in self.runs.items():
            counts = Counter(r.status for r in run.results)
            parts.append(
                f"{len(self.uploaded[name])} uploaded: {counts.get('DETECTED', 0)} DETECTED, "
                f"{counts.get('FAILED', 0)} FAILED, {self.queued[name]} queued, "
                f"{len(self.dead_letter_bodies[name])} DLQ; model {self.model_status[name]}, "
                f"{len(run.sessions)} session(s), lock {'held' if self.lock_held[name] else 'released'}, "
                f"max events per object {max(self.events.values(), default=0)}"
            )
        return "; ".join(parts)


def check_invariants(outcome: Outcome, *, expect_complete: bool = True) -> None:
    """The claims of issue 5, for every model of the run."""
    for name, keys in outcome.uploaded.items():
        run = outcome.runs[name]
        results = {r.key for r in run.results}
        # nothing vanishes: every uploaded object has a result, or is still queued, or is dead-lettered
        missing = [k for k in keys if k not in results]
        if missing:
            assert outcome.queued[name] + len(outcome.dead_letter_bodies[name]) >= len(set(missing)), missing[:5]
        if expect_complete:
            assert run.completed and not missing, f"{name}: {len(missing)} without a result"
        # the model is never left running, the mapping is off, the lock is released
        assert outcome.model_status[name] in ("STOPPED", "FAILED"), outcome.model_status[name]
        assert not outcome.mapping_enabled[name]
        assert not outcome.lock_held[name]
    # at most one result and one result event per object version x model version
    assert all(count == 1 for count in outcome.result_items.values())
    duplicates = {k: n for k, n in outcome.events.items() if n > 1}
    assert not duplicates, duplicates
    # no image dead-lettered (so none because the model was not running): S3 events never reach a DLQ
    assert outcome.image_dead_letters == 0
