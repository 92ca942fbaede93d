"""A re-run of a finished job, in memory: the job orchestration started again under the same id with the
next run's number, over the real activities (PREPARE_RERUN among them)."""

from __future__ import annotations

import dataclasses
from typing import Any

from batch import wire
from storage.jobs import JobState
from tests.unit.orchestrators.test_job_orchestration import MemoryBatch, job, simulate


def failing_app(tasks: list[dict[str, Any]], failing: set[int], **fields: Any) -> MemoryBatch:
    """`t.hook` tasks whose input is in `failing` fail until the set is emptied."""
    app = MemoryBatch(job(tasks, **fields), partition_size=100)

    def hook(value: Any) -> None:
        if value in failing:
            raise ValueError(f"task {value} fails this run")

    app.hook = hook
    return app


def rerun(app: MemoryBatch, run: int) -> None:
    """What `POST .../rerun` does: record the new run, then start the job's orchestration again."""
    record = dataclasses.replace(app.record(), state=JobState.PENDING, run=run)
    assert app.services.jobs.upsert_job(record)
    app.sim.start(
        wire.JOB_ORCHESTRATOR,
        app.spec.id,
        {"jobId": app.spec.id, "specHash": app.spec.canonical_hash(), "partitionSize": 100, "run": run},
    )
    app.sim.run_with_time()


def test_a_rerun_runs_only_the_failed_and_skipped_tasks_and_reduces_over_every_result() -> None:
    failing = {205, 730}
    tasks: list[dict[str, Any]] = [{"id": f"t{i:04d}", "handler": "t.hook", "input": i} for i in range(1000)]
    # Partition size 100: t0206 depends on a failing task (skipped in run 1), t0207 on one that succeeds.
    tasks[206]["dependsOn"] = {"taskIds": ["t0205"]}
    tasks[207]["dependsOn"] = {"taskIds": ["t0204"]}
    app = failing_app(tasks, failing, reduce={"handler": "t.sum"})
    sim = simulate(app, batch=25)
    sim.run_with_time()
    first = sim.instances["job-1"].output
    assert first["state"] == "failed"
    assert first["taskCounts"]["failed"] == 2 and first["taskCounts"]["skipped"] == 1
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
    assert again == {"t0205", "t0206", "t0730"}
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
