"""A job deleted or cancelled while its orchestration was starting (the submit's record written, its start not
yet made): the orchestration runs nothing, and a deleted job leaves no spec behind."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from durable_batch.storage.jobs import JobState, TaskCounts
from tests.support.memory_batch import MemoryBatch, job, simulate

pytestmark = pytest.mark.unit

TASKS = [{"id": f"t{i}", "handler": "t.ok", "input": i} for i in range(50)]


def test_a_job_deleted_before_its_orchestration_started_runs_nothing_and_leaves_no_spec() -> None:
    app = MemoryBatch(job(TASKS))
    assert app.services.jobs.delete_job("job-1")  # the DELETE's last write, before the submit's start
    sim = simulate(app)
    sim.run_with_time()
    output = sim.instances["job-1"].output
    assert (output["state"], output["reason"]) == ("cancelled", "deleted before it started")
    assert not app.attempts
    assert app.services.jobs.get_job("job-1") is None
    assert app.services.results.read_job_spec("job-1") is None
    assert list(app.services.tasks.iter_tasks("job-1")) == []


def test_a_job_cancelled_before_its_orchestration_started_stays_cancelled_and_runs_nothing() -> None:
    app = MemoryBatch(job(TASKS))
    ended = datetime(2026, 11, 7, 12, 1, tzinfo=UTC)
    cancelled = dataclasses.replace(
        app.record(),
        state=JobState.CANCELLED,
        end_time=ended,
        task_counts=TaskCounts(total=50, skipped=50),
        reason="cancelled before it started",
    )
    assert app.services.jobs.upsert_job(cancelled)
    sim = simulate(app)
    sim.run_with_time()
    output = sim.instances["job-1"].output
    assert (output["state"], output["reason"]) == ("cancelled", "cancelled before it started")
    assert output["taskCounts"]["skipped"] == 50
    assert not app.attempts
    assert app.record().state == JobState.CANCELLED
