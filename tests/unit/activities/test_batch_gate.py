"""A batch stops starting tasks once its job's record says disabled, and says so; in memory."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from durable_batch.activities.batches import run_batch
from durable_batch.activities.jobs import prepare_job
from durable_batch.batch import wire
from durable_batch.storage.jobs import JobState
from tests.support.memory_batch import MemoryBatch, job

pytestmark = pytest.mark.unit


def prepared(app: MemoryBatch) -> dict[str, Any]:
    base = {"jobId": "job-1", "specHash": app.spec.canonical_hash(), "partitionSize": 100}
    prepare_job(app.services, app.specs, {**base, "startedAt": "2030-01-01T00:00:00+00:00"})  # type: ignore[typeddict-item]
    return {**base, "partition": 0}


def disable(app: MemoryBatch, mode: str = "wait") -> None:
    record = app.services.jobs.get_job("job-1")
    assert record is not None
    app.services.jobs.upsert_job(dataclasses.replace(record, state=JobState.DISABLED, disable_tasks=mode))


def test_a_batch_starts_no_task_once_its_job_is_disabled() -> None:
    app = MemoryBatch(job([{"id": f"t{i}", "handler": "t.hook", "input": i} for i in range(10)]))
    request = prepared(app)
    calls: list[int] = []

    def disable_at_2(value: Any) -> None:
        calls.append(value)
        if value == 2:
            disable(app)

    app.hook = disable_at_2
    batch: wire.RunBatchInput = {**request, "batch": 0, "tasks": [[0, 10, 1]], "concurrency": 1, "markRunning": True}  # type: ignore[typeddict-item]
    outcome = run_batch(app.services, app.specs, batch, cancel_poll_seconds=0)
    assert calls == [0, 1, 2]
    assert outcome.get("held") is True
    assert sorted(p for p, _ in outcome["other"]) == list(range(3, 10))
    records = app.records
    assert [records[f"t{i}"]["state"] for i in range(10)] == ["succeeded"] * 3 + ["pending"] * 7
    assert {records[f"t{i}"]["attempts"] for i in range(3, 10)} == {0}


@pytest.mark.parametrize("check_first", [True, False])
def test_check_first_reads_the_record_before_the_first_task(check_first: bool) -> None:
    app = MemoryBatch(job([{"id": f"t{i}", "handler": "t.hook", "input": i} for i in range(3)]))
    request = prepared(app)
    disable(app, "requeue")
    batch: wire.RunBatchInput = {**request, "batch": 0, "tasks": [[0, 3, 1]], "concurrency": 1, "markRunning": True}  # type: ignore[typeddict-item]
    if check_first:
        batch["checkFirst"] = True
    # A long poll: without checkFirst the batch looks at the record only once a poll is due, after its tasks.
    outcome = run_batch(app.services, app.specs, batch, cancel_poll_seconds=3600)
    if check_first:
        assert outcome.get("held") is True and sum(app.attempts.values()) == 0
        assert sorted(p for p, _ in outcome["other"]) == [0, 1, 2]
        assert {r["state"] for r in app.records.values()} == {"pending"}
    else:
        assert "held" not in outcome and sum(app.attempts.values()) == 3
