"""A re-run of a finished job, in memory: the job orchestration started again under the same id with the
next run's number, over the real activities (PREPARE_RERUN among them)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest

from durable_batch.batch import wire
from durable_batch.storage.jobs import JobState
from durable_batch.storage.rows import MemoryRows, Operation, Put, Row
from durable_batch.storage.tasks import TaskStore
from tests.support.memory_batch import MemoryBatch, job, simulate

pytestmark = pytest.mark.unit


def failing_app(tasks: list[dict[str, Any]], failing: set[int], **fields: Any) -> MemoryBatch:
    """`t.hook` tasks whose input is in `failing` fail until the set is emptied."""
    app = MemoryBatch(job(tasks, **fields), partition_size=100)

    def hook(value: Any) -> None:
        if value in failing:
            raise ValueError(f"task {value} fails this run")

    app.hook = hook
    return app


def rerun(app: MemoryBatch, run: int, *, partition_size: int = 100) -> None:
    """What `POST .../rerun` does: record the new run, then start the job's orchestration again."""
    record = dataclasses.replace(app.record(), state=JobState.PENDING, run=run)
    assert app.services.jobs.upsert_job(record)
    app.sim.start(
        wire.JOB_ORCHESTRATOR,
        app.spec.id,
        {"jobId": app.spec.id, "specHash": app.spec.canonical_hash(), "partitionSize": partition_size, "run": run},
    )
    app.sim.run_with_time()


def test_a_rerun_runs_only_the_failed_and_skipped_tasks_and_reduces_over_every_result() -> None:
    failing = {205, 208, 730}
    tasks: list[dict[str, Any]] = [{"id": f"t{i:04d}", "handler": "t.hook", "input": i} for i in range(1000)]
    # Partition size 100: t0206 depends on a failing task (skipped in run 1), t0207 on one that succeeds, and
    # t0208, which fails in run 1, too: in run 2 its dependency, succeeded before, counts as satisfied.
    tasks[206]["dependsOn"] = {"taskIds": ["t0205"]}
    tasks[207]["dependsOn"] = {"taskIds": ["t0204"]}
    tasks[208]["dependsOn"] = {"taskIds": ["t0204"]}
    app = failing_app(tasks, failing, reduce={"handler": "t.sum"})
    sim = simulate(app, batch=25)
    sim.run_with_time()
    first = sim.instances["job-1"].output
    assert first["state"] == "failed"
    assert first["taskCounts"]["failed"] == 3 and first["taskCounts"]["skipped"] == 1
    assert app.reduced == 0
    attempts = dict(app.attempts)

    failing.clear()
    rerun(app, 2)
    output = sim.instances["job-1"].output
    assert isinstance(output, dict), output
    assert output["state"] == "succeeded", output["reason"]
    assert output["taskCounts"]["succeeded"] == 1000 and output["taskCounts"]["total"] == 1000
    # Only the two partitions with tasks to run again ran, under ids of run 2.
    partitions = sorted(i for i in sim.instances if ":r2:p" in i)
    assert partitions == ["job-1:r2:p00002", "job-1:r2:p00007"]
    # Succeeded tasks were not run again; the failed and the skipped ones were.
    again = {task_id for task_id, count in app.attempts.items() if count != attempts.get(task_id, 0)}
    assert again == {"t0205", "t0206", "t0208", "t0730"}
    assert app.states() == {"succeeded": 1000}
    # The reduce ran over every result, old and new, each once; the summary is the re-run's.
    assert app.reduced == 1 and output["reduce"]["result"] == sum(range(1000))
    summary = app.services.results.read_summary("job-1")
    assert summary is not None and summary["state"] == "succeeded" and summary["run"] == 2
    record = app.record()
    assert record.state == JobState.SUCCEEDED and record.run == 2 and record.task_counts.succeeded == 1000


def test_a_rerun_that_fails_again_keeps_what_succeeded_and_counts_the_whole_job() -> None:
    failing = {3, 150}
    tasks = [{"id": f"t{i:04d}", "handler": "t.hook", "input": i} for i in range(300)]
    app = failing_app(tasks, failing)
    sim = simulate(app, batch=25)
    sim.run_with_time()
    failing.discard(3)
    rerun(app, 2)
    output = sim.instances["job-1"].output
    assert output["state"] == "failed"
    assert output["taskCounts"] == {
        "total": 300,
        "pending": 0,
        "running": 0,
        "succeeded": 299,
        "failed": 1,
        "skipped": 0,
        "cancelled": 0,
    }
    assert output["failedTasks"] == ["t0150"]
    # A third run starts from the second's records: the one failure is run again, nothing else.
    failing.clear()
    before = dict(app.attempts)
    rerun(app, 3)
    assert sim.instances["job-1"].output["state"] == "succeeded"
    assert {t for t, n in app.attempts.items() if n != before.get(t, 0)} == {"t0150"}
    assert sorted(i for i in sim.instances if ":r3:" in i) == ["job-1:r3:g0000", "job-1:r3:p00001"]


class CountingRows(MemoryRows):
    """Memory rows that note the chunk rows read whole and written."""

    def __init__(self) -> None:
        super().__init__()
        self.read: Counter[str] = Counter()
        self.written: Counter[str] = Counter()

    def get(self, partition: str, key: str) -> Row | None:
        if key.startswith("c"):
            self.read[key] += 1
        return super().get(partition, key)

    def commit(self, partition: str, operations: Sequence[Operation]) -> None:
        for operation in operations:
            if isinstance(operation, Put) and operation.key.startswith("c"):
                self.written[operation.key] += 1
        super().commit(partition, operations)


def test_a_rerun_touches_only_the_chunks_and_partitions_of_the_tasks_it_runs_again() -> None:
    # 6,000 tasks in partitions of 1,000 (two chunks each, 12 in all); failures in two chunks of two partitions.
    failing = {10, 20, 4990}
    tasks = [{"id": f"t{i:05d}", "handler": "t.hook", "input": i} for i in range(6000)]
    app = failing_app(tasks, failing, taskBatchSize=500)
    app.partition_size = 1000
    rows = CountingRows()
    app.services = dataclasses.replace(app.services, _tasks=TaskStore(rows))
    sim = simulate(app, batch=25)
    sim.run_with_time()
    assert sim.instances["job-1"].output["taskCounts"]["failed"] == 3
    failing.clear()
    rows.read.clear()
    rows.written.clear()
    batches: list[Any] = []
    run_batch = sim.activities[wire.RUN_BATCH]

    def recording(request: Any) -> Any:
        batches.append(request)
        return run_batch(request)

    sim.activities[wire.RUN_BATCH] = recording
    rerun(app, 2, partition_size=1000)
    assert sim.instances["job-1"].output["state"] == "succeeded"
    # Only the two partitions with failures ran; the batches held only the three tasks to run again.
    assert sorted(i for i in sim.instances if ":r2:p" in i) == ["job-1:r2:p00000", "job-1:r2:p00004"]
    assert sum(len(app.ids_of(request)) for request in batches) == 3
    assert set().union(*(app.ids_of(request) for request in batches)) == {"t00010", "t00020", "t04990"}
    # Chunks of partitions with nothing to run again are never read whole, nor written.
    touched = {"c000000-0000", "c000000-0001", "c000004-0000", "c000004-0001"}
    assert set(rows.read) <= touched and set(rows.written) <= touched
    assert set(rows.written) == {"c000000-0000", "c000004-0001"}
