"""Command tasks hand their records back to the partition once one has been measured short, as short handler
tasks do (`tests/unit/orchestrators/test_handed_back_records.py`); a partition started before version 3 records
every command running."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from durable_batch.batch import wire
from tests.support.memory_batch import RecordingBatch, job, simulate

pytestmark = pytest.mark.process


def command_job(version: int, monkeypatch: pytest.MonkeyPatch) -> tuple[RecordingBatch, dict[str, Any]]:
    monkeypatch.setattr(wire, "PARTITION_VERSION", version)
    tasks: list[dict[str, Any]] = [{"id": f"c{i:02d}", "commandLine": ["true"]} for i in range(12)]
    tasks.append({"id": "fails", "commandLine": ["false"], "maxRetryCount": 0})
    app = RecordingBatch(job(tasks, maxParallelTasks=3), partition_size=100, commands=True)
    simulate(app, batch=2).run_with_time()
    output: dict[str, Any] = app.sim.instances["job-1"].output
    assert output["taskCounts"]["succeeded"] == 12 and output["taskCounts"]["failed"] == 1
    assert Counter(r["state"] for r in app.records.values()) == Counter({"succeeded": 12, "failed": 1})
    return app, output


def test_short_commands_hand_their_records_back_once_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    app, _ = command_job(3, monkeypatch)
    batches = app.requests[wire.RUN_BATCH]
    # The first commands are recorded running (a command may run for hours); once one has been measured short,
    # the rest hand their records back, as short handler tasks do.
    assert batches[0]["markRunning"] and not batches[0].get("handBack")
    later = [b for b in batches if not b["markRunning"]]
    assert later and all(b.get("handBack") for b in later)
    handed = {task["position"] for r in app.requests[wire.SETTLE_TASKS] for task in r.get("handedBack", ())}
    assert handed == {first for b in later for first, _, _ in b["tasks"]}
    failed = app.services.tasks.get_task("job-1", "fails")
    assert failed is not None and failed.error is not None and "exit code 1" in failed.error


def test_a_partition_started_before_version_3_records_every_command_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, _ = command_job(2, monkeypatch)
    assert all(b["markRunning"] and not b.get("handBack") for b in app.requests[wire.RUN_BATCH])


def test_later_partitions_start_from_the_command_time_earlier_ones_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wire, "PARTITION_VERSION", 3)
    tasks: list[dict[str, Any]] = [{"id": f"c{i:02d}", "commandLine": ["true"]} for i in range(30)]
    app = RecordingBatch(job(tasks, maxParallelTasks=3), partition_size=10, commands=True)
    simulate(app, batch=2).run_with_time()
    assert Counter(r["state"] for r in app.records.values()) == Counter({"succeeded": 30})
    batches = app.requests[wire.RUN_BATCH]
    marked = Counter(b["partition"] for b in batches if b["markRunning"])
    # The first partition records its first commands running until it has measured one; with one partition
    # at a time (a cap of 3), each later one is told what the earlier measured and records none of them.
    assert marked[0] >= 1 and set(marked) == {0}
    inputs = [json.loads(i.input_value) for i in app.sim.instances.values() if i.name == wire.PARTITION_ORCHESTRATOR]
    inputs.sort(key=lambda request: request["partition"])
    assert "commandMs" not in inputs[0] and inputs[1]["commandMs"] >= 0 and inputs[2]["commandMs"] >= 0
