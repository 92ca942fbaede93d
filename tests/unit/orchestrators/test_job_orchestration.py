"""The job and partition orchestrators, replayed by the SDK through devhost's pure core, over the real
activities on in-memory stores (`Services.in_memory`). Fast, deterministic, and no storage: the same behaviours
are tested through HTTP against devhost and Azurite in tests/e2e."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from durable_batch.batch import wire
from durable_batch.storage.jobs import JobState
from tests.support.memory_batch import MemoryBatch, job, simulate

pytestmark = pytest.mark.unit


def test_every_task_runs_once_under_the_parallelism_cap() -> None:
    app = MemoryBatch(job([{"id": f"t{i}", "handler": "t.ok", "input": i} for i in range(1000)], maxParallelTasks=40))
    sim = simulate(app, batch=25)
    sim.run_with_time()
    output = sim.instances["job-1"].output
    assert output["state"] == "succeeded"
    assert output["taskCounts"] == {
        "total": 1000,
        "pending": 0,
        "running": 0,
        "succeeded": 1000,
        "failed": 0,
        "skipped": 0,
        "cancelled": 0,
    }
    assert set(app.attempts.values()) == {1}
    assert app.states() == Counter({"succeeded": 1000})
    assert 1 < sim.max_weight <= 40
    # The real finish wrote the final record and the summary; every result is in the job's result blobs.
    record = app.record()
    assert record.state == JobState.SUCCEEDED and record.task_counts.succeeded == 1000 and record.end_time
    summary = app.services.results.read_summary("job-1")
    assert summary is not None and summary["state"] == "succeeded"
    assert sorted(row["result"] for row in app.services.results.iter_results("job-1")) == list(range(1000))


def test_a_flaky_task_is_retried_after_the_interval() -> None:
    tasks = [{"id": "a", "handler": "t.flaky", "input": {"failures": 2}}]
    app = MemoryBatch(job(tasks, maxTaskRetryCount=2, retryIntervalSeconds=30))
    sim = simulate(app)
    sim.run()
    assert app.attempts["a"] == 1  # the retry waits for its interval
    sim.run_with_time()
    assert app.attempts["a"] == 3
    assert app.records["a"]["state"] == "succeeded"
    assert app.records["a"]["attempts"] == 3
    assert sim.instances["job-1"].output["state"] == "succeeded"


def test_a_failed_dependency_skips_its_dependents_and_fails_the_job() -> None:
    tasks: list[dict[str, Any]] = [
        {"id": "a", "handler": "t.fail"},
        {"id": "b", "handler": "t.ok", "dependsOn": ["a"]},
        {"id": "c", "handler": "t.ok", "dependsOn": ["b"]},
        {"id": "d", "handler": "t.ok"},
    ]
    app = MemoryBatch(job(tasks, maxTaskRetryCount=1, retryIntervalSeconds=0))
    sim = simulate(app)
    sim.run_with_time()
    assert app.attempts == Counter({"a": 2, "d": 1})
    assert {k: r["state"] for k, r in app.records.items()} == {
        "a": "failed",
        "b": "skipped",
        "c": "skipped",
        "d": "succeeded",
    }
    assert "a attempt 2" in app.records["a"]["error"]
    output = sim.instances["job-1"].output
    assert output["state"] == "failed"
    assert output["failedTasks"] == ["a"]


@pytest.mark.parametrize(("tolerated", "state"), [(10, "succeeded"), (5, "failed")])
def test_tolerated_failure_percentage(tolerated: float, state: str) -> None:
    tasks = [{"id": f"t{i}", "handler": "t.fail" if i == 0 else "t.ok", "input": i} for i in range(10)]
    app = MemoryBatch(job(tasks, toleratedFailurePercentage=tolerated, reduce={"handler": "t.sum"}))
    sim = simulate(app)
    sim.run_with_time()
    output = sim.instances["job-1"].output
    assert output["state"] == state
    assert output["taskCounts"]["failed"] == 1
    assert app.reduced == (1 if state == "succeeded" else 0)
    assert app.record().state == state
    if state == "succeeded":
        # The real reduce read the results of the nine tasks that succeeded, and stored its output.
        assert output["reduce"]["result"] == sum(range(1, 10))
        assert app.services.results.read_blob("_jobs/job-1/reduce.json") == b"45"


def test_terminate_job_stops_starting_tasks_and_skips_the_rest() -> None:
    tasks = [{"id": f"t{i:03d}", "handler": "t.fail" if i == 3 else "t.ok", "input": i} for i in range(50)]
    app = MemoryBatch(job(tasks, onTaskFailure="terminateJob", maxParallelTasks=2), partition_size=10)
    sim = simulate(app, batch=1)
    sim.run_with_time()
    output = sim.instances["job-1"].output
    assert output["state"] == "failed"
    assert "terminateJob" in output["reason"] or "terminat" in output["reason"]
    counts = output["taskCounts"]
    assert counts["failed"] == 1
    assert counts["succeeded"] + counts["failed"] + counts["skipped"] == 50
    assert counts["skipped"] >= 40  # the later partitions never started a task
    assert app.states()["skipped"] == counts["skipped"]
    assert max(app.attempts.values()) == 1 and len(app.attempts) == counts["succeeded"] + 1


def test_cancel_ends_the_job_cancelled_and_skips_what_never_ran() -> None:
    # Six partitions of 100, two at a time; t005's batch is held, so partition 0 runs until the cancel.
    tasks = [{"id": f"t{i:03d}", "handler": "t.slow" if i == 5 else "t.ok", "input": i} for i in range(600)]
    app = MemoryBatch(job(tasks, maxParallelTasks=64), partition_size=100)
    sim = simulate(app, batch=5, hold=app.holds("t005"))
    sim.run(until=lambda: sum(app.attempts.values()) >= 150)
    sim.raise_event("job-1", wire.CANCEL_EVENT, "cancel")
    sim.run_with_time()
    output = sim.instances["job-1"].output
    assert output["state"] == "cancelled"
    counts = output["taskCounts"]
    assert counts["total"] == 600 and counts["skipped"] > 0
    assert counts["succeeded"] + counts["skipped"] + counts["cancelled"] == 600
    assert counts["failed"] == 0  # a cancel is not a failure
    assert app.states() == Counter({k: v for k, v in counts.items() if k != "total" and v})
    assert app.records["t005"]["state"] == "cancelled"  # it was running when the job was cancelled
    assert app.stops and all(s["reason"] == "cancel" for s in app.stops)
    assert app.reduced == 0
    assert app.record().state == JobState.CANCELLED


def test_wall_clock_limit_fails_the_job() -> None:
    tasks: list[dict[str, Any]] = [
        {"id": "slow", "handler": "t.slow"},
        {"id": "after", "handler": "t.ok", "dependsOn": ["slow"]},
    ]
    app = MemoryBatch(job(tasks, maxWallClockSeconds=60))
    sim = simulate(app, hold=app.holds("slow"))
    sim.run()
    assert sim.instances["job-1"].status == "Running"
    sim.advance(61)
    sim.run_with_time()
    output = sim.instances["job-1"].output
    assert output["state"] == "failed"
    assert "maxWallClockSeconds" in output["reason"] or "wall" in output["reason"].lower()
    assert {k: r["state"] for k, r in app.records.items()} == {"slow": "failed", "after": "skipped"}


def test_partitions_share_the_cap_and_keep_their_histories_bounded() -> None:
    app = MemoryBatch(job([{"id": f"t{i}", "handler": "t.ok", "input": 1} for i in range(2000)], maxParallelTasks=100))
    sim = simulate(app, batch=50)
    sim.run_with_time()
    assert sim.instances["job-1"].output["taskCounts"]["succeeded"] == 2000
    assert sim.max_weight <= 100
    partitions = [i for i in sim.instances.values() if i.name == wire.PARTITION_ORCHESTRATOR]
    assert len(partitions) == 20
    # A partition's history grows with its own tasks, never with the job's.
    assert max(len(p.history) for p in partitions) < 100 * 8
    assert len(sim.instances["job-1"].history) < 20 * 8 + 40
